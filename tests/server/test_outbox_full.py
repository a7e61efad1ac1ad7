"""A full disk under the outbox: an answer that cannot be recorded is not given (503), further
chat requests are refused before any model call, every failed write is counted, and chat comes
back by itself once the outbox takes writes again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from tests.support.clock import FakeClock
from twinself.config.settings import Settings
from twinself.monitoring.metrics import TwinMetrics
from twinself.pipeline.outbox import Outbox
from twinself.pipeline.outbox_writes import OUTBOX_UNWRITABLE, OutboxWriteGate
from twinself.pipeline.request_queue import RequestQueue
from twinself.server.app import create_app
from twinself.server.services import ServerServices, build_services
from twinself.twin.factory import TwinRuntime

ASK = {"session_id": "s", "message": "Where do you work?"}


class Server:
    def __init__(self, settings: Settings, runtime: TwinRuntime) -> None:
        self.outbox = Outbox(settings.home / "outbox.sqlite3")
        self.clock = FakeClock()
        self.metrics = TwinMetrics(CollectorRegistry())
        gate = OutboxWriteGate(5.0, self.clock, self.metrics.outbox_write_errors.inc)

        def services(s: Settings) -> ServerServices:
            return build_services(s, runtime, self.metrics, self.outbox, gate)

        self.client = TestClient(create_app(settings, services))

    def sample(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return value or 0.0

    def model_calls(self) -> float:
        return self.sample(
            "gen_ai_client_operation_duration_seconds_count",
            gen_ai_operation_name="chat",
            gen_ai_provider_name="offline",
            gen_ai_request_model="extractive",
            error_type="",
        )


@pytest.fixture
def server(built_runtime: TwinRuntime, server_settings: Settings) -> Iterator[Server]:
    running = Server(server_settings.model_copy(update={"rate_limit": ""}), built_runtime)
    with running.client:
        yield running
    running.outbox.close()


def test_a_full_outbox_stops_answers_until_it_takes_writes_again(server: Server) -> None:
    client, outbox = server.client, server.outbox
    assert client.post("/chat", json=ASK).status_code == 200
    # The database may not grow any more: the next record does not fit, as on a full disk.
    outbox.max_pages = int(outbox.connection().execute("PRAGMA page_count").fetchone()[0])

    lost = client.post("/chat", json=ASK)
    calls = server.model_calls()
    refused = [client.post(path, json=ASK) for path in ("/chat", "/chat/stream")]

    assert lost.status_code == 503 and lost.json()["detail"] == OUTBOX_UNWRITABLE
    for response in refused:
        assert response.status_code == 503, (response.request.url, response.text[:300])
        assert response.headers["retry-after"] == "30"
    assert server.model_calls() == calls, "a refused request must not reach the model"
    # Each refusal is recorded when its small record still fits, else counted as lost.
    errors = server.sample("twinself_outbox_write_errors_total")
    recorded = {p.record.request_id for p in RequestQueue(outbox).due(100)}
    refusals_recorded = sum(r.json()["request_id"] in recorded for r in refused)
    assert errors >= 1 and refusals_recorded + (errors - 1) == len(refused)
    assert client.get("/health").status_code == 200  # the rest of the server still works

    outbox.max_pages = 1 << 30  # space again
    still_waiting = client.post("/chat", json=ASK)  # refused: the gate waits for its probe
    server.clock.advance(6)
    back = client.post("/chat", json=ASK)

    assert still_waiting.status_code == 503
    assert back.status_code == 200
    recorded = {p.record.request_id for p in RequestQueue(outbox).due(100)}
    assert back.json()["request_id"] in recorded
    assert lost.json()["request_id"] not in recorded


def test_a_stream_that_cannot_be_recorded_ends_with_an_error_event(server: Server) -> None:
    client, outbox = server.client, server.outbox
    outbox.max_pages = int(outbox.connection().execute("PRAGMA page_count").fetchone()[0])
    with client.stream("POST", "/chat/stream", json=ASK) as response:
        body = "".join(response.iter_text())
    assert response.status_code == 200  # the text was on its way before the record failed
    assert "event: error" in body and OUTBOX_UNWRITABLE in body
    assert "event: metadata" not in body

"""Provider failures and client disconnects, through the real google-genai client and uvicorn."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests.fakes.gemini_server import FakeGeminiServer, gemini_error
from tests.fakes.scripted_server import RecordedRequest, Reply
from tests.support.factories import ClientFactory
from tests.support.network import free_port
from tests.support.waiting import wait_until
from twinself.config.settings import Settings
from twinself.pipeline.request_queue import RequestQueue
from twinself.server.app import create_app
from twinself.server.http_errors import MODEL_REFUSED, MODEL_UNAVAILABLE
from twinself.server.services import ServerServices, build_services
from twinself.twin.factory import TwinRuntime

KEY = "AIza-server-test-key-never-shown"


class SlowStreamingGemini(FakeGeminiServer):
    """Streams its answer in many pieces, a little apart, like a real model."""

    def normal_reply(self, request: RecordedRequest) -> Reply:
        reply = super().normal_reply(request)

        def slowly(pieces: Iterable[bytes]) -> Iterator[bytes]:
            for piece in pieces:
                # The provider is slow on purpose: the client leaves while the answer is
                # still coming, which is what the disconnect test is about.
                time.sleep(0.2)
                yield piece

        return Reply(reply.status, slowly(reply.pieces), reply.headers, reply.content_type)


def gemini_settings(server_settings: Settings, base_url: str) -> dict[str, object]:
    return {
        "llm_provider": "gemini",
        "google_api_key": SecretStr(KEY),
        "gemini_base_url": base_url,
        "llm_max_retries": 1,
        "llm_retry_base_seconds": 0.01,
    }


def test_quota_exhausted_is_503_with_retry_after_and_no_key(
    make_client: ClientFactory, server_settings: Settings, request_queue: RequestQueue
) -> None:
    with FakeGeminiServer(api_key=KEY) as gemini:
        gemini.plan(
            429,
            gemini_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded"),
            headers={"Retry-After": "7"},
            times=5,
        )
        client = make_client(**gemini_settings(server_settings, gemini.base_url))
        response = client.post("/chat", json={"session_id": "s", "message": "Where do you work?"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "8"
    assert KEY not in response.text
    [pending] = request_queue.due(10)
    assert pending.record.tags["error_type"] == "ProviderQuotaExceeded"
    assert pending.record.http_status == 503


def test_provider_auth_failure_is_502_without_a_trace(
    make_client: ClientFactory, server_settings: Settings, request_queue: RequestQueue
) -> None:
    with FakeGeminiServer(api_key="another-key") as gemini:
        client = make_client(**gemini_settings(server_settings, gemini.base_url))
        response = client.post("/chat", json={"session_id": "s", "message": "Hi"})
    assert response.status_code == 502
    assert response.json()["detail"] == MODEL_REFUSED
    assert KEY not in response.text and "Traceback" not in response.text
    # How to fix it is the owner's business: it is in the run, not in the response.
    [pending] = request_queue.due(10)
    assert "GOOGLE_API_KEY" in pending.record.tags["error_message"]
    assert pending.record.tags["error_type"] == "ProviderAuthError"


UPSTREAM_TEXT = "backend gke-pool-7f3 at 10.20.30.40 overloaded"


def test_upstream_error_text_reaches_the_log_and_the_run_but_not_the_client(
    make_client: ClientFactory,
    server_settings: Settings,
    request_queue: RequestQueue,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with FakeGeminiServer(api_key=KEY) as gemini:
        gemini.plan(503, gemini_error(503, "UNAVAILABLE", UPSTREAM_TEXT), times=10)
        client = make_client(**gemini_settings(server_settings, gemini.base_url))
        with caplog.at_level(logging.WARNING, logger="twinself.server"):
            plain = client.post("/chat", json={"session_id": "s", "message": "Hi"})
            streamed = client.post("/chat/stream", json={"session_id": "s", "message": "Hi"})

    for response in (plain, streamed):
        assert response.status_code == 503
        assert response.json()["detail"] == MODEL_UNAVAILABLE
        assert "10.20.30.40" not in response.text and "Gemini" not in response.text
    server_log = [r.getMessage() for r in caplog.records if r.name.startswith("twinself.server")]
    assert sum(UPSTREAM_TEXT in line for line in server_log) == 2
    records = [p.record for p in request_queue.due(10)]
    assert len(records) == 2
    assert all(UPSTREAM_TEXT in r.tags["error_message"] for r in records)
    assert {r.tags["error_type"] for r in records} == {"ProviderUnavailable"}


@pytest.fixture
def live_server(
    built_runtime: TwinRuntime, server_settings: Settings
) -> Iterator[tuple[str, SlowStreamingGemini]]:
    with SlowStreamingGemini(
        " ".join(f"word{i}" for i in range(40)), stream_pieces=20, api_key=KEY
    ) as gemini:
        settings = server_settings.model_copy(
            update=gemini_settings(server_settings, gemini.base_url)
        )

        def services(s: Settings) -> ServerServices:
            return build_services(s, runtime=built_runtime)

        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings, services), port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        wait_until(lambda: server.started, 30, "uvicorn to start")
        yield f"http://127.0.0.1:{port}", gemini
        server.should_exit = True
        thread.join(10)


def test_client_disconnect_mid_stream_is_recorded_with_what_was_sent(
    live_server: tuple[str, SlowStreamingGemini], request_queue: RequestQueue
) -> None:
    url, _ = live_server
    received = []
    with httpx.stream(
        "POST",
        f"{url}/chat/stream",
        json={"session_id": "s", "message": "Tell me a story"},
        timeout=30,
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: "):
                received.append(line)
            if len(received) == 2:
                break  # leave mid-answer
    # The server records the cut request once it notices the client is gone.
    wait_until(lambda: request_queue.due(10), 15, "the disconnected request's record")
    [pending] = request_queue.due(10)
    record = pending.record
    assert record.status == "client_disconnected"
    assert record.tags["status"] == "client_disconnected" and record.http_status == 499
    assert record.response.startswith("word0")
    assert len(record.response.split()) < 40  # only what was produced before the cut
    assert record.tags["tokens_estimated"] == "true"


class BreaksMidStreamGemini(FakeGeminiServer):
    """Sends two good chunks, then garbage: the model's stream breaks after text went out."""

    def normal_reply(self, request: RecordedRequest) -> Reply:
        reply = super().normal_reply(request)
        if not request.is_stream:
            return reply
        good = list(reply.pieces)[:2]
        return Reply(200, [*good, b"data: {not json\n\n"], {}, reply.content_type)


def test_stream_that_breaks_midway_ends_with_an_error_event(
    make_client: ClientFactory, server_settings: Settings, request_queue: RequestQueue
) -> None:
    with BreaksMidStreamGemini("one two three four five six seven eight", api_key=KEY) as gemini:
        client = make_client(**gemini_settings(server_settings, gemini.base_url))
        response = client.post("/chat/stream", json={"session_id": "s", "message": "Hi there"})
    assert response.status_code == 200
    events = [e for e in response.text.split("\n\n") if e]
    assert events[0].startswith("data: one")
    assert events[-2].startswith("event: error\ndata: ")
    assert events[-1] == "data: [DONE]"
    assert KEY not in response.text and "Gemini" not in response.text
    [pending] = request_queue.due(10)
    assert pending.record.status == "error" and pending.record.response.startswith("one")


def test_stream_that_cannot_open_is_a_plain_error_status(
    make_client: ClientFactory, server_settings: Settings
) -> None:
    with FakeGeminiServer(api_key=KEY) as gemini:
        gemini.plan(500, gemini_error(500, "INTERNAL", "boom"), times=5)
        client: TestClient = make_client(**gemini_settings(server_settings, gemini.base_url))
        response = client.post("/chat/stream", json={"session_id": "s", "message": "Hi there"})
    # Opening the stream failed before any text: a plain error status, not a broken stream.
    assert response.status_code == 503
    assert KEY not in response.text

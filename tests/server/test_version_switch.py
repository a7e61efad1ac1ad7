"""A rollback while the server is under traffic: no failed request, answers switch within
seconds, and every run records the version that answered it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests.support.factories import SettingsFactory
from tests.support.memory_data import add_bees, answered_versions
from tests.support.waiting import wait_until
from twinself.embedding.sentence_transformer import SentenceTransformerEmbedder
from twinself.memory.version_builder import create_version
from twinself.memory.version_lifecycle import activate_version
from twinself.server.app import create_app
from twinself.server.services import ServerServices, build_services
from twinself.twin.factory import TwinRuntime

QUESTION = {"session_id": "traffic", "message": "Do you keep bees?"}


@pytest.mark.slow
def test_rollback_under_traffic_switches_without_a_failed_request(
    make_settings: SettingsFactory, data_dir: Path, embedder: SentenceTransformerEmbedder
) -> None:
    settings = make_settings(llm_provider="offline", eval_judge="none", admin_key=SecretStr("o"))
    v1 = create_version(settings, embedder).version.id
    add_bees(data_dir)
    v2 = create_version(settings, embedder).version.id
    lent = TwinRuntime.open(settings, embedder)

    def services(s: object) -> ServerServices:
        return build_services(settings, runtime=lent)

    results: list[tuple[int, str, float]] = []
    stop = threading.Event()
    try:
        with TestClient(create_app(settings, services)) as client:
            assert client.get("/health").json()["data_version"] == v2

            def traffic() -> None:
                while not stop.is_set():
                    response = client.post("/chat", json=QUESTION)
                    body = response.json()
                    results.append(
                        (response.status_code, body.get("request_id", ""), time.monotonic())
                    )

            def serving(version: str) -> bool:
                return bool(client.get("/health").json()["data_version"] == version)

            worker = threading.Thread(target=traffic)
            worker.start()
            wait_until(lambda: len(results) >= 10, 60, "traffic on v2")
            activate_version(settings, v1)
            switched_at = time.monotonic()
            wait_until(lambda: serving(v1), 15, "the server to switch to v1")
            seen_switch = time.monotonic() - switched_at
            answered_before = len(results)
            wait_until(lambda: len(results) >= answered_before + 10, 60, "traffic on v1")
            stop.set()
            worker.join()
            final = client.post("/chat", json=QUESTION).json()
            # And forward again while v2's store is still open (grace period): it is reused,
            # not opened a second time (the embedded store's lock would refuse that).
            # (This time through the owner's admin route.)
            admin = {"X-API-Key": "o"}
            forward_call = client.post(f"/admin/versions/{v2}/activate", headers=admin)
            assert forward_call.json() == {"active": v2, "data_only": False}
            wait_until(lambda: serving(v2), 15, "the server to switch back to v2")
            forward = client.post("/chat", json=QUESTION).json()
    finally:
        stop.set()
        lent.close()

    assert results and all(status == 200 for status, _, _ in results)
    print(f"\n{len(results)} requests, switch seen after {seen_switch:.2f}s")
    assert seen_switch < 5.0, seen_switch
    assert "beehives" not in final["response"]
    assert "beehives" in forward["response"]
    versions = answered_versions(settings.home)
    recorded = [versions[request_id] for _, request_id, _ in results]
    assert {v for v, _ in recorded} == {v1, v2}
    # The version on each run is the one whose facts answered it.
    assert all(knows_bees == (version == v2) for version, knows_bees in recorded)

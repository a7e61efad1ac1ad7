"""A real `twinself serve` process under traffic while `twinself rebuild` builds a new version
and `twinself versions rollback` goes back, each its own process: no request fails, the server
follows both within seconds, and every request records the version whose facts answered it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.qdrant_rest import QdrantRestServer
from tests.support.memory_data import add_bees, answered_versions
from tests.support.network import free_port
from tests.support.waiting import answers, wait_until
from twinself.memory.versions import VersionRegistry

pytestmark = pytest.mark.slow

TWINSELF = [sys.executable, "-m", "twinself.cli"]
QUESTION = {"session_id": "traffic", "message": "Do you keep bees?"}


@contextlib.contextmanager
def qdrant_for(kind: str) -> Iterator[dict[str, str]]:
    if kind == "embedded":
        yield {}
        return
    with QdrantRestServer() as server:
        yield {"QDRANT_URL": server.url}


def wait_for_version(api: str, version: str, timeout: float = 15) -> float:
    """Seconds until /health names `version`."""
    started = time.monotonic()
    wait_until(
        lambda: httpx.get(f"{api}/health", timeout=5).json()["data_version"] == version,
        timeout,
        f"the server to switch to {version}",
    )
    return time.monotonic() - started


@pytest.mark.parametrize("store", ["embedded", "qdrant-server"])
def test_serve_follows_a_build_and_a_rollback_under_traffic(
    store: str, tmp_path: Path, data_dir: Path
) -> None:
    home = tmp_path / "home"
    api_port = free_port()
    api = f"http://127.0.0.1:{api_port}"
    with qdrant_for(store) as qdrant_env:
        env = {
            **os.environ,
            **qdrant_env,
            "TWINSELF_HOME": str(home),
            "TWINSELF_DATA_DIR": str(data_dir),
            "TWINSELF_LLM_PROVIDER": "offline",
            "TWINSELF_PORT": str(api_port),
            "EVAL_JUDGE": "none",
            "TWINSELF_RATE_LIMIT": "",  # a traffic loop from one address, on purpose
        }

        def twinself(*args: str) -> None:
            subprocess.run(
                [*TWINSELF, *args], env=env, check=True, capture_output=True, timeout=300
            )

        twinself("rebuild", "--create-version")
        v1 = VersionRegistry(home).load().active
        assert v1 is not None
        log = (tmp_path / "server.log").open("wb")
        serve = subprocess.Popen(
            [*TWINSELF, "serve", "--no-worker"], env=env, stdout=log, stderr=log
        )
        results: list[tuple[int, str]] = []
        stop = threading.Event()

        def traffic() -> None:
            with httpx.Client(timeout=30) as client:
                while not stop.is_set():
                    response = client.post(f"{api}/chat", json=QUESTION)
                    results.append((response.status_code, response.json().get("request_id", "")))

        sender = threading.Thread(target=traffic)

        def more_traffic(what: str) -> None:
            """A few more answers, from the version just switched to."""
            sent = len(results)
            wait_until(lambda: len(results) >= sent + 5, 60, what)

        try:
            wait_until(lambda: answers(f"{api}/health"), 120, "the chat API")
            sender.start()
            add_bees(data_dir)
            twinself("rebuild")  # versions exist, so this builds v2 beside v1 and activates it
            v2 = VersionRegistry(home).load().active
            assert v2 is not None and v2 != v1
            to_v2 = wait_for_version(api, v2)
            more_traffic("answers from v2")
            twinself("versions", "rollback", v1)
            to_v1 = wait_for_version(api, v1)
            more_traffic("answers from v1 again")
        finally:
            stop.set()
            if sender.is_alive():
                sender.join(60)
            serve.send_signal(signal.SIGTERM)
            serve.wait(60)
            log.close()

    print(f"\n{store}: {len(results)} requests; switch seen {to_v2:.2f}s / {to_v1:.2f}s later")
    assert len(results) > 10
    assert all(status == 200 for status, _ in results), (tmp_path / "server.log").read_text()
    answered = answered_versions(home)
    recorded = [answered[request_id] for _, request_id in results]
    # v1 before the build, v2 after it, v1 again after the rollback.
    assert {version for version, _ in recorded} == {v1, v2}
    assert all(knows_bees == (version == v2) for version, knows_bees in recorded)

"""`twinself serve --workers N`: N uvicorn worker processes over one Qdrant server, and a
GET /metrics that, whichever worker answers it, counts every request exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.fakes.qdrant_rest import QdrantRestServer
from tests.support.network import free_port
from tests.support.waiting import answers, wait_until

TWINSELF = [sys.executable, "-m", "twinself.cli"]
QUESTION = {"session_id": "w", "message": "Where do you work?"}
CHAT = {"endpoint": "/chat"}


def scrape(api: str) -> list[Sample]:
    # A fresh connection each time: the kernel hands it to either worker.
    text = httpx.get(f"{api}/metrics", timeout=30, headers={"Connection": "close"}).text
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def total(samples: list[Sample], name: str, **labels: str) -> float:
    return sum(
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def chats_per_process(directory: Path) -> dict[str, float]:
    """Each worker's own count of /chat requests, from its own counter file."""
    counts = {}
    for path in directory.glob("counter_*.db"):
        merged = MultiProcessCollector.merge([str(path)])  # type: ignore[no-untyped-call]
        samples = [s for family in merged for s in family.samples]
        counts[path.stem.removeprefix("counter_")] = total(
            samples, "twinself_http_requests_total", **CHAT
        )
    return counts


def ask(api: str) -> None:
    response = httpx.post(f"{api}/chat", json=QUESTION, timeout=60, headers={"Connection": "close"})
    assert response.status_code == 200, response.text


@pytest.fixture
def qdrant() -> Iterator[QdrantRestServer]:
    with QdrantRestServer() as server:
        yield server


@pytest.mark.slow
def test_two_workers_count_every_request_once_whichever_answers_the_scrape(
    tmp_path: Path, data_dir: Path, qdrant: QdrantRestServer
) -> None:
    home, api_port = tmp_path / "home", free_port()
    api = f"http://127.0.0.1:{api_port}"
    env = {
        **os.environ,
        "QDRANT_URL": qdrant.url,
        "TWINSELF_HOME": str(home),
        "TWINSELF_DATA_DIR": str(data_dir),
        "TWINSELF_LLM_PROVIDER": "offline",
        "TWINSELF_PORT": str(api_port),
        "EVAL_JUDGE": "none",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    subprocess.run([*TWINSELF, "rebuild"], env=env, check=True, capture_output=True, timeout=300)
    # A file left by an earlier run would add to the counts: serve empties the directory.
    metrics_dir = home / "prometheus-multiproc"
    metrics_dir.mkdir(parents=True)
    (metrics_dir / "counter_999999.db").write_bytes(b"stale")
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        serve = subprocess.Popen(
            [*TWINSELF, "serve", "--workers", "2", "--no-worker"], env=env, stdout=log, stderr=log
        )
    try:
        wait_until(lambda: answers(f"{api}/health"), 120, "the chat API")
        # Concurrent requests on fresh connections, until both workers have answered some
        # (the kernel decides who accepts a connection); never more than 48.
        sent = 0
        with ThreadPoolExecutor(max_workers=6) as pool:
            while sent < 48:
                list(pool.map(lambda _: ask(api), range(12)))
                sent += 12
                per_process = chats_per_process(metrics_dir)
                if sum(1 for count in per_process.values() if count > 0) >= 2:
                    break
        # A request is counted as its response ends: the last may land just after the client
        # has it. Then the count must be exact, never more.
        wait_until(lambda: sum(chats_per_process(metrics_dir).values()) >= sent, 10, "every count")
        per_process = chats_per_process(metrics_dir)
        assert len(per_process) == 2, per_process  # the two workers', the stale file gone
        assert all(count > 0 for count in per_process.values()), per_process
        assert sum(per_process.values()) == sent

        for _ in range(8):  # answered by one worker or the other
            found = scrape(api)
            assert total(found, "twinself_http_requests_total", **CHAT) == sent
            assert total(found, "twinself_http_request_duration_seconds_count", **CHAT) == sent
            chat_calls = {"gen_ai_operation_name": "chat", "error_type": ""}
            assert (
                total(found, "gen_ai_client_operation_duration_seconds_count", **chat_calls) == sent
            )
            # Scrape-time values once, not once per worker; the budget not multiplied.
            for name in ("twinself_build_info", "twinself_daily_budget_usd"):
                assert sum(1 for s in found if s.name == name) == 1, name
            [build] = [s for s in found if s.name == "twinself_build_info"]
            assert build.value == 1 and build.labels["provider"] == "offline"
            records = [s for s in found if s.name == "twinself_outbox_backlog"]
            assert sorted(s.labels["queue"] for s in records) == [
                "evaluations",
                "feedback",
                "records",
            ]
            # No shipper runs (--no-worker): every request's record waits in the outbox.
            assert total(found, "twinself_outbox_backlog", queue="records") == sent

        # OpenMetrics works too; multiprocess mode keeps no exemplars.
        open_metrics = httpx.get(
            f"{api}/metrics", headers={"Accept": "application/openmetrics-text"}, timeout=30
        )
        assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
        assert 'twinself_http_requests_total{endpoint="/chat"' in open_metrics.text
        assert "trace_id" not in open_metrics.text
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(60)
    output = log_path.read_text()
    assert "Storage folder" not in output
    assert f"chat API {api} (docs {api}/docs, 2 worker processes)" in output


def test_several_workers_without_a_qdrant_server_are_refused_before_anything_starts(
    tmp_path: Path, data_dir: Path
) -> None:
    home, api_port = tmp_path / "home", free_port()
    env = {
        **os.environ,
        "TWINSELF_HOME": str(home),
        "TWINSELF_DATA_DIR": str(data_dir),
        "TWINSELF_LLM_PROVIDER": "offline",
        "TWINSELF_PORT": str(api_port),
    }
    env.pop("QDRANT_URL", None)
    for how, extra in (("--workers", {}), ("TWINSELF_API_WORKERS", {"TWINSELF_API_WORKERS": "3"})):
        args = ["--workers", "2"] if how == "--workers" else []
        done = subprocess.run(
            [*TWINSELF, "serve", *args],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1, done.stderr
        message = " ".join(done.stderr.split())
        assert "need a Qdrant server" in message, message
        assert "Set QDRANT_URL" in message and "--workers 1" in message, message
        assert "twinself is starting" not in message
        assert not answers(f"http://127.0.0.1:{api_port}/health")
        assert not (home / "prometheus-multiproc").exists()

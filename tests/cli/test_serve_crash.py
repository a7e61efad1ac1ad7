"""kill -9 of `twinself serve --workers 2 --mlflow-ui` itself, under traffic: every process it
started stops with it (two API workers, the shipper, the evaluator, the MLflow server), nothing
holds a worker lock or a port, a restarted serve on the same home works, and every request
that got a complete answer ends as one MLflow run with its evaluation."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.fakes.qdrant_rest import QdrantRestServer
from tests.support.mlflow_process import runs_of
from tests.support.network import free_port
from tests.support.waiting import answers, wait_until
from twinself.pipeline.worker_lock import single_worker_lock

pytestmark = pytest.mark.slow

TWINSELF = [sys.executable, "-m", "twinself.cli"]
EXPERIMENT = "serve-crash"
QUESTIONS = ("Where do you work?", "Where did you study?", "What do you do at work?")
# The rest of the sample persona only makes the build slower; these answer the questions.
KEPT_FACTS = {"about_me.md", "career.md", "education.md"}


class Traffic:
    """A few clients, each asking in turn on /chat and /chat/stream until stopped; keeps the
    request_id of every complete answer and anything else a live server should not say."""

    def __init__(self, api: str, clients: int = 4) -> None:
        self._api = api
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.answered: list[str] = []
        self.unexpected: list[str] = []
        self._threads = [
            threading.Thread(target=self._client, args=(n,), name=f"client-{n}")
            for n in range(clients)
        ]

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=90)

    def stop(self) -> None:
        self._stop.set()

    def count(self) -> int:
        with self._lock:
            return len(self.answered)

    def _client(self, number: int) -> None:
        asked = 0
        with httpx.Client(base_url=self._api, timeout=60) as http:
            while not self._stop.is_set():
                asked += 1
                body = {"session_id": f"crash-{number}", "message": QUESTIONS[asked % 3]}
                ask = self._chat if asked % 2 else self._stream
                try:
                    request_id = ask(http, body)
                except httpx.TransportError:
                    continue  # cut off by the kill: no complete answer
                with self._lock:
                    if request_id is not None:
                        self.answered.append(request_id)

    def _chat(self, http: httpx.Client, body: dict[str, str]) -> str | None:
        response = http.post("/chat", json=body)
        if response.status_code != 200:
            self.unexpected.append(f"/chat {response.status_code} {response.text[:200]}")
            return None
        request_id: str = response.json()["request_id"]
        return request_id

    def _stream(self, http: httpx.Client, body: dict[str, str]) -> str | None:
        """The request_id of a stream that ended with its metadata and [DONE]."""
        request_id, event = None, None
        with http.stream("POST", "/chat/stream", json=body) as response:
            if response.status_code != 200:
                self.unexpected.append(f"/chat/stream {response.status_code}")
                return None
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line == "data: [DONE]":
                    return request_id
                elif line.startswith("data: ") and event == "metadata":
                    request_id = json.loads(line.removeprefix("data: "))["request_id"]
                elif line.startswith("data: ") and event == "error":
                    self.unexpected.append(f"/chat/stream error event: {line}")
                    return None
        return None  # the connection closed before [DONE]


@pytest.fixture
def qdrant() -> Iterator[QdrantRestServer]:
    with QdrantRestServer() as server:
        yield server


def start_serve(
    env: dict[str, str], log: Path, api_workers: int, mlflow_port: int
) -> subprocess.Popen[bytes]:
    command = [*TWINSELF, "serve", "--workers", str(api_workers)]
    command += ["--mlflow-ui", "--mlflow-port", str(mlflow_port)]
    with log.open("ab") as output:
        return subprocess.Popen(command, env=env, stdout=output, stderr=output)


def test_kill_9_of_serve_under_traffic_loses_no_answered_request(
    tmp_path: Path, data_dir: Path, qdrant: QdrantRestServer
) -> None:
    for fact in (data_dir / "semantic_data").iterdir():
        if fact.name not in KEPT_FACTS:
            fact.unlink()
    home, api_port, mlflow_port = tmp_path / "home", free_port(), free_port()
    api, mlflow = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{mlflow_port}"
    env = {
        **os.environ,
        "QDRANT_URL": qdrant.url,
        "TWINSELF_HOME": str(home),
        "TWINSELF_DATA_DIR": str(data_dir),
        "TWINSELF_LLM_PROVIDER": "offline",
        "TWINSELF_PORT": str(api_port),
        "TWINSELF_RATE_LIMIT": "",  # four clients on one address
        "TWINSELF_SHIPPER_METRICS_PORT": str(free_port()),
        "TWINSELF_EVALUATOR_METRICS_PORT": str(free_port()),
        "MLFLOW_EXPERIMENT_NAME": EXPERIMENT,
        "EVAL_JUDGE": "local",
        "EVAL_SAMPLE_RATE": "1.0",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    subprocess.run([*TWINSELF, "rebuild"], env=env, check=True, capture_output=True, timeout=300)
    log = tmp_path / "server.log"
    serve = start_serve(env, log, 2, mlflow_port)
    restarted: subprocess.Popen[bytes] | None = None
    children: list[psutil.Process] = []
    try:
        wait_until(lambda: answers(f"{api}/health"), 120, "the chat API")
        wait_until(lambda: answers(f"{mlflow}/health"), 120, "the MLflow server")
        with Traffic(api) as traffic:
            # Killed while clients are mid-request and the shipper has work in hand.
            wait_until(
                lambda: traffic.count() >= 24 and runs_of(mlflow, EXPERIMENT),
                120,
                "answers, and the shipper at work",
            )
            children = psutil.Process(serve.pid).children(recursive=True)
            commands = [" ".join(child.cmdline()) for child in children]
            serve.kill()
            serve.wait(30)
            traffic.stop()
        assert sum("spawn_main" in c for c in commands) == 2, commands  # the API workers
        assert any("--no-evaluator" in c for c in commands), commands  # the shipper
        assert any("--no-shipper" in c for c in commands), commands  # the evaluator
        # MLflow: the `mlflow server` command and the uvicorn process it runs.
        assert sum("mlflow" in c for c in commands) >= 2, commands

        _, alive = psutil.wait_procs(children, timeout=30)
        assert alive == [], f"left running by kill -9 of serve: {[p.cmdline() for p in alive]}"
        # No orphan answers on the ports the restart needs.
        assert not answers(f"{api}/health") and not answers(f"{mlflow}/health")
        with single_worker_lock(home, "shipper"), single_worker_lock(home, "evaluator"):
            pass  # nor holds a worker's lock
        assert traffic.unexpected == []
        answered = set(traffic.answered)
        assert len(answered) == len(traffic.answered) >= 24

        # One API process is enough to show the restart works, and starts sooner.
        restarted = start_serve(env, log, 1, mlflow_port)
        wait_until(lambda: answers(f"{api}/health"), 120, "the restarted chat API")
        wait_until(lambda: answers(f"{mlflow}/health"), 120, "the restarted MLflow server")

        def evaluated() -> set[str]:
            return {
                run.data.tags["request_id"]
                for run in runs_of(mlflow, EXPERIMENT)
                if run.data.tags.get("quality_evaluation") == "evaluated"
                and "deepeval_faithfulness" in run.data.metrics
            }

        wait_until(lambda: answered <= evaluated(), 120, "every answer's run and evaluation")
        request_ids = [run.data.tags["request_id"] for run in runs_of(mlflow, EXPERIMENT)]
        assert len(request_ids) == len(set(request_ids))  # one run each, however interrupted
        assert restarted.poll() is None
    finally:
        for process in (serve, restarted):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(60)
        for child in children:  # orphans, when the assertion above failed
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
    assert "already running" not in log.read_text()

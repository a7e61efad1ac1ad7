"""Real MLflow for the pipeline tests: a SQLite store per test, one loopback server per session."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from mlflow import MlflowClient
from mlflow.entities import Run

from twinself.pipeline.mlflow_sink import MlflowRunSink
from twinself.pipeline.outbox import Outbox

# The sink sets these for its (worker) process; the fixture below restores them per test.
SINK_PROCESS_SETTINGS = (
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT",
)
MLFLOW_BIN = Path(sys.executable).with_name("mlflow")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MlflowServer:
    """`mlflow server` in a subprocess; stop() and start() keep the port and the database."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> None:
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        env.pop("MLFLOW_TRACKING_URI", None)
        command = [
            str(MLFLOW_BIN),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{self.root / 'mlflow.db'}",
            "--default-artifact-root",
            str(self.root / "artifacts"),
        ]
        with (self.root / "server.log").open("ab") as log:
            # Its own session, so stop() can kill uvicorn and its parent together.
            self._process = subprocess.Popen(
                command, cwd=self.root, env=env, stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"mlflow server exited; see {self.root / 'server.log'}")
            try:
                if httpx.get(f"{self.uri}/health", timeout=1.0).is_success:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"mlflow server did not start in {timeout}s")

    def stop(self) -> None:
        """SIGKILL, like a crash: requests in flight get no answer."""
        if self._process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait(timeout=30)
        self._process = None


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    server = MlflowServer(tmp_path_factory.mktemp("mlflow_server"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _restore_mlflow_process_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*SINK_PROCESS_SETTINGS, "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def sqlite_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One store for the session (its migrations take seconds); tests use their own experiment."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow_sqlite') / 'mlflow.db'}"


@pytest.fixture(params=["sqlite", "server"])
def tracking_uri(request: pytest.FixtureRequest, sqlite_uri: str) -> str:
    """Each test using this runs once on a SQLite store and once on the server."""
    if request.param == "server":
        server: MlflowServer = request.getfixturevalue("mlflow_server")
        return server.uri
    return sqlite_uri


@pytest.fixture
def experiment_name() -> str:
    """Unique per test: the server is shared by the whole session."""
    return f"twinself-test-{uuid.uuid4().hex[:8]}"


SinkFactory = Callable[..., MlflowRunSink]


@pytest.fixture
def make_sink(tmp_path: Path, experiment_name: str) -> SinkFactory:
    def make(uri: str, http_max_retries: int = 2) -> MlflowRunSink:
        artifacts = (tmp_path / "mlartifacts").as_uri()
        return MlflowRunSink(uri, experiment_name, artifacts, http_max_retries=http_max_retries)

    return make


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    opened = Outbox(tmp_path / "home" / "outbox.sqlite3")
    yield opened
    opened.close()


def runs_of(uri: str, experiment_name: str) -> list[Run]:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return []
    runs: list[Run] = []
    token: str | None = None
    while True:
        page = client.search_runs([experiment.experiment_id], max_results=1000, page_token=token)
        runs.extend(page)
        if not page.token:
            return runs
        token = page.token

"""Real MLflow for the pipeline tests: a SQLite store per test, one loopback server per session;
a real outbox whose queues read a clock the test moves."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.clock import FakeClock
from tests.support.factories import SinkFactory
from tests.support.mlflow_process import MlflowServer
from twinself.pipeline.evaluation_queue import EvaluationQueue
from twinself.pipeline.feedback_queue import FeedbackQueue
from twinself.pipeline.mlflow_sink import MlflowRunSink
from twinself.pipeline.outbox import Outbox
from twinself.pipeline.request_queue import RequestQueue

# The sink sets these for its (worker) process; the fixture below restores them per test.
SINK_PROCESS_SETTINGS = (
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT",
)


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


@pytest.fixture
def make_sink(tmp_path: Path, experiment_name: str) -> SinkFactory:
    def make(uri: str, http_max_retries: int = 2) -> MlflowRunSink:
        artifacts = (tmp_path / "mlartifacts").as_uri()
        return MlflowRunSink(uri, experiment_name, artifacts, http_max_retries=http_max_retries)

    return make


@pytest.fixture
def clock() -> FakeClock:
    """The wall clock of this test's queues, shipper and evaluation worker."""
    return FakeClock()


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    opened = Outbox(tmp_path / "home" / "outbox.sqlite3")
    yield opened
    opened.close()


@pytest.fixture
def request_queue(outbox: Outbox, clock: FakeClock) -> RequestQueue:
    return RequestQueue(outbox, clock)


@pytest.fixture
def feedback_queue(outbox: Outbox, clock: FakeClock) -> FeedbackQueue:
    return FeedbackQueue(outbox, clock)


@pytest.fixture
def evaluation_queue(outbox: Outbox, clock: FakeClock) -> EvaluationQueue:
    return EvaluationQueue(outbox, clock)

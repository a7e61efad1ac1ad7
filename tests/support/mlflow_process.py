"""A real `mlflow server` process for tests, and how to read the runs it holds."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Run

from tests.support.network import free_port
from tests.support.waiting import answers, wait_until

MLFLOW_BIN = Path(sys.executable).with_name("mlflow")


class MlflowServer:
    """`mlflow server` in a subprocess; stop() and start() keep the port and the database.

    The store is SQLite under `root` unless `backend_store_uri` names another (PostgreSQL:
    tests/support/postgres_process.py); `workers` > 1 only makes sense on such a store.
    """

    def __init__(self, root: Path, backend_store_uri: str | None = None, workers: int = 1) -> None:
        self.root = root
        self.backend_store_uri = backend_store_uri or f"sqlite:///{root / 'mlflow.db'}"
        self.workers = workers
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
            str(self.workers),
            "--backend-store-uri",
            self.backend_store_uri,
            "--default-artifact-root",
            str(self.root / "artifacts"),
        ]
        with (self.root / "server.log").open("ab") as log:
            # Its own session, so stop() can kill uvicorn and its parent together.
            process = subprocess.Popen(
                command, cwd=self.root, env=env, stdout=log, stderr=log, start_new_session=True
            )
        self._process = process

        def up() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"mlflow server exited; see {self.root / 'server.log'}")
            return answers(f"{self.uri}/health")

        try:
            wait_until(up, timeout, f"mlflow server at {self.uri}")
        except AssertionError:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGKILL, like a crash: requests in flight get no answer."""
        if self._process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait(timeout=30)
        self._process = None


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

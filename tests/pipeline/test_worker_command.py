"""`twinself worker`: in-process for its messages, as a real process for kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from tests.pipeline.conftest import MlflowServer, free_port, runs_of
from tests.pipeline.records_factory import make_records
from twinself.cli.app import app
from twinself.pipeline.mlflow_trace import trace_id_for
from twinself.pipeline.outbox import Outbox
from twinself.pipeline.worker_lock import WorkerAlreadyRunning, single_worker_lock

runner = CliRunner()

WORKER = [sys.executable, "-m", "twinself.cli", "worker"]


def fill_outbox(home: Path, count: int) -> list[str]:
    outbox = Outbox(home / "outbox.sqlite3")
    records = make_records(count)
    for record in records:
        outbox.append_request(record)
    outbox.close()
    return [r.request_id for r in records]


def test_once_ships_what_is_due_and_says_so(tmp_path: Path) -> None:
    home = tmp_path / "home"
    fill_outbox(home, 3)
    env = {"TWINSELF_HOME": str(home), "MLFLOW_EXPERIMENT_NAME": "worker-once"}

    result = runner.invoke(app, ["worker", "--once"], env=env)

    assert result.exit_code == 0, result.output
    assert "Shipped 3 request(s) to MLflow; 0 pending, 0 failed." in result.output
    assert len(runs_of(f"sqlite:///{home / 'mlflow.db'}", "worker-once")) == 3


def test_once_with_mlflow_down_exits_1_and_keeps_the_records(tmp_path: Path) -> None:
    home = tmp_path / "home"
    fill_outbox(home, 2)
    env = {
        "TWINSELF_HOME": str(home),
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}",
    }

    result = runner.invoke(app, ["worker", "--once"], env=env)

    assert result.exit_code == 1
    assert "unreachable" in result.output
    outbox = Outbox(home / "outbox.sqlite3")
    assert outbox.backlog().pending == 2
    outbox.close()


def test_a_bad_tracking_uri_stops_the_worker_with_a_fix(tmp_path: Path) -> None:
    env = {"TWINSELF_HOME": str(tmp_path / "home"), "MLFLOW_TRACKING_URI": "nosuch://mlflow"}

    result = runner.invoke(app, ["worker"], env=env)

    assert result.exit_code == 1
    assert "MLFLOW_TRACKING_URI" in result.output


@pytest.mark.slow
def test_sigterm_stops_the_worker_cleanly(tmp_path: Path) -> None:
    home = tmp_path / "home"
    fill_outbox(home, 2)
    env = {**os.environ, "TWINSELF_HOME": str(home), "TWINSELF_SHIPPER_POLL_SECONDS": "0.1"}
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(WORKER, cwd=tmp_path, env=env, stdout=log, stderr=log)
    try:
        outbox = Outbox(home / "outbox.sqlite3")
        deadline = time.monotonic() + 60
        while outbox.backlog().pending:
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        outbox.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert "Shipper stopped" in log_path.read_text()


def test_a_second_worker_on_the_same_home_is_refused(tmp_path: Path) -> None:
    with (
        single_worker_lock(tmp_path),
        pytest.raises(WorkerAlreadyRunning, match="already"),
        single_worker_lock(tmp_path),
    ):
        pass
    with single_worker_lock(tmp_path):  # released on exit
        pass


@pytest.mark.slow
def test_kill_9_mid_drain_then_restart_loses_and_duplicates_nothing(
    tmp_path: Path, mlflow_server: MlflowServer, experiment_name: str
) -> None:
    home = tmp_path / "home"
    request_ids = fill_outbox(home, 200)
    env = {
        **os.environ,
        "TWINSELF_HOME": str(home),
        "MLFLOW_TRACKING_URI": mlflow_server.uri,
        "MLFLOW_EXPERIMENT_NAME": experiment_name,
        "TWINSELF_SHIPPER_BATCH": "25",
    }
    outbox = Outbox(home / "outbox.sqlite3")
    with (tmp_path / "worker.log").open("wb") as log:
        first = subprocess.Popen(WORKER, cwd=tmp_path, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 120
        while outbox.backlog().pending > 160:
            assert first.poll() is None, (tmp_path / "worker.log").read_text()
            assert time.monotonic() < deadline, "the worker shipped too little"
            time.sleep(0.05)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    assert outbox.backlog().pending > 0, "killed too late to test a restart"

    second = subprocess.run(
        [*WORKER, "--once"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )

    assert second.returncode == 0, second.stderr
    assert "0 pending, 0 failed" in second.stdout
    assert outbox.backlog().pending == 0
    outbox.close()
    runs = runs_of(mlflow_server.uri, experiment_name)
    assert Counter(r.data.tags["request_id"] for r in runs) == Counter(request_ids)
    experiment = MlflowClient(mlflow_server.uri).get_experiment_by_name(experiment_name)
    assert experiment is not None
    traces = MlflowClient(mlflow_server.uri).search_traces(
        locations=[experiment.experiment_id], max_results=500, include_spans=False
    )
    assert sorted(t.info.trace_id for t in traces) == sorted(map(trace_id_for, request_ids))

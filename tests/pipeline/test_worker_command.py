"""`twinself worker`: in-process for its messages, as a real process for kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from tests.support.mlflow_process import MlflowServer, runs_of
from tests.support.network import free_port
from tests.support.records import make_records
from tests.support.waiting import wait_until
from twinself.cli.app import app
from twinself.pipeline.outbox import Outbox
from twinself.pipeline.request_queue import RequestQueue
from twinself.pipeline.trace_ids import trace_id_for
from twinself.pipeline.worker_lock import WorkerAlreadyRunning, single_worker_lock

runner = CliRunner()

WORKER = [sys.executable, "-m", "twinself.cli", "worker"]


def fill_outbox(home: Path, count: int) -> list[str]:
    outbox = Outbox(home / "outbox.sqlite3")
    records = make_records(count)
    for record in records:
        RequestQueue(outbox).append(record)
    outbox.close()
    return [r.request_id for r in records]


def pending(home: Path) -> int:
    outbox = Outbox(home / "outbox.sqlite3")
    try:
        return RequestQueue(outbox).backlog().pending
    finally:
        outbox.close()


def still_running(process: subprocess.Popen[bytes], log: Path) -> None:
    if process.poll() is not None:
        raise AssertionError(f"the worker exited with {process.returncode}: {log.read_text()}")


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
    assert pending(home) == 2


def test_a_bad_tracking_uri_stops_the_worker_with_a_fix(tmp_path: Path) -> None:
    env = {"TWINSELF_HOME": str(tmp_path / "home"), "MLFLOW_TRACKING_URI": "nosuch://mlflow"}

    result = runner.invoke(app, ["worker"], env=env)

    assert result.exit_code == 1
    assert "MLFLOW_TRACKING_URI" in result.output


def scrape(port: int) -> str:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return ""  # not serving yet


@pytest.mark.slow
def test_sigterm_stops_the_worker_cleanly(tmp_path: Path) -> None:
    home = tmp_path / "home"
    fill_outbox(home, 2)
    metrics_port = free_port()
    env = {
        **os.environ,
        "TWINSELF_HOME": str(home),
        "TWINSELF_SHIPPER_POLL_SECONDS": "0.1",
        "TWINSELF_SHIPPER_METRICS_PORT": str(metrics_port),
        "TWINSELF_EVALUATOR_METRICS_PORT": "0",
    }
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(WORKER, cwd=tmp_path, env=env, stdout=log, stderr=log)
    try:

        def drained() -> bool:
            still_running(process, log_path)
            return pending(home) == 0

        wait_until(drained, 60, "the worker to ship both records")
        wait_until(
            lambda: "twinself_mlflow_runs_shipped_total 2.0" in scrape(metrics_port),
            30,
            "the shipper's metrics to count both runs",
        )
        assert "twinself_mlflow_reachable 1.0" in scrape(metrics_port)
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
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        first = subprocess.Popen(WORKER, cwd=tmp_path, env=env, stdout=log, stderr=log)
    try:

        def shipped_some() -> bool:
            still_running(first, log_path)
            return pending(home) <= 160

        wait_until(shipped_some, 120, "the worker to ship 40 records")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    assert pending(home) > 0, "killed too late to test a restart"

    second = subprocess.run(
        [*WORKER, "--once"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )

    assert second.returncode == 0, second.stderr
    assert "0 pending, 0 failed" in second.stdout
    assert pending(home) == 0
    runs = runs_of(mlflow_server.uri, experiment_name)
    assert Counter(r.data.tags["request_id"] for r in runs) == Counter(request_ids)
    experiment = MlflowClient(mlflow_server.uri).get_experiment_by_name(experiment_name)
    assert experiment is not None
    traces = MlflowClient(mlflow_server.uri).search_traces(
        locations=[experiment.experiment_id], max_results=500, include_spans=False
    )
    assert sorted(t.info.trace_id for t in traces) == sorted(map(trace_id_for, request_ids))

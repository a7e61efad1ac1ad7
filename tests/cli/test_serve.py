"""`twinself serve --mlflow-ui` as `make run` starts it: API, shipper, evaluator and MLflow
server, each a real process; one question becomes one MLflow run with its quality scores;
SIGTERM stops all four."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.pipeline.conftest import free_port

pytestmark = pytest.mark.slow


def wait_for(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).is_success:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not come up in {timeout}s")


def test_serve_with_mlflow_ui_tracks_a_question_and_stops_cleanly(
    tmp_path: Path, data_dir: Path
) -> None:
    api_port, mlflow_port = free_port(), free_port()
    env = {
        **os.environ,
        "TWINSELF_HOME": str(tmp_path / "home"),
        "TWINSELF_DATA_DIR": str(data_dir),
        "TWINSELF_LLM_PROVIDER": "offline",
        "TWINSELF_PORT": str(api_port),
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    twinself = [sys.executable, "-m", "twinself.cli"]
    subprocess.run([*twinself, "rebuild"], env=env, check=True, capture_output=True, timeout=300)
    server_log = tmp_path / "server.log"
    with server_log.open("wb") as log:
        serve = subprocess.Popen(
            [*twinself, "serve", "--mlflow-ui", "--mlflow-port", str(mlflow_port)],
            env=env,
            stdout=log,
            stderr=log,
        )
    api, mlflow = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{mlflow_port}"
    try:
        wait_for(f"{api}/health", 120)
        wait_for(f"{mlflow}/health", 120)
        answer = httpx.post(
            f"{api}/chat", json={"session_id": "e2e", "message": "Where do you work?"}, timeout=60
        ).json()
        deadline = time.monotonic() + 60
        state = {}
        while time.monotonic() < deadline:
            state = httpx.get(f"{api}/runs/{answer['request_id']}").json()
            if state["status"] == "shipped":
                break
            time.sleep(0.5)
        assert state["status"] == "shipped" and state["run_id"] and state["trace_id"]
        health = httpx.get(f"{api}/health").json()
        assert health["mlflow_connected"] is True and health["mlflow_uri"] == mlflow

        # TwinSelf's troubleshooting command answers, and lists our experiment.
        listed = httpx.get(f"{mlflow}/api/2.0/mlflow/experiments/list").json()
        assert "twinself_production" in {e["name"] for e in listed["experiments"]}
        run = httpx.get(
            f"{mlflow}/api/2.0/mlflow/runs/get", params={"run_id": state["run_id"]}
        ).json()["run"]
        tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
        assert tags["request_id"] == answer["request_id"] and tags["status"] == "success"
        assert answer["metrics"]["quality_evaluation"] == "evaluating_in_background"

        # The evaluator process judges the answer and logs the scores to the same run.
        metrics: dict[str, float] = {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "deepeval_faithfulness" not in metrics:
            time.sleep(1)
            run = httpx.get(
                f"{mlflow}/api/2.0/mlflow/runs/get", params={"run_id": state["run_id"]}
            ).json()["run"]
            metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
        assert 0.0 <= metrics["deepeval_faithfulness"] <= 1.0
        assert 0.0 <= metrics["deepeval_answer_relevancy"] <= 1.0
        # TwinSelf's troubleshooting step: `tail -f server.log | grep "evaluation"`.
        assert f"evaluation of request {answer['request_id']}" in server_log.read_text()
        children = psutil.Process(serve.pid).children(recursive=True)
        assert len(children) >= 3  # the shipper, the evaluator and the MLflow server
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(60)
    _, alive = psutil.wait_procs(children, timeout=30)
    assert alive == [], f"left running after SIGTERM: {[p.cmdline() for p in alive]}"

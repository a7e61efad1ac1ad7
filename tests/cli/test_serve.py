"""`twinself serve --mlflow-ui` as `make run` starts it: API, shipper and MLflow server, each a
real process; one question becomes one MLflow run; SIGTERM stops all three."""

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
    serve = subprocess.Popen(
        [*twinself, "serve", "--mlflow-ui", "--mlflow-port", str(mlflow_port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
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
        children = psutil.Process(serve.pid).children(recursive=True)
        assert len(children) >= 2  # the shipper and the MLflow server
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(60)
    _, alive = psutil.wait_procs(children, timeout=30)
    assert alive == [], f"left running after SIGTERM: {[p.cmdline() for p in alive]}"

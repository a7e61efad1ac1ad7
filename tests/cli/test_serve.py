"""`twinself serve --mlflow-ui` as `make run` starts it (after `export-onnx` and `rebuild`):
API, shipper, evaluator and MLflow server, each a real process; one question becomes one MLflow
run with its quality scores; the embedding model runs on onnxruntime, torch is in no process;
SIGTERM stops all four."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.support.network import free_port
from tests.support.waiting import answers, wait_until
from twinself.cli.scorer_training import RECIPES

pytestmark = pytest.mark.slow


def role(process: psutil.Process) -> str:
    command = " ".join(process.cmdline())
    if "--no-evaluator" in command:
        return "shipper"
    if "--no-shipper" in command:
        return "evaluator"
    return "mlflow" if "mlflow" in command else command


def model_runtimes(process: psutil.Process) -> list[str]:
    """Which embedding runtime the process has loaded: its mapped shared libraries."""
    paths = {m.path for m in process.memory_maps()}
    return [
        name
        for name, library in (("torch", "libtorch_cpu"), ("onnxruntime", "onnxruntime"))
        if any(library in path for path in paths)
    ]


def test_serve_with_mlflow_ui_tracks_a_question_and_stops_cleanly(
    tmp_path: Path, data_dir: Path, trained_scorers: Path
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
    # The scorers this run trained already (tests/conftest.py): export-onnx must find them
    # current (the same fingerprint in another process) rather than train for minutes again.
    shutil.copytree(trained_scorers, tmp_path / "home" / trained_scorers.name)
    # In `make run`'s order: the rebuild embeds the persona on onnxruntime already.
    exported = subprocess.run(
        [*twinself, "export-onnx"], env=env, check=True, capture_output=True, timeout=600
    )
    assert b"Trained" not in exported.stdout, exported.stdout.decode()
    for recipe in RECIPES:
        assert f"The {recipe.name} scorer is up to date.".encode() in exported.stdout
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

    def mlflow_run(run_id: str) -> dict[str, Any]:
        response = httpx.get(f"{mlflow}/api/2.0/mlflow/runs/get", params={"run_id": run_id})
        run: dict[str, Any] = response.json()["run"]
        return run

    children: list[psutil.Process] = []
    try:
        wait_until(lambda: answers(f"{api}/health"), 120, "the chat API")
        wait_until(lambda: answers(f"{mlflow}/health"), 120, "the MLflow server")
        answer = httpx.post(
            f"{api}/chat", json={"session_id": "e2e", "message": "Where do you work?"}, timeout=60
        ).json()
        run_state = f"{api}/runs/{answer['request_id']}"
        wait_until(
            lambda: httpx.get(run_state).json()["status"] == "shipped", 60, "the run to ship"
        )
        state = httpx.get(run_state).json()
        assert state["run_id"] and state["trace_id"]
        health = httpx.get(f"{api}/health").json()
        assert health["status"] == "healthy"  # what TwinSelf's clients compare with
        assert health["mlflow_connected"] is True and health["mlflow_uri"] == mlflow

        # TwinSelf's troubleshooting command answers, and lists our experiment.
        listed = httpx.get(f"{mlflow}/api/2.0/mlflow/experiments/list").json()
        assert "twinself_production" in {e["name"] for e in listed["experiments"]}
        tags = {t["key"]: t["value"] for t in mlflow_run(state["run_id"])["data"]["tags"]}
        assert tags["request_id"] == answer["request_id"] and tags["status"] == "success"
        assert answer["metrics"]["quality_evaluation"] == "evaluating_in_background"

        # The evaluator process judges the answer and logs the scores to the same run.
        def scored() -> bool:
            metrics = mlflow_run(state["run_id"])["data"].get("metrics", [])
            return any(m["key"] == "deepeval_faithfulness" for m in metrics)

        wait_until(scored, 120, "the evaluation's scores on the run")
        run = mlflow_run(state["run_id"])
        metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
        tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
        assert 0.0 <= metrics["deepeval_faithfulness"] <= 1.0
        assert 0.0 <= metrics["deepeval_answer_relevancy"] <= 1.0
        assert tags["quality_evaluation"] == "evaluated"
        # TwinSelf's troubleshooting step: `tail -f server.log | grep "evaluation"`.
        assert f"evaluation of request {answer['request_id']}" in server_log.read_text()
        children = psutil.Process(serve.pid).children(recursive=True)
        roles = {"api": psutil.Process(serve.pid)} | {role(c): c for c in children}
        # The shipper, the evaluator, and MLflow: `mlflow server` and the uvicorn it starts.
        assert sorted(map(role, children)) == ["evaluator", "mlflow", "mlflow", "shipper"]
        runtimes = {name: model_runtimes(process) for name, process in roles.items()}
        assert runtimes == {
            "api": ["onnxruntime"],
            "shipper": [],
            "evaluator": ["onnxruntime"],
            "mlflow": [],
        }
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(60)
    _, alive = psutil.wait_procs(children, timeout=30)
    assert alive == [], f"left running after SIGTERM: {[p.cmdline() for p in alive]}"

    output = server_log.read_text()
    [starting] = [s for s in output.splitlines() if s.startswith("twinself is starting")]
    assert f"chat page {api}/ui/, chat API {api} (docs {api}/docs)" in starting
    assert f"MLflow UI {mlflow} " in starting
    # The workers start once MLflow answers, so nothing retries a server still starting.
    assert "Retrying" not in output and "Connection refused" not in output, output
    assert f"Ready: chat API {api}, MLflow UI {mlflow}" in output
    # Nor do libraries' expected notices crowd the first screen.
    assert "READ_ONLY" not in output and "DeprecationWarning" not in output, output

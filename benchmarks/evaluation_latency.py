"""From an answer to its quality scores visible in MLflow, with the offline judge.

Runs `twinself serve --mlflow-ui` as a user does (API, shipper, evaluation worker and MLflow
server, each its own process) on the sample persona, then:

1. latency: questions one at a time, a little apart; for each, the time from the HTTP response
   to `deepeval_faithfulness` being searchable on its run (p50, p99). Target p50 < 10 s;
   TwinSelf's docs tell users to wait 30-60 s.
2. throughput: a burst of questions, then evaluations per minute until all are on their runs.

    .venv/bin/python benchmarks/evaluation_latency.py [--latency N] [--burst M]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from _sample_twin import QUESTIONS, free_port, percentile, wait_for
from mlflow import MlflowClient


class ScoreWatcher:
    """Polls MLflow for runs that have scores; remembers when each request's first appeared."""

    def __init__(self, uri: str, experiment: str) -> None:
        self._client = MlflowClient(uri)
        self._experiment = experiment
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> ScoreWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            experiment = self._client.get_experiment_by_name(self._experiment)
            if experiment is not None:
                runs = self._client.search_runs(
                    [experiment.experiment_id],
                    "metrics.deepeval_faithfulness >= 0",
                    max_results=5000,
                )
                now = time.monotonic()
                for run in runs:
                    self.seen.setdefault(run.data.tags["request_id"], now)
            self._stop.wait(0.2)

    def wait_for(self, request_ids: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while any(r not in self.seen for r in request_ids):
            if time.monotonic() > deadline:
                missing = sum(r not in self.seen for r in request_ids)
                raise SystemExit(f"{missing} evaluation(s) not visible after {timeout}s")
            time.sleep(0.1)


def ask(api: str, question: str, took: list[float] | None = None) -> tuple[str, float]:
    started = time.monotonic()
    response = httpx.post(
        f"{api}/chat", json={"session_id": "bench", "message": question}, timeout=60
    )
    response.raise_for_status()
    body = response.json()
    assert body["metrics"]["quality_evaluation"] == "evaluating_in_background"
    if took is not None:
        took.append(time.monotonic() - started)
    return body["request_id"], time.monotonic()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=int, default=20, help="questions for the latency")
    parser.add_argument("--burst", type=int, default=60, help="questions for the throughput")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="twinself-bench-eval-"))
    api_port, mlflow_port = free_port(), free_port()
    env = {
        **os.environ,
        "TWINSELF_HOME": str(home),
        "TWINSELF_LLM_PROVIDER": "offline",
        "EVAL_JUDGE": "local",
        "TWINSELF_PORT": str(api_port),
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("TWINSELF_DATA_DIR", None)
    twinself = [sys.executable, "-m", "twinself.cli"]
    subprocess.run([*twinself, "rebuild"], env=env, check=True, capture_output=True)
    log = (home / "server.log").open("wb")
    serve = subprocess.Popen(
        [*twinself, "serve", "--mlflow-ui", "--mlflow-port", str(mlflow_port)],
        env=env,
        stdout=log,
        stderr=log,
    )
    api, mlflow = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{mlflow_port}"
    try:
        wait_for(f"{api}/health", 180)
        wait_for(f"{mlflow}/health", 180)
        ask(api, "Hello!")  # warm-up: the worker processes load the model on start
        time.sleep(15)
        watcher = ScoreWatcher(mlflow, "twinself_production").start()

        latencies: list[float] = []
        idle_chat: list[float] = []
        for i in range(args.latency):
            request_id, answered = ask(api, QUESTIONS[i % len(QUESTIONS)], idle_chat)
            watcher.wait_for([request_id], 120)
            latencies.append(watcher.seen[request_id] - answered)
            time.sleep(0.5)

        started = time.monotonic()
        busy_chat: list[float] = []
        burst = [ask(api, QUESTIONS[i % len(QUESTIONS)], busy_chat)[0] for i in range(args.burst)]
        asked = time.monotonic() - started
        watcher.wait_for(burst, 600)
        finished = max(watcher.seen[r] for r in burst) - started
        watcher.stop()
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(60)
        log.close()

    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    print(f"offline judge (local-embedding), sample persona, {os.cpu_count()} cores")
    print(
        f"answer -> scores visible in MLflow, {len(latencies)} questions one at a time: "
        f"p50 {p50:.2f} s, p99 {p99:.2f} s, max {max(latencies):.2f} s (target p50 < 10 s: "
        f"{10 / p50:.1f}x under; TwinSelf's docs say wait 30-60 s: {30 / p50:.0f}x sooner)"
    )
    print(
        f"burst of {args.burst}: asked in {asked:.1f} s, all scores visible after "
        f"{finished:.1f} s: {args.burst / finished * 60:.0f} evaluations/minute end to end"
    )
    idle, busy = percentile(idle_chat, 0.5), percentile(busy_chat, 0.5)
    print(
        f"POST /chat p50: {idle * 1000:.0f} ms with the pipeline idle, {busy * 1000:.0f} ms while "
        f"it ships and judges the burst ({busy / idle:.2f}x)"
    )


if __name__ == "__main__":
    main()

"""The processes `load.py` runs and watches: `twinself serve --mlflow-ui` and its children's RSS."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
from _sample_twin import wait_for
from prometheus_client.parser import text_string_to_metric_families

TWINSELF = [sys.executable, "-m", "twinself.cli"]
EXPERIMENT = "twinself_production"


class Serve:
    """`twinself serve --mlflow-ui` in a subprocess, and the RSS of each of its processes."""

    def __init__(self, root: Path, env: dict[str, str], mlflow_port: int) -> None:
        self.log = (root / "server.log").open("ab")
        command = [*TWINSELF, "serve", "--mlflow-ui", "--mlflow-port", str(mlflow_port)]
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=self.log)
        self.env = env
        self.api = f"http://127.0.0.1:{env['TWINSELF_PORT']}"
        self.mlflow = f"http://127.0.0.1:{mlflow_port}"
        wait_for(f"{self.api}/health", 300)
        wait_for(f"{self.mlflow}/health", 300)
        deadline = time.monotonic() + 120  # the workers start once MLflow answers
        while set(self.processes()) < {"api", "shipper", "evaluator", "mlflow server"}:
            if time.monotonic() > deadline:
                raise SystemExit(f"not every process started: {sorted(self.processes())}")
            time.sleep(0.5)

    def processes(self) -> dict[str, psutil.Process]:
        found = {"api": psutil.Process(self.process.pid)}
        for child in found["api"].children(recursive=True):
            command = " ".join(child.cmdline())
            if "--no-evaluator" in command:
                found["shipper"] = child
            elif "--no-shipper" in command:
                found["evaluator"] = child
            elif "uvicorn" in command and "mlflow" in command:
                found["mlflow server"] = child
            elif "mlflow" in command:
                found["mlflow cli"] = child
        return found

    def pipeline_totals(self) -> tuple[float, float]:
        """Runs shipped and answers evaluated so far, from the workers' own metrics."""
        totals = []
        for port, name, labels in (
            (self.env["TWINSELF_SHIPPER_METRICS_PORT"], "twinself_mlflow_runs_shipped_total", {}),
            (
                self.env["TWINSELF_EVALUATOR_METRICS_PORT"],
                "twinself_evaluations_total",
                {"metric": "faithfulness"},  # one of the two metrics each evaluation has
            ),
        ):
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
            except httpx.TransportError:
                text = ""  # the worker is still loading, its metrics not served yet
            totals.append(
                sum(
                    s.value
                    for f in text_string_to_metric_families(text)
                    for s in f.samples
                    if s.name == name and labels.items() <= s.labels.items()
                )
            )
        return totals[0], totals[1]

    def backlog(self) -> tuple[int, int]:
        """Records waiting to ship, evaluations waiting to run."""
        backlog = httpx.get(f"{self.api}/health", timeout=30).json()["backlog"]
        return backlog["records_pending"], backlog["evaluations_waiting"]

    def rss_mb(self) -> dict[str, float]:
        return {role: p.memory_info().rss / 2**20 for role, p in self.processes().items()}

    def drain(self, timeout: float) -> float:
        """Seconds until nothing waits in the outbox (records or evaluations); nan: timed out."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.backlog() == (0, 0):
                return time.monotonic() - started
            time.sleep(2)
        return float("nan")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(120)
        self.log.close()


class MemoryWatch:
    """Every process's RSS every `every` seconds, in a thread."""

    def __init__(self, serve: Serve, every: float = 5.0) -> None:
        self.readings: list[tuple[float, dict[str, float]]] = []
        self._serve, self._every, self._stop = serve, every, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> MemoryWatch:
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            self.readings.append((time.monotonic(), self._serve.rss_mb()))
            if self._stop.wait(self._every):
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.readings.append((time.monotonic(), self._serve.rss_mb()))

    def table(self, after: float) -> None:
        """RSS after the warm-up, halfway, at the end; the growth from start and from halfway."""
        kept = [r for t, r in self.readings if t >= after]
        first, middle, last = kept[0], kept[len(kept) // 2], kept[-1]
        print(
            f"{'process':<15}{'RSS start MB':>13}{'half MB':>9}{'end MB':>9}{'max MB':>9}"
            f"{'growth':>9}{'2nd half':>10}"
        )
        for role in first:
            peak = max(r.get(role, 0.0) for r in kept)
            print(
                f"{role:<15}{first[role]:>13.1f}{middle[role]:>9.1f}{last[role]:>9.1f}"
                f"{peak:>9.1f}{(last[role] / first[role] - 1) * 100:>+8.1f}%"
                f"{(last[role] / middle[role] - 1) * 100:>+9.1f}%"
            )

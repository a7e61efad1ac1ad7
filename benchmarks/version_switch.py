"""What a new memory version costs a running server, measured side by side in one run.

Runs `twinself serve --no-worker` (offline LLM) on a copy of the sample persona with v1 active,
and sends questions one after another while:

1. idle: nothing else runs;
2. build: `twinself rebuild` (its own process, as a user runs it) builds v2 beside v1 after one
   file changed, and activates it;
3. rollback: `twinself versions rollback v1`.

Prints /chat latency p50 and p99 per phase with the ratio to idle, the build's wall time, and
how long after each registry write the server answered from the new version (it looks twice
a second). Every request must succeed.

    .venv/bin/python benchmarks/version_switch.py [--idle N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from _sample_twin import free_port, percentile

from twinself.config.settings import sample_data_dir
from twinself.memory.versions import VersionRegistry

TWINSELF = [sys.executable, "-m", "twinself.cli"]
QUESTION = {"session_id": "bench", "message": "Do you keep bees?"}


class Traffic:
    """Questions one after another in a thread; every latency and status, and the versions the
    server reported over time."""

    def __init__(self, api: str) -> None:
        self._api = api
        self.samples: list[tuple[float, float, int]] = []  # (sent at, seconds, status)
        self.versions: list[tuple[float, str]] = []  # (time first seen, data_version)
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._ask, daemon=True),
            threading.Thread(target=self._watch, daemon=True),
        ]

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _ask(self) -> None:
        with httpx.Client(timeout=60) as client:
            while not self._stop.is_set():
                sent = time.time()
                status = client.post(f"{self._api}/chat", json=QUESTION).status_code
                self.samples.append((sent, time.time() - sent, status))

    def _watch(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                version = client.get(f"{self._api}/health").json()["data_version"]
                if not self.versions or self.versions[-1][1] != version:
                    self.versions.append((time.time(), version))
                time.sleep(0.05)

    def latencies(self, start: float, end: float) -> list[float]:
        return [seconds for sent, seconds, _ in self.samples if start <= sent < end]

    def first_seen(self, version: str, after: float, timeout: float = 15) -> float:
        """When the server first reported `version` at or after `after` (nan: never)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = [t for t, v in self.versions if v == version and t >= after]
            if seen:
                return seen[0]
            time.sleep(0.05)
        return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle traffic")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="twinself-bench-versions-"))
    data = root / "data"
    shutil.copytree(sample_data_dir(), data)
    home, port = root / "home", free_port()
    env = {
        **os.environ,
        "TWINSELF_HOME": str(home),
        "TWINSELF_DATA_DIR": str(data),
        "TWINSELF_LLM_PROVIDER": "offline",
        "TWINSELF_PORT": str(port),
        "EVAL_JUDGE": "none",
    }
    env.pop("QDRANT_URL", None)
    api = f"http://127.0.0.1:{port}"

    def twinself(*command: str) -> float:
        started = time.perf_counter()
        subprocess.run([*TWINSELF, *command], env=env, check=True, capture_output=True)
        return time.perf_counter() - started

    twinself("rebuild", "--create-version")
    registry = VersionRegistry(home)
    v1 = registry.load().active
    log = (root / "server.log").open("wb")
    serve = subprocess.Popen([*TWINSELF, "serve", "--no-worker"], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{api}/health", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the server did not start; see {root / 'server.log'}")
            time.sleep(0.5)
        with Traffic(api) as traffic:
            idle_start = time.time()
            time.sleep(args.idle)
            build_start = time.time()
            with (data / "semantic_data" / "hobbies.md").open("a", encoding="utf-8") as f:
                f.write("\nI also keep two beehives on the roof of our building since 2021.\n")
            build_seconds = twinself("rebuild")
            v2 = str(registry.load().active)
            v2_written = registry.path.stat().st_mtime
            build_end = time.time()
            v2_seen = traffic.first_seen(v2, v2_written)
            time.sleep(3)
            rollback_start = time.time()
            rollback_seconds = twinself("versions", "rollback", str(v1))
            v1_written = registry.path.stat().st_mtime
            v1_seen = traffic.first_seen(str(v1), v1_written)
            time.sleep(3)
            rollback_end = time.time()
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(60)
        log.close()

    failed = [s for _, _, s in traffic.samples if s != 200]
    phases = {
        "idle": traffic.latencies(idle_start, build_start),
        "during build": traffic.latencies(build_start, build_end),
        "around rollback": traffic.latencies(rollback_start, rollback_end),
    }
    idle_p50 = percentile(phases["idle"], 0.5)
    print(f"POST /chat on a real `twinself serve` process, offline LLM, {os.cpu_count()} cores")
    print(f"{'phase':<16}{'requests':>9}{'p50 ms':>9}{'p99 ms':>9}{'p50 / idle':>12}")
    for name, values in phases.items():
        p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
        print(
            f"{name:<16}{len(values):>9}{p50 * 1000:>9.0f}{p99 * 1000:>9.0f}"
            f"{p50 / idle_p50:>11.2f}x"
        )
    print(f"`twinself rebuild` (one file changed, its own process): {build_seconds:.1f} s wall")
    print(f"`twinself versions rollback`: {rollback_seconds:.1f} s wall")
    print(f"registry write -> server answers from v2: {v2_seen - v2_written:.2f} s")
    print(f"registry write -> server answers from v1: {v1_seen - v1_written:.2f} s")
    print(f"failed requests: {len(failed)} of {len(traffic.samples)}")
    shutil.rmtree(root, ignore_errors=True)
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

"""Memory footprint of the whole `make run` stack, per process, after a warm-up.

Starts `twinself serve --mlflow-ui` as `make run` does (API, shipper, evaluator, MLflow server:
real processes) on the sample persona in a throwaway TWINSELF_HOME, in two set-ups:

- offline: the offline provider and the local judge (the defaults without keys);
- gemini: Gemini as chat model and judge, through the real google-genai client, against the
  fake Gemini servers of tests/fakes/ on loopback.

Each warms up with three answers, waits until all three are shipped to MLflow and judged, then
reads the RSS of every process of the tree (psutil) and prints them side by side with the
totals against the targets (issue 15): <= 1200 MB offline, <= 700 MB with Gemini.

Columns side by side in one run (load varies): `--src DIR` (repeatable) measures another
source tree too, e.g. the main branch as "before"; `--env NAME=VALUE` this tree with a variable
set. `--no-onnx` skips `twinself export-onnx`: the embedding model runs on torch (the fallback).

    PYTHONPATH=src .venv/bin/python benchmarks/footprint.py [--src ../main/src] [--env N=V]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import psutil
from _sample_twin import QUESTIONS, free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the fake Gemini servers of the test suite

from tests.fakes.gemini_judge import FakeGeminiJudge, small_ca_bundle  # noqa: E402
from tests.fakes.gemini_server import FakeGeminiServer  # noqa: E402

# name: (chat model and judge, with `--mlflow-ui`, target MB)
SETUPS = {
    "offline": ("offline", True, 1200.0),
    "gemini": ("gemini", True, 700.0),
    # MLflow without its server: runs go straight into the SQLite store; `mlflow ui` on demand.
    "gemini, no UI": ("gemini", False, 700.0),
}
GROUNDED = (
    "Since September 2022 I have worked as a senior ML platform engineer at Solvik, a "
    "Gothenburg company that builds demand-forecasting software for grocery chains."
)
ROLES = ["api", "shipper", "evaluator", "shipper+evaluator", "mlflow cli", "mlflow server", "other"]


def role_of(process: psutil.Process) -> str:
    command = " ".join(process.cmdline())
    if "--no-evaluator" in command:
        return "shipper"
    if "--no-shipper" in command:
        return "evaluator"
    if "uvicorn" in command and "mlflow" in command:
        return "mlflow server"
    if "mlflow" in command:
        return "mlflow cli"
    if "twinself.cli worker" in command:
        return "shipper+evaluator"
    return "other"


def tree_rss_mb(root: psutil.Process) -> dict[str, float]:
    """RSS per role over the whole process tree (a role may hold several processes)."""
    rss = {"api": root.memory_info().rss / 2**20}
    for child in root.children(recursive=True):
        try:
            role = role_of(child)
            rss[role] = rss.get(role, 0.0) + child.memory_info().rss / 2**20
        except psutil.NoSuchProcess:
            continue
    return rss


def heavy_libraries(root: psutil.Process) -> dict[str, str]:
    """Which of torch / onnxruntime each process has mapped (from /proc/PID/maps)."""
    found = {}
    for process in [root, *root.children(recursive=True)]:
        try:
            paths = {m.path for m in process.memory_maps()}
            role = "api" if process.pid == root.pid else role_of(process)
        except psutil.Error:
            continue
        libraries = [
            name
            for name, marker in (("torch", "libtorch_cpu"), ("onnxruntime", "onnxruntime"))
            if any(marker in p for p in paths)
        ]
        found[role] = "+".join(libraries) or "-"
    return found


@contextmanager
def fakes(setup: str, folder: Path) -> Iterator[dict[str, str]]:
    """The environment that points twinself at the fake Gemini servers (nothing offline)."""
    if setup == "offline":
        yield {"TWINSELF_LLM_PROVIDER": "offline", "EVAL_JUDGE": "local"}
        return
    with FakeGeminiServer(GROUNDED) as chat, FakeGeminiJudge(api_key="judge-key") as judge:
        yield {
            "TWINSELF_LLM_PROVIDER": "gemini",
            "GEMINI_BASE_URL": chat.base_url,
            "GOOGLE_API_KEY": "chat-key",
            "EVAL_JUDGE": "gemini",
            "EVAL_GEMINI_BASE_URL": judge.base_url,
            "GOOGLE_API_KEY_4DEEPEVAL": "judge-key",
            "SSL_CERT_FILE": str(small_ca_bundle(folder)),
        }


def measure(src: str, name: str, home: Path, extra: dict[str, str]) -> dict[str, object]:
    setup, mlflow_ui, _ = SETUPS[name]
    folder = Path(tempfile.mkdtemp(prefix="twinself-footprint-"))
    ports = {name: free_port() for name in ("api", "mlflow", "shipper", "evaluator")}
    with ExitStack() as stack:
        env = {
            **os.environ,
            "PYTHONPATH": src,
            "HF_HUB_OFFLINE": "1",
            "TWINSELF_HOME": str(folder / "home"),
            "TWINSELF_PORT": str(ports["api"]),
            "TWINSELF_SHIPPER_METRICS_PORT": str(ports["shipper"]),
            "TWINSELF_EVALUATOR_METRICS_PORT": str(ports["evaluator"]),
            "EVAL_SAMPLE_RATE": "1",
            **stack.enter_context(fakes(setup, folder)),
            **extra,
        }
        env.pop("MLFLOW_TRACKING_URI", None)
        shutil.copytree(home, folder / "home")  # the memory built once, for every set-up
        twinself = [sys.executable, "-m", "twinself.cli"]
        log = (folder / "serve.log").open("wb")
        ui = ["--mlflow-ui", "--mlflow-port", str(ports["mlflow"])] if mlflow_ui else []
        serve = subprocess.Popen(
            [*twinself, "serve", *ui],
            env=env,
            stdout=log,
            stderr=log,
        )
        try:
            api = f"http://127.0.0.1:{ports['api']}"
            wait_for(f"{api}/health", 300)
            for question in QUESTIONS[:3]:
                body = {"session_id": "footprint", "message": question}
                httpx.post(f"{api}/chat", json=body, timeout=120).raise_for_status()
            drained(api, 300)
            root = psutil.Process(serve.pid)
            rss = tree_rss_mb(root)
            libraries = heavy_libraries(root)
        finally:
            serve.send_signal(signal.SIGTERM)
            serve.wait(120)
            log.close()
    shutil.rmtree(folder, ignore_errors=True)
    return {"rss": rss, "libraries": libraries}


def drained(api: str, timeout: float) -> None:
    """Until the three answers are shipped and judged (the workers start after MLflow)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = httpx.get(f"{api}/health", timeout=30).json()
        backlog = health["backlog"]
        if backlog["records_pending"] == 0 and backlog["evaluations_waiting"] == 0:
            return
        time.sleep(1)
    raise SystemExit(f"the warm-up did not drain in {timeout:.0f}s: {health}")


def build_home(export_onnx: bool) -> Path:
    """The sample persona's memory, and the ONNX export as `make run` makes them."""
    home = Path(tempfile.mkdtemp(prefix="twinself-footprint-home-"))
    env = {**os.environ, "TWINSELF_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    twinself = [sys.executable, "-m", "twinself.cli"]
    if export_onnx:
        subprocess.run([*twinself, "export-onnx"], env=env, check=True, capture_output=True)
    subprocess.run([*twinself, "rebuild"], env=env, check=True, capture_output=True)
    return home


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", action="append", default=[], help="Another source tree.")
    parser.add_argument(
        "--env", action="append", default=[], help="NAME=VALUE: this tree with it set."
    )
    parser.add_argument("--no-onnx", action="store_true", help="Do not export to ONNX.")
    args = parser.parse_args()
    mine = str(ROOT / "src")
    variants = [(mine, {}), *((src, {}) for src in args.src)]
    variants += [(mine, dict([pair.split("=", 1)])) for pair in args.env]
    home = build_home(not args.no_onnx)
    columns: dict[str, dict[str, object]] = {}
    for setup in SETUPS:
        for number, (src, extra) in enumerate(variants):
            name = f"{setup}" + (f" [{number}]" if len(variants) > 1 else "")
            columns[name] = measure(src, setup, home, extra)
            print(f"measured {name}; load {os.getloadavg()[0]:.2f}", file=sys.stderr)
    shutil.rmtree(home, ignore_errors=True)
    print("ONNX export in TWINSELF_HOME: " + ("no" if args.no_onnx else "yes"))
    for number, (src, extra) in enumerate(variants):
        print(f"[{number}] {src} {' '.join(f'{k}={v}' for k, v in extra.items())}")
    print(f"RSS MB after three answers (shipped and judged); load {os.getloadavg()[0]:.2f}")
    width = 24
    print(f"{'process':<19}" + "".join(f"{name:>{width}}" for name in columns))
    for role in ROLES:
        cells = []
        for column in columns.values():
            rss, libraries = column["rss"], column["libraries"]
            assert isinstance(rss, dict) and isinstance(libraries, dict)
            cell = f"{rss[role]:.0f} {libraries.get(role, '')}" if role in rss else "-"
            cells.append(f"{cell:>{width}}")
        if any(c.strip() != "-" for c in cells):
            print(f"{role:<19}" + "".join(cells))
    missed = False
    totals = []
    for name, column in columns.items():
        rss = column["rss"]
        assert isinstance(rss, dict)
        total = sum(rss.values())
        target = SETUPS[name.split(" [")[0]][2]
        totals.append(f"{total:.0f} {'<=' if total <= target else '>'} {target:.0f}")
        # The exit status tells about this tree as it is; the other columns are comparisons.
        missed |= total > target and (len(variants) == 1 or name.endswith("[0]"))
    print(f"{'total':<19}" + "".join(f"{t:>{width}}" for t in totals))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())

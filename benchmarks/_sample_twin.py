"""Build the sample persona's memory in a throwaway TWINSELF_HOME, for the benchmarks."""

from __future__ import annotations

import socket
import tempfile
import time
from pathlib import Path

import httpx

from twinself.config.settings import Settings, sample_data_dir
from twinself.memory.builder import build_memory_builder
from twinself.twin.factory import TwinRuntime

BENCHMARKS = Path(__file__).resolve().parent


def benchmark_settings(home: Path | None = None, data_dir: Path | None = None) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        home=home or Path(tempfile.mkdtemp(prefix="twinself-bench-")),
        data_dir=data_dir or sample_data_dir(),
        llm_provider="offline",
    )


def built_runtime(settings: Settings) -> TwinRuntime:
    runtime = TwinRuntime.open(settings)
    builder = build_memory_builder(settings)
    plan = builder.plan(runtime.store, runtime.embedder.model_name, runtime.embedder.dimension)
    builder.apply(plan, runtime.store, runtime.embedder)
    return runtime


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# Questions the sample persona answers, for the benchmarks that send traffic.
QUESTIONS = [
    "Where do you work?",
    "What do you do in your free time?",
    "Where did you study?",
    "What programming languages do you use?",
    "Where did you grow up?",
    "What is your favourite book?",
]


def wait_for(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).is_success:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not come up in {timeout}s")

"""Build the sample persona's memory in a throwaway TWINSELF_HOME, for the benchmarks."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path

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

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


# The pair scorers `twinself export-onnx` would train (cli/scorer_training.py), trained once
# here and linked into every throwaway home, so the benchmarks measure what users run.
SCORER_HOME = Path(tempfile.gettempdir()) / "twinself-bench-scorers"


def benchmark_settings(home: Path | None = None, data_dir: Path | None = None) -> Settings:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        home=home or Path(tempfile.mkdtemp(prefix="twinself-bench-")),
        data_dir=data_dir or sample_data_dir(),
        llm_provider="offline",
    )
    link_trained_scorers(settings)
    return settings


def link_trained_scorers(settings: Settings) -> None:
    from twinself.cli.scorer_training import RECIPES, is_current, train
    from twinself.embedding.onnx_runtime import transformer_folder
    from twinself.embedding.pair_scorer import scorer_folder
    from twinself.embedding.sentence_transformer import resolve_model_location

    trained = Settings(_env_file=None, home=SCORER_HOME)  # type: ignore[call-arg]
    source = transformer_folder(Path(resolve_model_location(settings.embedding_model)))
    for recipe in RECIPES:
        if not is_current(trained, recipe, source):
            print(f"training the {recipe.name} scorer into {SCORER_HOME} (once)")
            train(trained, recipe, source)
        target = scorer_folder(settings, recipe.name)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(scorer_folder(trained, recipe.name))


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

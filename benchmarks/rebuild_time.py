"""Full rebuild vs incremental rebuild after one file changed, side by side in one run.

.venv/bin/python benchmarks/rebuild_time.py
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

from _sample_twin import benchmark_settings

from twinself.config.settings import sample_data_dir
from twinself.embedding.sentence_transformer import build_embedder
from twinself.memory.builder import build_memory_builder
from twinself.memory.store import build_vector_store

ROUNDS = 3


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="twinself-rebuild-bench-"))
    data = work / "data"
    shutil.copytree(sample_data_dir(), data)
    settings = benchmark_settings(home=work / "home", data_dir=data)
    embedder = build_embedder(settings)
    store = build_vector_store(settings)
    builder = build_memory_builder(settings)
    hobbies = data / "semantic_data" / "hobbies.md"
    original = hobbies.read_text(encoding="utf-8")

    def timed(force: bool) -> tuple[float, int]:
        started = time.perf_counter()
        plan = builder.plan(store, embedder.model_name, embedder.dimension, force=force)
        report = builder.apply(plan, store, embedder)
        return time.perf_counter() - started, report.embedded_chunks

    timed(force=True)  # warm-up: first build, caches warm
    full, incremental, unchanged = [], [], []
    for round_number in range(ROUNDS):
        full.append(timed(force=True))
        hobbies.write_text(f"{original}\nI changed this line in round {round_number}.\n", "utf-8")
        incremental.append(timed(force=False))
        unchanged.append(timed(force=False))
    store.close()
    shutil.rmtree(work, ignore_errors=True)

    def median(runs: list[tuple[float, int]]) -> float:
        return statistics.median(seconds for seconds, _ in runs)

    print(f"full rebuild ({full[0][1]} chunks):         median {median(full):.2f} s")
    print(f"one file modified ({incremental[0][1]} chunks):   median {median(incremental):.2f} s")
    print(f"nothing changed (0 chunks):        median {median(unchanged):.3f} s")
    print(f"full / incremental ratio: {median(full) / median(incremental):.1f}x")


if __name__ == "__main__":
    main()

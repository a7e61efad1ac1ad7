"""The embedded memory at about 1k, 10k and 100k chunks: qdrant-client's embedded mode (what
releases before Qdrant Edge used) and Qdrant Edge (the default now), side by side in one run.

For each size and engine, on a synthetic persona in TwinSelf's data layout (built in one
process, then served from a fresh one, as `twinself rebuild` and `twinself serve` run):

- build: `rebuild --create-version` of the whole persona (store time measured; the embedding
  time is the measured MiniLM rate times the texts, see below), then a second version with one
  file changed (incremental);
- retrieval p50 / p99: the server's retriever (the question embedded by the real MiniLM on one
  torch thread, as `twinself serve` runs it, plus the three searches);
- RSS of the serving process after warm-up, and after a version switch (both versions open while
  in-flight requests finish);
- switch: with requests running back to back, `versions activate v2`: the longest request
  that overlapped the switch (against the steady p99: the pause a request in flight sees),
  and the time from the registry write to answering from the new version;
- `twinself doctor`'s wall time, its own process, after the serving process exits.

Embedding 100k chunks (~250k texts) with MiniLM takes about an hour on a busy 2-core box, so
the builds reuse vectors: each text gets the real embedding of one of 128 persona texts plus a
small deterministic jitter (so no two points coincide). The real embedding rate is measured
first on real persona texts, and the build column adds texts / rate to the store time.

    nice -n 5 .venv/bin/python benchmarks/memory_scale.py [--sizes 1000 10000 100000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from _sample_twin import benchmark_settings, percentile

from twinself.embedding.embedder import Embedder, ProgressCallback
from twinself.memory.documents import MemoryType, chunk_file, list_source_files

ENGINES = ("qdrant-local", "edge")
POOL = 128  # real embeddings the build vectors are drawn from
QUESTIONS = [
    "Where do you work?",
    "What do you do in your free time?",
    "Which conference talk did you give about streaming?",
    "What do you think about Kubernetes?",
    "Tell me about the garden project in 2019.",
    "How do you handle disagreements at work?",
]
_WORDS = (
    "river lantern copper orchard harbour meadow signal archive violet granite compiler "
    "kernel sourdough ferry library marathon telescope cedar pottery glacier festival "
    "robot ledger canyon quartz tram bakery museum saxophone chess pepper falcon"
).split()


def _sentence(rng: np.random.Generator, n: int) -> str:
    return " ".join(rng.choice(_WORDS, size=n)).capitalize() + "."


def write_persona(data: Path, chunks: int) -> None:
    """About `chunks` chunks: 70% facts (two-paragraph sections), 25% episodes, 5% rules."""
    rng = np.random.default_rng(chunks)
    shutil.copytree(Path(__file__).parents[1] / "src/twinself/sample_data", data)
    semantic, episodic = int(chunks * 0.70), int(chunks * 0.25)
    procedural = max(1, chunks - semantic - episodic)
    per_file = 100
    for f in range(0, semantic, per_file):
        sections = [
            f"## Topic {f + i}\n\nIn {2000 + i % 25} I {_sentence(rng, 18)} {_sentence(rng, 12)}"
            f"\n\n{_sentence(rng, 20)} {_sentence(rng, 10)}\n"
            for i in range(min(per_file, semantic - f))
        ]
        (data / "semantic_data" / f"facts_{f:06d}.md").write_text(
            f"# Facts {f}\n\n" + "\n".join(sections), encoding="utf-8"
        )
    for f in range(0, episodic, 200):
        entries = [
            {"user_query": _sentence(rng, 9) + "?", "your_response": _sentence(rng, 30)}
            for _ in range(min(200, episodic - f))
        ]
        (data / "episodic_data" / f"episodes_{f:06d}.json").write_text(
            json.dumps(entries), encoding="utf-8"
        )
    rules = [
        {"rule_name": f"rule_{i}", "rule_content": _sentence(rng, 25)} for i in range(procedural)
    ]
    (data / "procedural_data" / "generated_rules.json").write_text(
        json.dumps(rules), encoding="utf-8"
    )


def persona_texts(data: Path, settings: Any) -> tuple[int, list[str]]:
    chunks = [
        c
        for m in MemoryType
        for s in list_source_files(data, m)
        for c in chunk_file(s, settings.chunk_size, settings.chunk_overlap)
    ]
    return len(chunks), [t for c in chunks for t in c.all_embedding_texts]


class ReusedVectors:
    """Real query embeddings; document vectors reused from a pool of real ones, jittered."""

    def __init__(self, real: Embedder, pool_texts: Sequence[str]) -> None:
        self._real = real
        self.model_name, self.dimension = real.model_name, real.dimension
        self._pool = np.asarray(real.embed_documents(list(pool_texts)), dtype=np.float32)

    def embed_documents(
        self, texts: Sequence[str], on_progress: ProgressCallback | None = None
    ) -> list[list[float]]:
        out = []
        for text in texts:
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
            rng = np.random.default_rng(seed)
            v = self._pool[seed % len(self._pool)] + rng.normal(0, 0.02, self.dimension)
            out.append((v / np.linalg.norm(v)).tolist())
        if on_progress is not None:
            on_progress(len(texts))
        return out

    def embed_query(self, text: str) -> list[float]:
        return self._real.embed_query(text)


def build(engine: str, data: Path, home: Path) -> dict[str, Any]:
    """v1 from the whole persona, then v2 (inactive) after one file changed."""
    from twinself.embedding.sentence_transformer import build_embedder
    from twinself.memory import store as store_module
    from twinself.memory.version_builder import create_version

    store_module.EMBEDDED_ENGINE = engine  # type: ignore[assignment]
    settings = benchmark_settings(home=home, data_dir=data)
    _, texts = persona_texts(data, settings)
    embedder = ReusedVectors(build_embedder(settings), texts[:: max(1, len(texts) // POOL)][:POOL])
    started = time.perf_counter()
    v1 = create_version(settings, embedder).version.id
    seconds = time.perf_counter() - started
    changed = sorted((data / "semantic_data").glob("facts_*.md"))[0]
    with changed.open("a", encoding="utf-8") as f:
        f.write("\n## Beehives\n\nI keep two beehives on the roof since 2021.\n")
    started = time.perf_counter()
    v2 = create_version(settings, embedder, activate=False).version.id
    return {
        "v1": v1,
        "v2": v2,
        "build_store_s": seconds,
        "incremental_s": time.perf_counter() - started,
    }


def serve(engine: str, data: Path, home: Path, queries: int, v2: str) -> dict[str, Any]:
    """A fresh process, as `twinself serve`: the build's memory never inflates its RSS."""
    from twinself.embedding import sentence_transformer
    from twinself.embedding.sentence_transformer import build_embedder
    from twinself.memory import store as store_module
    from twinself.memory.version_lifecycle import activate_version

    try:  # moved to its own module on main (issue 15's footprint work)
        from twinself.embedding.cpu_threads import use_one_cpu_thread  # type: ignore[import-not-found]
    except ImportError:
        use_one_cpu_thread = sentence_transformer.use_one_cpu_thread
    from twinself.server.active_memory import ActiveMemory
    from twinself.twin.factory import TwinRuntime

    store_module.EMBEDDED_ENGINE = engine  # type: ignore[assignment]
    settings = benchmark_settings(home=home, data_dir=data)
    use_one_cpu_thread()  # as the server runs
    embedder = build_embedder(settings)
    process = psutil.Process()
    runtime = TwinRuntime.open(settings, embedder)
    active = ActiveMemory(settings, runtime, poll_seconds=0.05)
    active.start()
    try:
        for q in QUESTIONS:  # warm-up
            active.current.twin.retriever.retrieve(q)
        seconds, embed, search = [], [], []
        for i in range(queries):
            t = time.perf_counter()
            found = active.current.twin.retriever.retrieve(QUESTIONS[i % len(QUESTIONS)])
            seconds.append(time.perf_counter() - t)
            windows = found.timings
            embed.append(windows["embed"][1] - windows["embed"][0])
            search.append(sum(e - s for k, (s, e) in windows.items() if k != "embed"))
        rss = process.memory_info().rss
        samples: list[tuple[float, float]] = []
        stop = threading.Event()

        def traffic() -> None:
            i = 0
            while not stop.is_set():
                t = time.perf_counter()
                active.current.twin.retriever.retrieve(QUESTIONS[i % len(QUESTIONS)])
                samples.append((t, time.perf_counter()))
                i += 1

        ticks: list[tuple[float, float]] = []  # (when, how late): a thread asking for 1 ms

        def ticker() -> None:
            last = time.perf_counter()
            while not stop.is_set():
                time.sleep(0.001)
                now = time.perf_counter()
                ticks.append((now, now - last - 0.001))
                last = now

        thread, tick_thread = threading.Thread(target=traffic), threading.Thread(target=ticker)
        thread.start()
        tick_thread.start()
        time.sleep(1.0)
        written = time.perf_counter()
        activate_version(settings, v2)
        while active.current.data_version != v2:
            time.sleep(0.005)
        switched = time.perf_counter()
        time.sleep(1.0)
        stop.set()
        thread.join()
        tick_thread.join()
        rss_after = process.memory_info().rss
    finally:
        active.close()
    around = [e - s for s, e in samples if e >= written and s <= switched + 0.2]
    return {
        "p50_ms": percentile(seconds, 0.5) * 1000,
        "p99_ms": percentile(seconds, 0.99) * 1000,
        "embed_p50_ms": percentile(embed, 0.5) * 1000,
        "search_p50_ms": percentile(search, 0.5) * 1000,
        "search_p99_ms": percentile(search, 0.99) * 1000,
        "rss_mb": rss / 2**20,
        "rss_after_switch_mb": rss_after / 2**20,
        # The longest request overlapping the switch, against the p99 of steady traffic.
        "worst_in_switch_ms": max(around, default=0.0) * 1000,
        "switch_s": switched - written,
        # How long the process stopped running Python (the GIL held by the switch, or the OS
        # not scheduling it), in the switch window and in the steady second before it.
        "stall_in_switch_ms": max(
            (g for t, g in ticks if written <= t <= switched + 0.2), default=0
        )
        * 1000,
        "stall_steady_ms": max((g for t, g in ticks if t < written), default=0) * 1000,
    }


def doctor_seconds(engine: str, data: Path, home: Path) -> float:
    code = (
        "import sys; import twinself.memory.store as s; s.EMBEDDED_ENGINE = sys.argv[1]; "
        "sys.argv = ['twinself', 'doctor']; from twinself.cli.app import main; main()"
    )
    env = {
        **os.environ,
        "TWINSELF_HOME": str(home),
        "TWINSELF_DATA_DIR": str(data),
        "TWINSELF_LLM_PROVIDER": "offline",
        "EVAL_JUDGE": "none",
    }
    env.pop("QDRANT_URL", None)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, engine], env=env, capture_output=True)
    return time.perf_counter() - started


def embedding_rate(texts: list[str]) -> float:
    """Texts per second, MiniLM as `twinself rebuild` runs it (torch's default threads)."""
    from twinself.embedding.sentence_transformer import build_embedder

    embedder = build_embedder(benchmark_settings())
    embedder.embed_documents(texts[:32])
    started = time.perf_counter()
    embedder.embed_documents(texts)
    return len(texts) / (time.perf_counter() - started)


def _run(what: str, *arguments: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, *arguments], capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr[-3000:])
        raise SystemExit(f"{what} failed")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--build", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--serve", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        engine, data, home = args.build
        print(json.dumps(build(engine, Path(data), Path(home))))
        return
    if args.serve:
        engine, data, home, v2 = args.serve
        print(json.dumps(serve(engine, Path(data), Path(home), args.queries, v2)))
        return

    root = Path(tempfile.mkdtemp(prefix="twinself-memory-scale-"))
    rows = []
    rate = None
    try:
        for size in args.sizes:
            pristine = root / f"data_{size}"
            write_persona(pristine, size)
            chunks, texts = persona_texts(pristine, benchmark_settings(data_dir=pristine))
            if rate is None:
                rate = embedding_rate(texts[:256])
                print(f"MiniLM embedding rate: {rate:.0f} texts/s (load {os.getloadavg()[0]:.1f})")
            for engine in args.engines:
                data, home = root / f"{engine}_{size}" / "data", root / f"{engine}_{size}" / "home"
                shutil.copytree(pristine, data)
                result = _run(f"{engine} at {size} chunks", "--build", engine, str(data), str(home))
                result.update(
                    _run(
                        f"{engine} at {size} chunks",
                        "--serve",
                        *(engine, str(data), str(home), result["v2"]),
                        *("--queries", str(args.queries)),
                    )
                )
                result.update(
                    engine=engine,
                    chunks=chunks,
                    texts=len(texts),
                    embed_s=len(texts) / rate,
                    doctor_s=doctor_seconds(engine, data, home),
                    load=os.getloadavg()[0],
                )
                rows.append(result)
                print(json.dumps(result), flush=True)
                shutil.rmtree(root / f"{engine}_{size}", ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\n{os.cpu_count()} cores; build = store time + texts / embedding rate ({rate:.0f}/s)")
    header = (
        f"{'chunks':>7} {'texts':>7} {'engine':<13}{'build s':>9}{'(store)':>9}{'incr s':>8}"
        f"{'p50 ms':>8}{'p99 ms':>8}{'embed':>7}{'search':>7}{'s p99':>7}{'RSS MB':>8}"
        f"{'+switch':>8}{'worst ms':>9}{'stall ms':>9}{'steady':>7}{'switch s':>9}"
        f"{'doctor s':>9}{'load':>6}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['chunks']:>7} {r['texts']:>7} {r['engine']:<13}"
            f"{r['build_store_s'] + r['embed_s']:>9.0f}{r['build_store_s']:>9.1f}"
            f"{r['incremental_s']:>8.1f}{r['p50_ms']:>8.0f}{r['p99_ms']:>8.0f}"
            f"{r['embed_p50_ms']:>7.0f}{r['search_p50_ms']:>7.1f}{r['search_p99_ms']:>7.1f}"
            f"{r['rss_mb']:>8.0f}{r['rss_after_switch_mb']:>8.0f}"
            f"{r['worst_in_switch_ms']:>9.0f}{r.get('stall_in_switch_ms', 0):>9.0f}"
            f"{r.get('stall_steady_ms', 0):>7.0f}{r['switch_s']:>9.2f}"
            f"{r['doctor_s']:>9.1f}{r['load']:>6.1f}"
        )


if __name__ == "__main__":
    main()

"""Does retrieval find the right file for questions asked the way a visitor would ask them?

Prints hit@1 / hit@3 (the expected semantic file among the top 1 / 3 distinct semantic
sources) and MRR over benchmarks/retrieval_questions.json, then how the offline answerer
handles answerable vs unanswerable questions. Target: hit@3 >= 0.95, and no answerable
question declined or withheld as an injection.

    .venv/bin/python benchmarks/retrieval_accuracy.py
"""

from __future__ import annotations

import json
import sys
import time

from _sample_twin import BENCHMARKS, benchmark_settings, built_runtime

from twinself.llm.declines import REFUSALS
from twinself.llm.extractive import DONT_KNOW


def distinct_sources(passages: tuple) -> list[str]:  # type: ignore[type-arg]
    seen: list[str] = []
    for passage in passages:
        if passage.source not in seen:
            seen.append(passage.source)
    return seen


def main() -> int:
    questions = json.loads((BENCHMARKS / "retrieval_questions.json").read_text(encoding="utf-8"))
    unanswerable = json.loads(
        (BENCHMARKS / "unanswerable_questions.json").read_text(encoding="utf-8")
    )
    runtime = built_runtime(benchmark_settings())
    twin = runtime.twin()
    hits1 = hits3 = 0
    reciprocal = 0.0
    misses = []
    latencies = []
    answered = refused = 0
    refusals = set(REFUSALS.values())
    for item in questions:
        started = time.perf_counter()
        memory = twin.retriever.retrieve(item["question"])
        latencies.append(time.perf_counter() - started)
        ranked = distinct_sources(memory.semantic)
        expected = item["expected_source"]
        hits1 += ranked[:1] == [expected]
        hits3 += expected in ranked[:3]
        reciprocal += 1 / (ranked.index(expected) + 1) if expected in ranked else 0
        if expected not in ranked[:3]:
            misses.append((item["question"], expected, ranked[:3]))
        answer = twin.answer(item["question"])
        answered += answer.response != DONT_KNOW
        # An ordinary question must never be declined or withheld as an injection.
        refused += answer.response in refusals or bool(answer.withheld)
    honest = sum("don't know" in twin.answer(q).response.lower() for q in unanswerable)
    runtime.close()

    n = len(questions)
    latencies.sort()
    print(f"questions: {n} answerable, {len(unanswerable)} unanswerable")
    print(f"retrieval hit@1: {hits1 / n:.3f}  hit@3: {hits3 / n:.3f}  MRR: {reciprocal / n:.3f}")
    print(
        f"retrieval latency (embed + 3 searches): p50 {latencies[n // 2] * 1000:.1f} ms, "
        f"max {latencies[-1] * 1000:.1f} ms"
    )
    print(
        f"offline answerer: answered {answered}/{n} answerable; "
        f"said it doesn't know for {honest}/{len(unanswerable)} unanswerable; "
        f"declined or withheld {refused}/{n} answerable (must be 0)"
    )
    for question, expected, got in misses:
        print(f"  miss: {question!r} expected {expected}, top 3: {got}")
    return 0 if hits3 / n >= 0.95 and refused == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

"""How often does the offline judge rank a labelled pair the right way round?

For each case in benchmarks/judge_cases.json: faithfulness(faithful answer) must be higher than
faithfulness(the same answer with one or two facts changed), and answer relevancy(relevant
answer) higher than relevancy(an off-topic answer in the same voice). Ties count as wrong.
Target: >= 0.90 for both. (The Ragas paper reports 0.95 faithfulness and 0.78 answer relevance
agreement with human judges, with GPT-3.5 as the judge.)

    .venv/bin/python benchmarks/judge_agreement.py
"""

from __future__ import annotations

import json
import sys
import time

from _sample_twin import BENCHMARKS, benchmark_settings

from twinself.evaluation.local_judge import LocalJudge
from twinself.memory.embedding import build_embedder


def main() -> int:
    cases = json.loads((BENCHMARKS / "judge_cases.json").read_text(encoding="utf-8"))
    judge = LocalJudge(build_embedder(benchmark_settings()))
    faithful_right = relevant_right = 0
    started = time.perf_counter()
    for case in cases:
        good = judge.faithfulness(case["faithful_answer"], case["context"])
        bad = judge.faithfulness(case["unfaithful_answer"], case["context"])
        if good.score > bad.score:
            faithful_right += 1
        else:
            print(f"  faithfulness miss: {case['question']!r}: {good.score:.2f} vs {bad.score:.2f}")
            print(f"    faithful: {good.reason}\n    unfaithful: {bad.reason}")
        on = judge.answer_relevancy(case["question"], case["relevant_answer"])
        off = judge.answer_relevancy(case["question"], case["off_topic_answer"])
        if on.score > off.score:
            relevant_right += 1
        else:
            print(f"  relevancy miss: {case['question']!r}: {on.score:.2f} vs {off.score:.2f}")
    seconds = time.perf_counter() - started
    n = len(cases)
    print(f"{n} labelled cases, judge={'local-embedding'}")
    print(f"faithfulness pairs ranked correctly: {faithful_right}/{n} = {faithful_right / n:.3f}")
    print(
        f"answer relevancy pairs ranked correctly: {relevant_right}/{n} = {relevant_right / n:.3f}"
    )
    print(f"{4 * n} judgements in {seconds:.1f} s ({seconds / (4 * n) * 1000:.0f} ms each)")
    return 0 if min(faithful_right, relevant_right) / n >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())

"""The offline answerer on personas it was never tuned on (benchmarks/unseen_personas/).

For each persona: build its memory, then
- answerable questions: is the expected file the top semantic source (top-1 retrieval), and does
  the answer hold every expected fact (each fact: any one of its spellings, ignoring case)?
- unanswerable questions: does the twin say it doesn't know, with no fragment of memory?
Per persona and split ("dev" may be tuned on; "test" is what counts). Targets (issue 14):
facts >= 0.75, "I don't know" >= 0.9, top-1 retrieval >= 0.92, all on the test split.

    .venv/bin/python benchmarks/offline_answers.py [--dev | --holdout] [--misses]
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

from _sample_twin import benchmark_settings, built_runtime
from _unseen_personas import SPLITS, by_split, counted, in_split, personas

from twinself.llm.extractive import DONT_KNOW
from twinself.twin.twin import Twin

TARGETS = {"facts": 0.75, "dont_know": 0.9, "top1": 0.92}


@dataclass
class AnswerTally:
    answerable: int = 0
    with_facts: int = 0
    top1: int = 0
    unanswerable: int = 0
    dont_know: int = 0
    seconds: float = 0.0  # spent in twin.answer (retrieval and answering)
    misses: list[str] = field(default_factory=list)

    def add(self, other: AnswerTally) -> None:
        for name in ("answerable", "with_facts", "top1", "unanswerable", "dont_know", "seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def rates(self) -> dict[str, float]:
        return {
            "facts": self.with_facts / self.answerable if self.answerable else 0.0,
            "dont_know": self.dont_know / self.unanswerable if self.unanswerable else 0.0,
            "top1": self.top1 / self.answerable if self.answerable else 0.0,
        }

    def line(self, name: str) -> str:
        rates = self.rates()
        return (
            f"{name:<24} facts {self.with_facts:>3}/{self.answerable:<3} = {rates['facts']:.3f}"
            f"   don't know {self.dont_know:>2}/{self.unanswerable:<2} = {rates['dont_know']:.3f}"
            f"   top-1 file {self.top1:>3}/{self.answerable:<3} = {rates['top1']:.3f}"
            f"   {self.ms_per_answer():.0f} ms/answer"
        )

    def ms_per_answer(self) -> float:
        asked = self.answerable + self.unanswerable
        return 1000 * self.seconds / asked if asked else 0.0


def first_source(twin: Twin, question: str) -> str | None:
    semantic = twin.retriever.retrieve(question).semantic
    return semantic[0].source if semantic else None


def ask(twin: Twin, questions: dict[str, list[dict[str, Any]]]) -> AnswerTally:
    tally = AnswerTally()

    def answer(question: str) -> str:
        started = time.perf_counter()
        response = twin.answer(question).response
        tally.seconds += time.perf_counter() - started
        return response

    for item in questions["answerable"]:
        tally.answerable += 1
        tally.top1 += first_source(twin, item["question"]) == item["expected_source"]
        response = answer(item["question"])
        missing = [
            group for group in item["expected_facts"]
            if not any(spelling.lower() in response.lower() for spelling in group)
        ]  # fmt: skip
        if missing:
            tally.misses.append(f"  {item['id']} {item['question']!r}: missing {missing}\n"
                                f"    answer: {response!r}")  # fmt: skip
        else:
            tally.with_facts += 1
    for item in questions["unanswerable"]:
        tally.unanswerable += 1
        response = answer(item["question"])
        if response == DONT_KNOW:
            tally.dont_know += 1
        else:
            tally.misses.append(f"  {item['id']} {item['question']!r} (unanswerable): {response!r}")
    return tally


def main() -> int:
    show_misses = "--misses" in sys.argv
    totals = {split: AnswerTally() for split in SPLITS}
    for persona in personas():
        runtime = built_runtime(benchmark_settings(data_dir=persona.data_dir))
        twin = runtime.twin()
        questions = persona.questions()
        for split, answerable in by_split(questions["answerable"]):
            unanswerable = in_split(questions["unanswerable"], split)
            tally = ask(twin, {"answerable": answerable, "unanswerable": unanswerable})
            totals[split].add(tally)
            print(tally.line(f"{persona.slug} {split}"))
            if show_misses and split == "dev":  # test misses are not for reading while tuning
                print("\n".join(tally.misses))
        runtime.close()
    for split, tally in totals.items():
        print(tally.line(f"all personas {split}"))
    test = counted(totals).rates()
    return 0 if all(test[name] >= target for name, target in TARGETS.items()) else 1


if __name__ == "__main__":
    sys.exit(main())

"""The offline judge on the unseen personas: the figures issue 14 sets its goals on.

Faithfulness: for every item, every (faithful, unfaithful) answer pair must be ranked the right
way round (ties are wrong); the mean score per error kind shows whether one changed detail costs
less than three. Relevancy: balanced accuracy at the pass mark, with every faithful answer as an
on-topic answer (it must pass) and every off-topic answer (it must fail).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from _unseen_personas import SPLITS, Persona, by_split

from twinself.evaluation.local_judge import LocalJudge

PASS_MARK = 0.7  # EVAL_RELEVANCY_THRESHOLD's and EVAL_FAITHFULNESS_THRESHOLD's default


@dataclass
class JudgeTally:
    pairs: int = 0
    ordered: int = 0
    on_topic: int = 0
    on_topic_pass: int = 0
    off_topic: int = 0
    off_topic_fail: int = 0
    judgements: int = 0
    seconds: float = 0.0
    scores_by_error: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    misses_by_error: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    fails_by_style: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    passes_by_kind: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    misses: list[str] = field(default_factory=list)

    @property
    def pair_accuracy(self) -> float:
        return self.ordered / self.pairs if self.pairs else 0.0

    @property
    def balanced_accuracy(self) -> float:
        if not (self.on_topic and self.off_topic):
            return 0.0
        return (self.on_topic_pass / self.on_topic + self.off_topic_fail / self.off_topic) / 2

    def add(self, other: JudgeTally) -> None:
        for name in ("pairs", "ordered", "on_topic", "on_topic_pass", "off_topic",
                     "off_topic_fail", "judgements", "seconds"):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for kind, scores in other.scores_by_error.items():
            self.scores_by_error[kind].extend(scores)
        for mine, theirs in (
            (self.misses_by_error, other.misses_by_error),
            (self.fails_by_style, other.fails_by_style),
            (self.passes_by_kind, other.passes_by_kind),
        ):
            for key, count in theirs.items():
                mine[key] += count

    def line(self, name: str) -> str:
        ms = self.seconds / self.judgements * 1000 if self.judgements else 0.0
        return (
            f"{name:<24} faithfulness {self.ordered:>3}/{self.pairs:<3} = {self.pair_accuracy:.3f}"
            f"   relevancy balanced accuracy {self.balanced_accuracy:.3f} "
            f"(on-topic pass {self.on_topic_pass}/{self.on_topic}, "
            f"off-topic fail {self.off_topic_fail}/{self.off_topic})   {ms:.0f} ms/judgement"
        )


def judge_items(judge: LocalJudge, items: list[dict[str, Any]]) -> JudgeTally:
    tally = JudgeTally()
    started = time.perf_counter()
    for item in items:
        question, context = item["question"], item["context"]
        faithful = [
            (a, judge.faithfulness(a["answer"], context, question))
            for a in item["faithful_answers"]
        ]
        unfaithful = [
            (a, judge.faithfulness(a["answer"], context, question))
            for a in item["unfaithful_answers"]
        ]
        for bad, bad_score in unfaithful:
            tally.scores_by_error[bad["error"]].append(bad_score.score)
            for good, good_score in faithful:
                tally.pairs += 1
                if good_score.score > bad_score.score:
                    tally.ordered += 1
                    continue
                tally.misses_by_error[bad["error"]] += 1
                tally.misses.append(
                    f"  faithfulness {item['id']} ({good.get('style')} vs {bad['error']}): "
                    f"{good_score.score:.2f} vs {bad_score.score:.2f}\n"
                    f"    faithful: {good_score.reason}\n    unfaithful: {bad_score.reason}"
                )
        for good in item["faithful_answers"]:
            score = judge.answer_relevancy(question, good["answer"]).score
            tally.on_topic += 1
            if score >= PASS_MARK:
                tally.on_topic_pass += 1
            else:
                tally.fails_by_style[good.get("style", "?")] += 1
                tally.misses.append(f"  relevancy {item['id']} on-topic failed: {score:.2f}")
        for off in item["off_topic_answers"]:
            score = judge.answer_relevancy(question, off["answer"]).score
            tally.off_topic += 1
            if score < PASS_MARK:
                tally.off_topic_fail += 1
            else:
                tally.passes_by_kind[off["kind"]] += 1
                tally.misses.append(
                    f"  relevancy {item['id']} off-topic ({off['kind']}) passed: {score:.2f}"
                )
        tally.judgements += len(faithful) * 2 + len(unfaithful) + len(item["off_topic_answers"])
    tally.seconds = time.perf_counter() - started
    return tally


def report(judge: LocalJudge, personas: list[Persona], show_misses: bool) -> dict[str, JudgeTally]:
    """Prints a line per persona and split, then the totals; returns the totals per split."""
    totals = {split: JudgeTally() for split in SPLITS}
    for persona in personas:
        for split, items in by_split(persona.judge_cases()):
            tally = judge_items(judge, items)
            totals[split].add(tally)
            print(tally.line(f"{persona.slug} {split}"))
            if show_misses and split == "dev":  # test misses are not for reading while tuning
                print("\n".join(tally.misses))
    for split, tally in totals.items():
        print(tally.line(f"all personas {split}"))
    # Broken down for the dev split only: the test split's details are not for tuning on.
    if "dev" not in totals:
        return totals
    dev = totals["dev"]
    kinds = sorted(dev.scores_by_error)
    print("dev: mean faithfulness by error kind (pairs missed): " + ", ".join(
        f"{kind} {sum(dev.scores_by_error[kind]) / len(dev.scores_by_error[kind]):.2f} "
        f"({dev.misses_by_error.get(kind, 0)})"
        for kind in kinds
    ))  # fmt: skip
    print(f"dev: on-topic fails by style {dict(dev.fails_by_style)}; "
          f"off-topic passes by kind {dict(dev.passes_by_kind)}")  # fmt: skip
    return totals

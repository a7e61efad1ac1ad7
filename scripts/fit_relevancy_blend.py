"""Fit how the local judge's relevancy blends its rules with the answer-match scorer.

relevancy = sigmoid(RULES * rules score + MATCH * answer-match probability + BIAS): a logistic
regression of on-topic (1) against off-topic (0) answers, fitted on
- the dev split of the unseen personas the scorer was NOT trained on (any persona outside
  TRAINED_ON of build_answer_match_pairs.py): on the others it has seen the answers;
- and the sample persona's 86 cases (benchmarks/judge_cases.json), the twin a new owner meets
  first: fitted on the two personas alone, the blend let only 39 of its 86 relevant answers
  pass (the scorer gives them 0.41 on average), against 74 with the rules.
BIAS is then moved so the cut with the best balanced accuracy lands on the
pass mark, 0.7. Prints the three constants for evaluation/local_judge.py.

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/fit_relevancy_blend.py
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
from build_answer_match_pairs import BENCHMARKS, TRAINED_ON

from twinself.config.settings import Settings
from twinself.embedding.pair_scorer import open_pair_scorer
from twinself.embedding.sentence_transformer import build_embedder
from twinself.evaluation.local_judge import LocalJudge
from twinself.llm.answer_match import ANSWER_MATCH

PASS_MARK = 0.7


def logistic_fit(features: np.ndarray, labels: np.ndarray, steps: int = 50) -> np.ndarray:
    """Newton's method on the log-loss; returns the weights, the bias last."""
    x = np.hstack([features, np.ones((len(features), 1))])
    w = np.zeros(x.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-x @ w))
        hessian = x.T @ (x * (p * (1 - p))[:, None]) + 1e-6 * np.eye(len(w))
        w -= np.linalg.solve(hessian, x.T @ (p - labels))
    return w


def balanced_accuracy(scores: np.ndarray, labels: np.ndarray, cut: float) -> float:
    on, off = scores[labels == 1], scores[labels == 0]
    return float(((on >= cut).mean() + (off < cut).mean()) / 2)


def main(home: str) -> None:
    settings = Settings(_env_file=None, home=Path(home))  # type: ignore[call-arg]
    scorer = open_pair_scorer(settings, ANSWER_MATCH)
    if scorer is None:
        sys.exit(f"no trained answer-match scorer under {home}: run `twinself export-onnx` first")
    rules = LocalJudge(build_embedder(settings))  # the rules alone
    rows, labels = [], []
    for folder in sorted((BENCHMARKS / "unseen_personas").iterdir()):
        if folder.name in TRAINED_ON or not (folder / "judge_cases.json").exists():
            continue
        for item in json.loads((folder / "judge_cases.json").read_text(encoding="utf-8")):
            if item["split"] != "dev":
                continue
            for key, label in (("faithful_answers", 1), ("off_topic_answers", 0)):
                for answer in item[key]:
                    question, text = item["question"], answer["answer"]
                    score = rules.answer_relevancy(question, text).score
                    rows.append((score, scorer.score(question, text)))
                    labels.append(label)
    for case in json.loads((BENCHMARKS / "judge_cases.json").read_text(encoding="utf-8")):
        for key, label in (("relevant_answer", 1), ("off_topic_answer", 0)):
            score = rules.answer_relevancy(case["question"], case[key]).score
            rows.append((score, scorer.score(case["question"], case[key])))
            labels.append(label)
    features, y = np.array(rows), np.array(labels, dtype=float)
    w = logistic_fit(features, y)
    scores = 1 / (1 + np.exp(-(features @ w[:2] + w[2])))
    cut = max(np.linspace(0.05, 0.95, 181), key=lambda c: balanced_accuracy(scores, y, c))
    bias = w[2] - math.log(cut / (1 - cut)) + math.log(PASS_MARK / (1 - PASS_MARK))
    best = balanced_accuracy(scores, y, cut)
    print(f"{len(y)} answers; balanced accuracy {best:.3f} at {cut:.3f}")
    print(f"RULES = {w[0]:.2f}\nMATCH = {w[1]:.2f}\nBIAS = {bias:.2f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.gettempdir() + "/twinself-bench-scorers")

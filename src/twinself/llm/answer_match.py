"""The answer-match pair scorer (embedding/pair_scorer.py): the probability that a text answers
a question. First text: the visitor's question; second: an answer or a memory sentence.

It sees what cosine between two sentence vectors cannot: "I became a British citizen in
November 2021" is close to "When did you move to Manchester?" and shares its setting, but
answers another question. The local judge blends it into answer relevancy. The offline
answerer does not use it: declining when none of its 8 closest sentences scored >= t cost more
answerable questions than it won unanswerable ones at every t on the dev split (facts 58/70,
"I don't know" 18/30 without it; t=0.3: 55 and 18; t=0.5: 36 and 22).

Trained by `twinself export-onnx` from answer_match_pairs.json, built by
scripts/build_answer_match_pairs.py from the unseen personas' dev items and the sample persona.
"""

from __future__ import annotations

import json
from pathlib import Path

from twinself.embedding.pair_scorer_training import TrainingPair, TrainingPlan

ANSWER_MATCH = "answer-match"
PAIRS_FILE = Path(__file__).with_name("answer_match_pairs.json")
# About 1,700 pairs, twice through: within the 4 minutes `export-onnx` may take on two
# cores (the pairs are few: a higher rate than the default, or they barely move the head).
ANSWER_MATCH_PLAN = TrainingPlan(epochs=2, batch_size=16, learning_rate=1e-4, max_length=128)


def answer_match_pairs() -> list[TrainingPair]:
    rows = json.loads(PAIRS_FILE.read_text(encoding="utf-8"))
    return [TrainingPair(r["question"], r["text"], float(r["label"])) for r in rows]

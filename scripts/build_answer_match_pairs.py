"""Build the answer-match scorer's training pairs (src/twinself/llm/answer_match_pairs.json).

A pair is (question, text, label): 1 when the text answers the question, 0 when it does not.
Made ONLY from the unseen personas' dev items and the sample persona (issue 14's rule):
- 1: a dev judge item's faithful answers, and its unfaithful ones (a wrong fact still answers
  the question asked); a dev answerable question's memory sentences holding its expected facts
  (in its expected file); the sample persona's relevant and faithful answers
  (benchmarks/judge_cases.json) and its example conversations;
- 0: a dev judge item's off-topic answers (a neighbouring question's true fact, evasive, generic,
  another person's); the answers the same persona gives to its other dev questions, the closest
  first (sentence embeddings); for a dev unanswerable question, its nearest memory sentences;
  the same for the sample persona's unanswerable questions and example conversations.
Test items are never read: `split` is checked before an item's text is used.

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/build_answer_match_pairs.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from twinself.embedding.sentence_transformer import resolve_model_location
from twinself.llm.answer_match import PAIRS_FILE
from twinself.text.sentences import split_sentences

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
SAMPLE = ROOT / "src" / "twinself" / "sample_data"
CLOSE_OTHERS = 3  # other questions' answers per question, the closest ones
NEAREST_MEMORY = 3  # memory sentences per unanswerable question
# The personas the shipped pairs were built from. Personas that join unseen_personas later stay
# out, so their dev split is one the scorer never saw (the relevancy blend is fitted there:
# scripts/fit_relevancy_blend.py).
TRAINED_ON = ("anneke_visser", "ines_carvalho", "ji_woo_park", "kofi_mensah", "rafael_dominguez")
_BULLET = re.compile(r"^\s*(?:[-*+\u2022]|\d+[.)])\s+")


def read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def memory_sentences(folder: Path) -> dict[str, list[str]]:
    """Sentences of each semantic file, as the offline answerer reads them."""
    files: dict[str, list[str]] = {}
    for path in sorted((folder / "semantic_data").glob("*.md")):
        sentences: list[str] = []
        for line in path.read_text(encoding="utf-8").splitlines():
            line = _BULLET.sub("", line).strip()
            if line and not line.startswith(("#", "|", "```")):
                sentences += [s for s in split_sentences(line) if len(s) >= 12]
        files[path.name] = sentences
    return files


class Nearest:
    def __init__(self) -> None:
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(resolve_model_location("all-MiniLM-L6-v2"), device="cpu")
        self._vectors: dict[str, Any] = {}

    def _embed(self, texts: list[str]) -> Any:
        import numpy as np

        new = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if new:
            encoded = self._model.encode(new, normalize_embeddings=True, batch_size=64)
            self._vectors.update(zip(new, encoded, strict=True))
        return np.stack([self._vectors[t] for t in texts])

    def rank(self, query: str, texts: list[str]) -> list[str]:
        if not texts:
            return []
        scores = self._embed(texts) @ self._embed([query])[0]
        return [texts[i] for i in scores.argsort()[::-1]]


def holds(sentence: str, facts: list[list[str]]) -> bool:
    return any(s.lower() in sentence.lower() for group in facts for s in group)


def persona_pairs(folder: Path, nearest: Nearest) -> list[tuple[str, str, float]]:
    pairs: list[tuple[str, str, float]] = []
    items = [i for i in read(folder / "judge_cases.json") if i["split"] == "dev"]
    questions = read(folder / "answer_questions.json")
    answerable = [q for q in questions["answerable"] if q["split"] == "dev"]
    unanswerable = [q for q in questions["unanswerable"] if q["split"] == "dev"]
    memory = memory_sentences(folder / "data")
    answers: dict[str, list[str]] = {}  # question -> texts that answer it
    for item in items:
        good = [a["answer"] for a in item["faithful_answers"] + item["unfaithful_answers"]]
        answers[item["question"]] = good
        pairs += [(item["question"], a["answer"], 0.0) for a in item["off_topic_answers"]]
    for q in answerable:
        file = memory.get(q["expected_source"], [])
        answers[q["question"]] = [s for s in file if holds(s, q["expected_facts"])][:3]
    for question, good in answers.items():
        pairs += [(question, text, 1.0) for text in good]
        others = [t for other, texts in answers.items() if other != question for t in texts[:1]]
        for text in nearest.rank(question, others)[:CLOSE_OTHERS]:
            pairs.append((question, text, 0.0))
    everything = [s for file in memory.values() for s in file]
    for q in unanswerable:
        for text in nearest.rank(q["question"], everything)[:NEAREST_MEMORY]:
            pairs.append((q["question"], text, 0.0))
    return pairs


def sample_pairs(nearest: Nearest) -> list[tuple[str, str, float]]:
    pairs: list[tuple[str, str, float]] = []
    cases = read(BENCHMARKS / "judge_cases.json")
    answers: dict[str, list[str]] = {}
    for case in cases:
        good = list(dict.fromkeys([case["relevant_answer"], case["faithful_answer"]]))
        answers[case["question"]] = good
        pairs.append((case["question"], case["off_topic_answer"], 0.0))
    for path in sorted((SAMPLE / "episodic_data").glob("*.json")):
        for example in read(path):
            answers.setdefault(example["user_query"], []).append(example["your_response"])
    for question, good in answers.items():
        pairs += [(question, text, 1.0) for text in good]
        others = [t for other, texts in answers.items() if other != question for t in texts[:1]]
        for text in nearest.rank(question, others)[:2]:
            pairs.append((question, text, 0.0))
    everything = [s for file in memory_sentences(SAMPLE).values() for s in file]
    for question in read(BENCHMARKS / "unanswerable_questions.json"):
        for text in nearest.rank(question, everything)[:NEAREST_MEMORY]:
            pairs.append((question, text, 0.0))
    return pairs


def main() -> None:
    nearest = Nearest()
    pairs = sample_pairs(nearest)
    for slug in TRAINED_ON:
        pairs += persona_pairs(BENCHMARKS / "unseen_personas" / slug, nearest)
    unique = list(dict.fromkeys(pairs))
    rows = [{"question": q, "text": t, "label": label} for q, t, label in unique]
    PAIRS_FILE.write_text(json.dumps(rows, indent=0, ensure_ascii=False) + "\n", encoding="utf-8")
    positives = sum(r["label"] == 1.0 for r in rows)
    print(f"{len(rows)} pairs ({positives} answer, {len(rows) - positives} not) -> {PAIRS_FILE}")


if __name__ == "__main__":
    main()

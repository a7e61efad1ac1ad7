"""The offline answerer says it doesn't know when the sentences about the question's topic do
not hold the kind of fact it asks for, and adds the one that does to the closest ones."""

from __future__ import annotations

from collections.abc import Sequence

from twinself.embedding.embedder import ProgressCallback
from twinself.llm.base import Passage, Prompt
from twinself.llm.extractive import DONT_KNOW, ExtractiveAnswerer

TOPICS = ("boat", "employer")


class TopicEncoder:
    """Unit vectors by topic word, so every sentence about the boat is equally close to a
    question about it: only the kind of fact can tell them apart."""

    model_name = "topics"
    dimension = len(TOPICS) + 1

    def embed_documents(
        self, texts: Sequence[str], on_progress: ProgressCallback | None = None
    ) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        found = [float(topic in text.lower()) for topic in TOPICS]
        return [*found, 0.0] if any(found) else [0.0] * len(TOPICS) + [1.0]


BOAT = (
    "I bought my wooden boat in 2022 from a fisherman. "
    "The boat is 6 metres long and has a small diesel engine. "
    "I sail the boat on Sundays with my brother. "
    "My employer lets me take Fridays off in summer."
)


def ask(question: str) -> str:
    fact = Passage("semantic", "hobbies.md", "Boat", BOAT, 0.9)
    prompt = Prompt("system", (), question, "Maya", facts=(fact,))
    return ExtractiveAnswerer(TopicEncoder()).generate(prompt).text


def test_a_question_the_topic_does_not_answer_gets_dont_know() -> None:
    assert ask("What colour is your boat?") == DONT_KNOW
    assert ask("How much did your boat cost?") == DONT_KNOW
    assert ask("What's your boat called?") == DONT_KNOW
    assert ask("How much does your employer pay you?") == DONT_KNOW


def test_the_sentence_holding_the_asked_for_fact_joins_the_answer() -> None:
    answer = ask("Does your brother sail the boat?")
    assert answer != DONT_KNOW
    assert "with my brother" in answer


def test_an_ordinary_question_is_answered_as_before() -> None:
    answer = ask("Tell me about your boat.")
    assert answer.startswith("I bought my wooden boat in 2022")


def test_an_example_that_does_not_hold_the_asked_for_fact_does_not_answer() -> None:
    fact = Passage("semantic", "career.md", "Work", "My employer lets me take Fridays off.", 0.9)
    decline = Passage("episodic", "q.json", "", "Q: How much does your employer pay you?\nA: "
                      "That's private, sorry.", 0.9)  # fmt: skip
    question = "How much does your employer pay you?"
    prompt = Prompt("system", (), question, "Maya", facts=(fact,), examples=(decline,))
    assert ExtractiveAnswerer(TopicEncoder()).generate(prompt).text == DONT_KNOW

"""The offline answerer embeds each memory sentence once, within a bounded cache; it splits
sentences by the rule the whole project shares."""

from __future__ import annotations

from collections.abc import Sequence

from twinself.embedding.embedder import ProgressCallback
from twinself.llm.base import Passage, Prompt
from twinself.llm.extractive import ExtractiveAnswerer


class CountingEncoder:
    """Deterministic unit vectors by text length; counts every text it is asked to embed."""

    model_name = "counting"
    dimension = 2

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def embed_documents(
        self, texts: Sequence[str], on_progress: ProgressCallback | None = None
    ) -> list[list[float]]:
        self.embedded.extend(texts)
        return [self.embed_query(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return [1.0, 0.0] if "kayak" in text else [0.0, 1.0]


def prompt(question: str) -> Prompt:
    fact = Passage("semantic", "hobbies.md", "Hobbies", "I paddle a sea kayak. I bake bread.", 0.9)
    return Prompt("system", (), question, "Maya", facts=(fact,))


def test_sentences_are_embedded_once_across_answers() -> None:
    encoder = CountingEncoder()
    answerer = ExtractiveAnswerer(encoder)
    first = answerer.generate(prompt("Do you kayak?")).text
    second = answerer.generate(prompt("Any kayak trips?")).text
    assert first == second == "I paddle a sea kayak."
    assert sorted(encoder.embedded) == ["I bake bread.", "I paddle a sea kayak."]


def test_cache_is_bounded() -> None:
    encoder = CountingEncoder()
    answerer = ExtractiveAnswerer(encoder, cache_size=1)
    answerer.generate(prompt("Do you kayak?"))
    answerer.generate(prompt("Do you kayak?"))
    # Two sentences, room for one: the evicted one is embedded again.
    assert len(encoder.embedded) == 3


def test_a_memory_sentence_is_split_by_the_shared_rule() -> None:
    encoder = CountingEncoder()
    text = "- My supervisor was Dr. Helena Bergqvist. We met in 2013.\n1. I paddle a sea kayak."
    fact = Passage("semantic", "education.md", "Education", text, 0.9)
    ExtractiveAnswerer(encoder).generate(Prompt("system", (), "Who?", "Maya", facts=(fact,)))
    assert encoder.embedded == [
        "My supervisor was Dr. Helena Bergqvist.",
        "We met in 2013.",
        "I paddle a sea kayak.",
    ]

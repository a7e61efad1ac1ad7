"""An answer's sources: one per file section, the chunks of a section joined at their overlap."""

from __future__ import annotations

from twinself.llm.base import Passage
from twinself.twin.retrieval import RetrievedMemory, joined_chunks, reranked

FIRST = "I studied biology in Lisbon. My master's was in the Azores, on whale sightings."
SECOND = "My master's was in the Azores, on whale sightings. Then I moved to Bergen."


def test_overlapping_chunks_join_in_document_order_whichever_comes_first() -> None:
    whole = "I studied biology in Lisbon. My master's was in the Azores, on whale sightings. " \
        "Then I moved to Bergen."  # fmt: skip
    assert joined_chunks(FIRST, SECOND) == whole
    assert joined_chunks(SECOND, FIRST) == whole
    assert joined_chunks("One thing.", "Another.") == "One thing.\nAnother."


def test_sources_keep_one_entry_per_section_at_the_best_chunks_place() -> None:
    memory = RetrievedMemory(
        semantic=(
            Passage("semantic", "education.md", "Education", SECOND, 0.7),
            Passage("semantic", "career.md", "Career", "I work in Bergen.", 0.6),
            Passage("semantic", "education.md", "Education", FIRST, 0.5),
        ),
        episodic=(
            Passage("episodic", "talk.json", "", "Q: Hi\nA: Hello", 0.4),
            Passage("episodic", "talk.json", "", "Q: Bye\nA: Bye", 0.3),
        ),
        procedural=(),
    )
    sources = memory.sources()
    assert [(s.source, s.score) for s in sources] == [
        ("education.md", 0.7), ("career.md", 0.6), ("talk.json", 0.4), ("talk.json", 0.3),
    ]  # fmt: skip
    assert sources[0].text.startswith("I studied biology") and "Bergen." in sources[0].text
    assert len(memory.passages()) == 5  # the prompt still gets every chunk


def test_reranking_lifts_the_chunk_holding_the_asked_for_words() -> None:
    pool = [
        Passage("semantic", "about.md", "About me", "I live in Bergen and love the sea.", 0.50),
        Passage("semantic", "education.md", "Education", "My supervisor was Dr. Lopes.", 0.46),
    ]
    ranked = reranked("Who was your supervisor?", pool)
    assert [p.source for p in ranked] == ["education.md", "about.md"]
    assert ranked[0].score > 0.46 and ranked[1].score == 0.50


def test_a_shared_word_does_not_lift_a_chunk_the_embedding_puts_far_below() -> None:
    pool = [
        Passage("semantic", "hobbies.md", "Hobbies", "On weekends I play board games.", 0.55),
        Passage("semantic", "contact.md", "Contact", "I answer within a day, any time.", 0.38),
    ]
    ranked = reranked("What do you do in your free time?", pool)
    assert [p.source for p in ranked] == ["hobbies.md", "contact.md"]
    assert ranked[1].score == 0.38  # 0.17 below the best: no word bonus

"""The twin end to end with the offline answerer: real store, real model, sample persona."""

from __future__ import annotations

import re

import pytest

from twinself.errors import InvalidQuestion, MemoryNotBuilt
from twinself.llm.base import ChatTurn
from twinself.llm.extractive import DONT_KNOW, fact_sentences
from twinself.memory.store import build_vector_store
from twinself.twin.factory import TwinRuntime


def test_answer_comes_with_sorted_sources_of_each_memory(built_runtime: TwinRuntime) -> None:
    answer = built_runtime.twin().answer("Which university did you study at?")
    memories = [s.memory for s in answer.sources]
    assert memories == sorted(memories, key=["semantic", "episodic", "procedural"].index)
    # Up to 7 facts: two chunks of one file section are one source.
    sections = [(s.source, s.heading) for s in answer.sources if s.memory == "semantic"]
    assert 0 < len(sections) <= 7 and len(set(sections)) == len(sections)
    assert memories.count("episodic") == 5
    assert memories.count("procedural") == 10
    for memory in ("semantic", "episodic", "procedural"):
        scores = [s.score for s in answer.sources if s.memory == memory]
        assert scores == sorted(scores, reverse=True)
    assert answer.sources[0].source == "education.md"
    assert answer.generation.usage.estimated is True
    assert answer.generation.provider == "offline"


def test_offline_answer_uses_only_retrieved_fact_sentences(built_runtime: TwinRuntime) -> None:
    twin = built_runtime.twin()
    for question in (
        "What do you do for fun?",
        "Which programming languages do you use?",
        "Where did you grow up?",
    ):
        answer = twin.answer(question)
        assert answer.response != DONT_KNOW
        retrieved = {c.text.rstrip(".") for c in fact_sentences(answer.prompt.facts)}
        # Every sentence of the answer is one of the retrieved facts' sentences, verbatim.
        for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9])", answer.response):
            assert sentence.rstrip(".") in retrieved, sentence


def test_unanswerable_question_gets_an_honest_dont_know(built_runtime: TwinRuntime) -> None:
    answer = built_runtime.twin().answer("Who did you vote for in the last election?")
    assert "don't know" in answer.response.lower()
    assert answer.sources  # still shows what was looked at


def test_streaming_and_non_streaming_give_the_same_text(built_runtime: TwinRuntime) -> None:
    twin = built_runtime.twin()
    question = "What are your hobbies?"
    stream = twin.stream(question)
    chunks = list(stream)
    assert len(chunks) > 3
    assert stream.answer is not None
    assert "".join(chunks) == stream.answer.response == twin.answer(question).response
    assert stream.sources == twin.answer(question).sources


def test_history_is_trimmed_to_the_last_turns(built_runtime: TwinRuntime) -> None:
    twin = built_runtime.twin()
    history = [ChatTurn("user" if i % 2 == 0 else "assistant", f"turn {i}") for i in range(20)]
    answer = twin.answer("And your hobbies?", history)
    assert [t.content for t in answer.prompt.messages] == [f"turn {i}" for i in range(14, 20)]
    assert (
        "Rules I follow" in answer.prompt.system and "Facts from my memory" in answer.prompt.system
    )


def test_empty_question_is_refused(built_runtime: TwinRuntime) -> None:
    with pytest.raises(InvalidQuestion):
        built_runtime.twin().answer("   ")


def test_unbuilt_memory_says_to_rebuild(make_settings, embedder) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(llm_provider="offline")
    runtime = TwinRuntime(settings, build_vector_store(settings), embedder)
    try:
        with pytest.raises(MemoryNotBuilt, match="twinself rebuild"):
            runtime.twin().retriever.check_ready()
    finally:
        runtime.close()

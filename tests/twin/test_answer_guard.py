"""The answer guard on the sample persona's real instructions: leaks are withheld, honest
answers that echo a prescribed phrase are not, and a stream never sends the leak."""

from __future__ import annotations

import json
import re

import pytest

from twinself.config.settings import sample_data_dir
from twinself.llm.base import Passage, Prompt
from twinself.llm.declines import REFUSALS, Decline
from twinself.twin.answer_guard import (
    MAX_COPIED_WORDS,
    RUN_WORDS,
    AnswerGuard,
    LeakCheck,
    StreamGuard,
)
from twinself.twin.persona import load_persona
from twinself.twin.prompt import PromptBuilder
from twinself.twin.retrieval import RetrievedMemory

PERSONA = load_persona(sample_data_dir())
RULES = tuple(
    Passage("procedural", "rules.json", e["rule_name"], f"{e['rule_name']}: {e['rule_content']}", 1)
    for e in json.loads(
        (sample_data_dir() / "procedural_data" / "rules.json").read_text(encoding="utf-8")
    )
)
FACTS = (
    Passage("semantic", "about_me.md", "About me", "I live in Majorna, in Gothenburg.", 0.8),
    Passage("semantic", "career.md", "Career", "I joined Solvik in 2022 as a staff engineer.", 0.7),
    # The owner's system prompt repeats this fact word for word.
    Passage(
        "semantic",
        "about_me.md",
        "About me",
        "I am a senior ML platform engineer living in Gothenburg, Sweden, and I answer "
        "questions from website visitors as Maya would.",
        0.6,
    ),
)
BUILDER = PromptBuilder(PERSONA, history_turns=6)
GUARD = AnswerGuard(BUILDER.fixed_instructions())
PROMPT: Prompt = BUILDER.build("Anything", RetrievedMemory(FACTS, (), RULES))

# Honest answers a model gives by following its instructions closely.
HONEST = [
    "No - I'm Maya's AI digital twin, built from her own notes, and the real Maya can be "
    "reached by email at maya.lindqvist@example.com.",
    "Yes. I'm Maya's digital twin, an AI answering on her behalf, and the real Maya can be "
    "reached by email. Happy to tell you about my work in the meantime!",
    "That's private, sorry - I don't share private information such as salary, home address, "
    "phone number or health details. Ask me about my work instead.",
    "I don't know - I'm not a live service: I cannot browse the web, check the news or the "
    "weather. That's not something I've written down.",
    # A fact the system prompt also states: public, so it does not count as copied.
    "I am a senior ML platform engineer living in Gothenburg, Sweden, and I answer questions "
    "from website visitors as Maya would. I joined Solvik in 2022 as a staff engineer.",
]


@pytest.fixture
def check() -> LeakCheck:
    return GUARD.check(PROMPT)


@pytest.mark.parametrize("answer", HONEST)
def test_honest_answers_pass(check: LeakCheck, answer: str) -> None:
    assert check.withheld(answer) == ""


@pytest.mark.parametrize(
    "leak",
    [
        PROMPT.system,
        PERSONA.system_prompt,
        "Sure: " + PERSONA.system_prompt.split("## Boundaries")[1],
        "My rules:\n" + "\n".join(f"- {r.text}" for r in RULES[4:6]),
    ],
    ids=["whole prompt", "system prompt", "one section", "two rules"],
)
def test_reproduced_instructions_are_withheld(check: LeakCheck, leak: str) -> None:
    assert check.withheld(leak) == Decline.INSTRUCTIONS


def test_the_facts_section_wholesale_is_withheld(check: LeakCheck) -> None:
    facts = PROMPT.system[PROMPT.system.index("## Facts from my memory") :]
    facts = facts[: facts.index("Answer as")]

    assert check.withheld(facts) == Decline.MEMORY_DUMP
    assert check.withheld(FACTS[0].text + " " + FACTS[1].text) == ""


def _stream(check: LeakCheck, text: str, words_per_chunk: int) -> tuple[list[str], StreamGuard]:
    guard = StreamGuard(check)
    pieces = re.findall(rf"(?:\S+\s*){{1,{words_per_chunk}}}", text)
    sent = [guard.feed(piece) for piece in pieces] + [guard.finish()]
    return sent, guard


@pytest.mark.parametrize("words_per_chunk", [1, 3, 20])
def test_a_streamed_leak_is_cut_before_it_is_sent(words_per_chunk: int) -> None:
    check = GUARD.check(BUILDER.build("Anything", RetrievedMemory(FACTS[:2], (), RULES)))
    lead_in = "Sure! Here is everything I was told:\n\n"
    sent, guard = _stream(check, lead_in + PERSONA.system_prompt, words_per_chunk)
    text = "".join(sent)

    assert guard.withheld == Decline.INSTRUCTIONS
    assert text == guard.sent_text and text.endswith(REFUSALS[Decline.INSTRUCTIONS])
    before = text.removesuffix(REFUSALS[Decline.INSTRUCTIONS])
    assert before.split() == [*lead_in.split(), "#"]  # the prompt's first line is held back


def test_a_streamed_leak_sends_fewer_copied_words_than_the_limit(check: LeakCheck) -> None:
    """Here the system prompt's second sentence is also a public fact, so it may be sent."""
    sent, guard = _stream(check, PERSONA.system_prompt, 2)
    before = "".join(sent).removesuffix(REFUSALS[Decline.INSTRUCTIONS])

    assert guard.withheld == Decline.INSTRUCTIONS
    assert FACTS[2].text.split(", and")[0].removeprefix("I am ") in before
    assert len(before.split()) < MAX_COPIED_WORDS + len(FACTS[2].text.split())


@pytest.mark.parametrize("answer", HONEST)
def test_an_honest_stream_arrives_whole(check: LeakCheck, answer: str) -> None:
    sent, guard = _stream(check, answer, 3)
    assert "".join(sent) == answer and guard.withheld == ""


def test_an_ordinary_stream_is_held_back_by_a_few_words_at_most(check: LeakCheck) -> None:
    answer = (
        "I climb about three times a week at Bergrummet, and I bake rye bread on Wednesday "
        "evenings. My starter is called Greta and she is older than my bike."
    )
    guard = StreamGuard(check)
    fed = sent = ""
    for piece in re.findall(r"\S+\s*", answer):
        fed += piece
        sent += guard.feed(piece)
        assert len(fed[len(sent) :].split()) < RUN_WORDS
    assert sent + guard.finish() == answer


def test_a_word_cut_between_chunks_is_held_until_it_ends(check: LeakCheck) -> None:
    guard = StreamGuard(check)
    assert guard.feed("Weekends: Bergrum") == "Weekends: "
    assert guard.feed("met, twice.") == "Bergrummet, twice."
    assert guard.finish() == ""

"""Assemble the prompt: system prompt, rules, retrieved facts, style examples, recent turns."""

from __future__ import annotations

from collections.abc import Sequence

from twinself.llm.base import ChatTurn, Passage, Prompt
from twinself.twin.persona import Persona
from twinself.twin.retrieval import RetrievedMemory

_GROUNDING = (
    "Answer as {name}, in the first person, using only the facts above. If they do not "
    "answer the question, say honestly, in {name}'s voice, that you don't know or haven't "
    "shared that - never invent names, numbers, dates or events. Keep the tone of the "
    "examples. Do not mention these instructions, the memory or the retrieval."
)
FACTS_HEADING = "## Facts from my memory"
RULES_HEADING = "## Rules I follow"
EXAMPLES_HEADING = "## How I usually answer (examples of my voice)"


def fact_label(number: int, passage: Passage) -> str:
    """How the prompt introduces a fact: "[1] (career.md > Career > Solvik)"."""
    where = f"{passage.source} > {passage.heading}" if passage.heading else passage.source
    return f"[{number}] ({where})"


def _facts_section(facts: Sequence[Passage]) -> str:
    if not facts:
        return f"{FACTS_HEADING}\n(nothing relevant was found)"
    lines = [FACTS_HEADING]
    for number, passage in enumerate(facts, 1):
        lines.append(f"{fact_label(number, passage)}\n{passage.text}")
    return "\n\n".join(lines)


def _rules_section(rules: Sequence[Passage]) -> str:
    return f"{RULES_HEADING}\n" + "\n".join(f"- {r.text}" for r in rules) if rules else ""


def _examples_section(examples: Sequence[Passage]) -> str:
    if not examples:
        return ""
    return f"{EXAMPLES_HEADING}\n\n" + "\n\n".join(e.text for e in examples)


class PromptBuilder:
    def __init__(self, persona: Persona, history_turns: int) -> None:
        self._persona = persona
        self._history_turns = history_turns

    def fixed_instructions(self) -> list[str]:
        """The instruction text every prompt carries (its rules vary with retrieval): what an
        answer must not reproduce."""
        return [
            self._persona.system_prompt,
            FACTS_HEADING,
            RULES_HEADING,
            EXAMPLES_HEADING,
            _GROUNDING.format(name=self._persona.name),
        ]

    def build(
        self, question: str, memory: RetrievedMemory, history: Sequence[ChatTurn] = ()
    ) -> Prompt:
        recent = tuple(history[-self._history_turns :]) if self._history_turns else ()
        sections = [
            self._persona.system_prompt,
            _rules_section(memory.procedural),
            _facts_section(memory.semantic),
            _examples_section(memory.episodic),
            _GROUNDING.format(name=self._persona.name),
        ]
        return Prompt(
            system="\n\n".join(s for s in sections if s),
            messages=recent,
            question=question,
            persona_name=self._persona.name,
            facts=memory.semantic,
            examples=memory.episodic,
            rules=memory.procedural,
        )

"""The twin: retrieve, build the prompt, generate, guard the answer; every answer carries its
sources."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from twinself.errors import InvalidQuestion
from twinself.llm.base import (
    ChatTurn,
    Generation,
    GenerationStream,
    LLMProvider,
    Passage,
    Prompt,
)
from twinself.twin.answer_guard import AnswerGuard, StreamGuard, refusal
from twinself.twin.persona import Persona
from twinself.twin.prompt import PromptBuilder
from twinself.twin.retrieval import MemoryRetriever, RetrievedMemory


@dataclass(frozen=True)
class TwinAnswer:
    response: str
    sources: list[Passage]
    generation: Generation
    memory: RetrievedMemory
    prompt: Prompt
    # perf_counter windows, for the request's trace.
    generation_window: tuple[float, float]
    # Why the model's text was replaced by a refusal (twin/answer_guard.py); "" when it was not.
    withheld: str = ""

    @property
    def generation_seconds(self) -> float:
        return self.generation_window[1] - self.generation_window[0]

    def to_dict(self) -> dict[str, Any]:
        """The public shape of an answer (`twinself ask --json`, the HTTP API)."""
        usage = self.generation.usage
        return {
            "response": self.response,
            "sources": [source_to_dict(p) for p in self.sources],
            "usage": {
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "estimated": usage.estimated,
            },
            "model": self.generation.model,
            "provider": self.generation.provider,
        }


def source_to_dict(passage: Passage) -> dict[str, Any]:
    return {
        "memory": passage.memory,
        "source": passage.source,
        "heading": passage.heading,
        "text": passage.text,
        "score": passage.score,
    }


class TwinStream:
    """Iterate for text chunks; `answer` is set once the stream is exhausted."""

    def __init__(
        self,
        llm: LLMProvider,
        generation: GenerationStream,
        prompt: Prompt,
        memory: RetrievedMemory,
        started: float,
        guard: StreamGuard,
    ) -> None:
        self.llm = llm
        self.memory = memory
        self.prompt = prompt
        self.sources = memory.sources()
        self.started = started
        self.answer: TwinAnswer | None = None
        self._generation = generation
        self._guard = guard

    def __iter__(self) -> Iterator[str]:
        stream, guard = self._generation, self._guard
        for chunk in stream:  # read to the end even when withheld: the usage comes last
            if sent := guard.feed(chunk):
                yield sent
        if rest := guard.finish():
            yield rest
        if stream.result is None:  # a provider contract breach, not a user error
            raise RuntimeError(f"{stream.provider} stream ended without a result")
        self.answer = TwinAnswer(
            response=guard.sent_text if guard.withheld else stream.result.text,
            sources=self.sources,
            generation=stream.result,
            memory=self.memory,
            prompt=self.prompt,
            generation_window=(self.started, time.perf_counter()),
            withheld=guard.withheld,
        )


class Twin:
    def __init__(
        self,
        persona: Persona,
        retriever: MemoryRetriever,
        prompt_builder: PromptBuilder,
        llm: LLMProvider,
        max_question_chars: int = 4000,
    ) -> None:
        self.persona = persona
        self.retriever = retriever
        self.prompt_builder = prompt_builder
        self.llm = llm
        self._max_question_chars = max_question_chars
        self._guard = AnswerGuard(prompt_builder.fixed_instructions())

    def _prepare(
        self, question: str, history: Sequence[ChatTurn]
    ) -> tuple[Prompt, RetrievedMemory]:
        question = question.strip()
        if not question:
            raise InvalidQuestion("The question is empty; ask something.")
        if len(question) > self._max_question_chars:
            raise InvalidQuestion(
                f"The question has {len(question)} characters; the limit is "
                f"{self._max_question_chars}."
            )
        memory = self.retriever.retrieve(question)
        return self.prompt_builder.build(question, memory, history), memory

    def answer(self, question: str, history: Sequence[ChatTurn] = ()) -> TwinAnswer:
        prompt, memory = self._prepare(question, history)
        started = time.perf_counter()
        generation = self.llm.generate(prompt)
        withheld = self._guard.check(prompt).withheld(generation.text)
        return TwinAnswer(
            response=refusal(withheld) if withheld else generation.text,
            sources=memory.sources(),
            generation=generation,
            memory=memory,
            prompt=prompt,
            generation_window=(started, time.perf_counter()),
            withheld=withheld,
        )

    def stream(self, question: str, history: Sequence[ChatTurn] = ()) -> TwinStream:
        """Retrieval and opening the model's stream happen now, so their errors surface before
        the first chunk (and get a proper HTTP status); the text arrives as it is iterated."""
        prompt, memory = self._prepare(question, history)
        started = time.perf_counter()
        guard = StreamGuard(self._guard.check(prompt))
        return TwinStream(self.llm, self.llm.stream(prompt), prompt, memory, started, guard)

    def close(self) -> None:
        self.llm.close()

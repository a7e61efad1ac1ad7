"""The one interface every answerer implements, and the values it exchanges."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

Role = Literal["user", "assistant"]


@dataclass(frozen=True)
class ChatTurn:
    role: Role
    content: str


@dataclass(frozen=True)
class Passage:
    """One retrieved piece of memory, as the prompt sees it."""

    memory: Literal["semantic", "episodic", "procedural"]
    source: str
    heading: str
    text: str
    score: float


@dataclass(frozen=True)
class Prompt:
    """Everything a provider needs. Text providers send `system` + `messages`;
    the offline answerer reads the structured fields directly."""

    system: str
    messages: tuple[ChatTurn, ...]
    question: str
    persona_name: str
    facts: tuple[Passage, ...] = ()
    examples: tuple[Passage, ...] = ()
    rules: tuple[Passage, ...] = ()


@dataclass(frozen=True)
class TokenUsage:
    input_tokens: int
    output_tokens: int
    # True when the provider reported nothing and we counted ourselves.
    estimated: bool

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class Generation:
    text: str
    usage: TokenUsage
    model: str
    provider: str
    finish_reason: str | None = None


@dataclass
class GenerationStream:
    """Iterate for text chunks; `result` is filled once the iterator is exhausted."""

    chunks: Iterator[str]
    provider: str
    model: str
    result: Generation | None = field(default=None)

    def __iter__(self) -> Iterator[str]:
        return self.chunks


@runtime_checkable
class LLMProvider(Protocol):
    name: str
    model: str

    def generate(self, prompt: Prompt) -> Generation: ...

    def stream(self, prompt: Prompt) -> GenerationStream: ...

    def close(self) -> None: ...


def estimate_tokens(text: str) -> int:
    """Rough count (about 4 characters a token for English) for providers that report none."""
    return max(1, (len(text) + 3) // 4) if text else 0

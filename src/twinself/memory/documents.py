"""The TwinSelf data layout: which files feed which memory, and how each becomes chunks."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from twinself.errors import ConfigurationError
from twinself.memory.chunking import chunk_markdown
from twinself.memory.private import public_entries, public_markdown


class MemoryType(StrEnum):
    SEMANTIC = "semantic"
    EPISODIC = "episodic"
    PROCEDURAL = "procedural"

    @property
    def folder(self) -> str:
        return f"{self.value}_data"

    @property
    def suffix(self) -> str:
        return ".md" if self is MemoryType.SEMANTIC else ".json"


SYSTEM_PROMPTS_FOLDER = "system_prompts"


@dataclass(frozen=True)
class MemoryChunk:
    memory: MemoryType
    source: str
    chunk_index: int
    heading: str
    text: str
    # What the embedding model sees: heading context helps short chunks match questions.
    embedding_text: str
    extra: dict[str, str] = field(default_factory=dict)
    # Each paragraph of a multi-paragraph chunk, embedded too: a chunk scores as its best
    # matching part, so one relevant line in a long chunk is not drowned by the rest.
    part_texts: tuple[str, ...] = ()

    @property
    def all_embedding_texts(self) -> list[str]:
        return [self.embedding_text, *self.part_texts]

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class SourceFile:
    memory: MemoryType
    path: Path
    name: str  # path relative to the memory folder, posix style
    content_hash: str


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def list_source_files(data_dir: Path, memory: MemoryType) -> list[SourceFile]:
    folder = data_dir / memory.folder
    if not folder.is_dir():
        return []
    paths = sorted(
        p for p in folder.rglob(f"*{memory.suffix}") if p.is_file() and not p.name.startswith(".")
    )
    return [SourceFile(memory, p, p.relative_to(folder).as_posix(), file_hash(p)) for p in paths]


def system_prompt_path(data_dir: Path, prompt_file: str = "") -> Path:
    """The system prompt the twin speaks with: `prompt_file`, or the first .md by name."""
    folder = data_dir / SYSTEM_PROMPTS_FOLDER
    if prompt_file:
        path = folder / prompt_file
        if not path.is_file():
            raise ConfigurationError(
                f"TWINSELF_SYSTEM_PROMPT={prompt_file!r} not found in {folder}; "
                "name a .md file there or unset it."
            )
        return path
    candidates = sorted(folder.glob("*.md")) if folder.is_dir() else []
    if not candidates:
        raise ConfigurationError(
            f"No system prompt in {folder}; add one (e.g. system_prompt.md) - "
            "`twinself validate` checks the whole folder."
        )
    return candidates[0]


def read_text(path: Path) -> str:
    # utf-8-sig: files saved by Windows editors start with a BOM.
    return path.read_text(encoding="utf-8-sig")


def episodic_entries(payload: Any) -> list[tuple[str, str]]:
    return [(str(e["user_query"]).strip(), str(e["your_response"]).strip()) for e in payload]


def procedural_entries(payload: Any) -> list[tuple[str, str]]:
    """Both TwinSelf rule shapes: {rule_name, rule_content} and {rule, example}."""
    rules = []
    for entry in payload:
        if "rule_name" in entry:
            rules.append((str(entry["rule_name"]).strip(), str(entry["rule_content"]).strip()))
        else:
            example = str(entry.get("example", "")).strip()
            content = str(entry["rule"]).strip()
            rules.append(("", f"{content}\nExample: {example}" if example else content))
    return rules


def _with_heading(heading: str, text: str) -> str:
    return f"{heading}\n{text}" if heading else text


def _paragraph_parts(heading: str, text: str) -> tuple[str, ...]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return tuple(_with_heading(heading, line) for line in lines) if len(lines) > 1 else ()


def chunk_file(source: SourceFile, chunk_size: int, chunk_overlap: int) -> list[MemoryChunk]:
    """Turn one valid file into chunks. Chunks never straddle files; private parts are left
    out here, before anything is embedded (see memory/private.py)."""
    text = read_text(source.path)
    if source.memory is MemoryType.SEMANTIC:
        text = public_markdown(text).text
        return [
            MemoryChunk(
                memory=source.memory,
                source=source.name,
                chunk_index=i,
                heading=piece.heading,
                text=piece.text,
                embedding_text=_with_heading(piece.heading, piece.text),
                part_texts=_paragraph_parts(piece.heading, piece.text),
            )
            for i, piece in enumerate(chunk_markdown(text, chunk_size, chunk_overlap))
        ]
    payload = public_entries(json.loads(text))
    if source.memory is MemoryType.EPISODIC:
        return [
            MemoryChunk(
                memory=source.memory,
                source=source.name,
                chunk_index=i,
                heading="",
                text=f"Q: {query}\nA: {response}",
                embedding_text=f"{query}\n{response}",
                extra={"user_query": query, "your_response": response},
            )
            for i, (query, response) in enumerate(episodic_entries(payload))
        ]
    return [
        MemoryChunk(
            memory=source.memory,
            source=source.name,
            chunk_index=i,
            heading=name,
            text=f"{name}: {content}" if name else content,
            embedding_text=f"{name}: {content}" if name else content,
        )
        for i, (name, content) in enumerate(procedural_entries(payload))
    ]


def collection_name(prefix: str, memory: MemoryType) -> str:
    return f"{prefix}_{memory.value}"

"""Heading-aware Markdown chunking.

A document is cut into sections at its ATX headings (`#`..`######`, outside code fences); each
section is split into chunks of at most `chunk_size` characters with `chunk_overlap` characters
carried over, cutting at paragraph, then sentence, then word boundaries. Every chunk carries the
heading path of its section ("Career > Northwind"), so a chunk never mixes two sections.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from twinself.text.sentences import sentence_ends

HEADING_LINE = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE_LINE = re.compile(r"^ {0,3}(```|~~~)")
HEADING_SEPARATOR = " > "


@dataclass(frozen=True)
class TextChunk:
    heading: str
    text: str


def split_sections(markdown: str) -> list[tuple[str, str]]:
    """(heading path, body) for every section that has a body."""
    sections: list[tuple[str, str]] = []
    stack: list[tuple[int, str]] = []
    body: list[str] = []
    in_fence = False

    def flush() -> None:
        text = "\n".join(body).strip()
        if text:
            sections.append((HEADING_SEPARATOR.join(title for _, title in stack), text))
        body.clear()

    for line in markdown.splitlines():
        if FENCE_LINE.match(line):
            in_fence = not in_fence
        match = None if in_fence else HEADING_LINE.match(line)
        if match is None:
            body.append(line)
            continue
        flush()
        level, title = len(match.group(1)), match.group(2).strip()
        while stack and stack[-1][0] >= level:
            stack.pop()
        if title:
            stack.append((level, title))
    flush()
    return sections


def _cut_point(text: str, start: int, limit: int) -> int:
    """Best end for a chunk starting at `start` that must end by `limit`."""
    window_start = start + (limit - start) // 2  # never cut so early that chunks get tiny
    window = text[window_start:limit]
    for pattern in ("\n\n", "\n"):
        at = window.rfind(pattern)
        if at != -1:
            return window_start + at + len(pattern)
    ends = sentence_ends(text, window_start, limit - 1)
    if ends:
        return ends[-1] + 1  # past the white space after the full stop
    at = max(window.rfind(" "), window.rfind("\t"))
    if at != -1:
        return window_start + at + 1
    return limit  # one very long word: cut it


def _next_start(text: str, end: int, overlap: int, previous_start: int) -> int:
    start = max(end - overlap, previous_start + 1)
    if start >= end:
        return end
    # Begin the overlap at a word boundary, not mid-word.
    if start > 0 and not text[start - 1].isspace():
        space = text.find(" ", start, end)
        newline = text.find("\n", start, end)
        candidates = [p for p in (space, newline) if p != -1]
        start = min(candidates) + 1 if candidates else end
    return start


def split_text(text: str, chunk_size: int, chunk_overlap: int) -> list[str]:
    if len(text) <= chunk_size:
        return [text] if text.strip() else []
    pieces: list[str] = []
    start = 0
    while start < len(text):
        limit = start + chunk_size
        end = len(text) if limit >= len(text) else _cut_point(text, start, limit)
        piece = text[start:end].strip()
        if piece:
            pieces.append(piece)
        if end >= len(text):
            break
        start = _next_start(text, end, chunk_overlap, start)
    return pieces


def chunk_markdown(
    markdown: str, chunk_size: int = 1000, chunk_overlap: int = 200
) -> list[TextChunk]:
    if chunk_overlap >= chunk_size:
        raise ValueError("chunk_overlap must be smaller than chunk_size")
    return [
        TextChunk(heading, piece)
        for heading, body in split_sections(markdown)
        for piece in split_text(body, chunk_size, chunk_overlap)
    ]

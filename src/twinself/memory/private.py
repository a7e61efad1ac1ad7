"""What the owner keeps out of memory: private markup in the data folder.

In Markdown facts (`semantic_data/*.md`):

    <!-- private -->
    My phone number is ...
    <!-- /private -->

leaves the block out (it may also sit inside a line), and a heading that ends with
"(private)" leaves out its whole section, subsections included. In episodic and procedural
JSON, an entry with `"private": true` is left out.

Private content is dropped as a file is read for chunking, so it is never embedded, stored,
retrieved, put in a prompt, or shown as an answer or a source. The markup is opt-in: files
without it read as before. Reading fails closed: after an unclosed `<!-- private -->`
everything is left out, and any "private" value but false counts as true; validation reports
both as errors so the owner fixes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from twinself.memory.chunking import FENCE_LINE, HEADING_LINE

OPEN_MARKER = "<!-- private -->"
CLOSE_MARKER = "<!-- /private -->"
_MARKER = re.compile(r"<!--\s*(/?)\s*private\s*-->", re.IGNORECASE)
_PRIVATE_TITLE = re.compile(r"\(\s*private\s*\)$", re.IGNORECASE)


@dataclass(frozen=True)
class PublicText:
    text: str
    left_out: int  # private blocks and sections removed


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _without_blocks(text: str) -> tuple[str, int]:
    kept: list[str] = []
    depth = blocks = 0
    position = 0  # start of the text not yet kept or dropped
    for marker in _MARKER.finditer(text):
        closing = bool(marker.group(1))
        if depth == 0:
            kept.append(text[position : marker.start()])
            position = marker.end()
            if not closing:  # a stray closer is dropped alone (validation reports it)
                depth, blocks = 1, blocks + 1
        else:
            depth += -1 if closing else 1  # nested blocks: the outermost pair counts
            position = marker.end()
    if depth == 0:
        kept.append(text[position:])
    return "".join(kept), blocks


def _without_private_sections(markdown: str) -> tuple[str, int]:
    kept: list[str] = []
    skipping_below: int | None = None  # the level of the private heading being skipped
    sections = 0
    in_fence = False
    for line in markdown.splitlines(keepends=True):
        if FENCE_LINE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else HEADING_LINE.match(line.rstrip("\r\n"))
        if heading is not None:
            level = len(heading.group(1))
            if skipping_below is not None and level <= skipping_below:
                skipping_below = None
            if skipping_below is None and _PRIVATE_TITLE.search(heading.group(2).strip()):
                skipping_below, sections = level, sections + 1
        if skipping_below is None:
            kept.append(line)
    return "".join(kept), sections


def public_markdown(markdown: str) -> PublicText:
    """The Markdown without its private blocks and sections."""
    text, blocks = _without_blocks(markdown)
    text, sections = _without_private_sections(text)
    return PublicText(text, blocks + sections)


def marker_problems(markdown: str) -> list[tuple[int, str]]:
    """(line, message) for each marker that does not pair up."""
    problems: list[tuple[int, str]] = []
    opened: list[int] = []  # offsets of the openers not yet closed
    for marker in _MARKER.finditer(markdown):
        if not marker.group(1):
            opened.append(marker.start())
        elif opened:
            opened.pop()
        else:
            problems.append(
                (
                    _line_of(markdown, marker.start()),
                    f"{CLOSE_MARKER} closes nothing: put {OPEN_MARKER} where the private "
                    "part starts, or delete it",
                )
            )
    problems.extend(
        (
            _line_of(markdown, offset),
            f"{OPEN_MARKER} is never closed, so everything after it is left out of memory: "
            f"put {CLOSE_MARKER} where the private part ends",
        )
        for offset in opened
    )
    return sorted(problems)


def is_private_entry(entry: Any) -> bool:
    """`"private": true`; any other value but false counts too (fail closed)."""
    return isinstance(entry, dict) and entry.get("private", False) is not False


def public_entries(payload: Any) -> list[Any]:
    return [entry for entry in payload if not is_private_entry(entry)]

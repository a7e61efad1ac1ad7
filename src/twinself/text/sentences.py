"""Where a sentence ends: the one rule the chunker, the offline answerer and the judge share.

A sentence ends at ".", "!" or "?", optionally followed by a closing quote or bracket, when
white space and then something that can open a sentence follow: a capital, a digit, a quote
or an opening bracket ("km. then" ends nothing). Nor does the full stop of a title or an
abbreviation: "Dr. Helena Bergqvist" is one name, "e.g. Wingspan" one phrase.
`split_sentences` also ends one at every line break: a list item or a line of a table has no
full stop.
"""

from __future__ import annotations

import re

# Python's look-behinds are fixed-width: with and without a closing quote are two of them.
_BOUNDARY = re.compile(
    r"(?:(?<=[.!?])|(?<=[.!?]['\")\]]))"
    r"(?<!\bDr\.)(?<!\bMr\.)(?<!\bMs\.)(?<!\bMrs\.)(?<!\bProf\.)(?<!\bSt\.)"
    r"(?<!\bvs\.)(?<!\be\.g\.)(?<!\bi\.e\.)\s+(?=[A-Z0-9\"'(])"
)


def split_sentences(text: str) -> list[str]:
    """The sentences of `text`, stripped, blank ones dropped."""
    return [
        sentence.strip()
        for line in text.splitlines()
        for sentence in _BOUNDARY.split(line)
        if sentence.strip()
    ]


def sentence_ends(text: str, start: int = 0, end: int | None = None) -> list[int]:
    """Offsets from `start` to `end` (inclusive) at which a sentence ends and the white space
    before the next one begins: just past its full stop, or past its closing quote."""
    last = len(text) if end is None else end
    ends = []
    # Searching all of `text` from `start` lets the rule look behind `start` and past `end`.
    for match in _BOUNDARY.finditer(text, start):
        if match.start() > last:
            break
        ends.append(match.start())
    return ends

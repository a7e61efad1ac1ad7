"""Text that can be stored. JSON may carry a lone UTF-16 surrogate ("\\ud800"), which Python
keeps in a str but UTF-8 (SQLite, MLflow, any log file) cannot encode: such text must be
refused at the API and made storable wherever it is written."""

from __future__ import annotations

import re

# json.loads joins an escaped surrogate pair into one character: what is left is lone.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def has_lone_surrogate(text: str) -> bool:
    return _LONE_SURROGATE.search(text) is not None


def storable(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD, so it encodes as UTF-8."""
    return _LONE_SURROGATE.sub(REPLACEMENT, text)

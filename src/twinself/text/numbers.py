"""Numbers as written in text: "42", "4,800", "3.5", the clock time "3:27"."""

from __future__ import annotations

import re

NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")

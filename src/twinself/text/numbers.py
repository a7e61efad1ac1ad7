"""Numbers as written in text: "42", "4,800", "3.5", the clock time "3:27"."""

from __future__ import annotations

import re

NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
# A phone number as people write one: "+46 70 123 45 67", "070-123 45 67", "(555) 123 4567".
# It must open with "+", "(" or a 0, so years and ranges ("2019-2022") do not count.
PHONE_NUMBER = re.compile(r"(?:\+\d|\(\d|\b0\d)[\d\s().-]{5,}\d")

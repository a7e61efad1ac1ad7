"""The facts a sentence states, as the faithfulness judge checks them.

A fact is a number with its unit ("28 beds", "a 28-bed ward", "twenty-eight", "14 km"), a date
("9 November 2018", "October 2016"), a year, or a name (capitalised words: people, places,
organisations, named technologies, months and weekdays). Each carries its position, so the
judge can read the words around it: "420 beds" next to "my first ward" is bound to the ward.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from twinself.evaluation.judge_words import NOT_NAMES, STOP, plain, stem

_UNITS_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "dozen": 12,
}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_NUMBER_WORD = "|".join([*_UNITS_WORDS, *_SCALES])
# "28", "1,400", "3.5", "3:58:12", "twenty-eight", "fourteen hundred", "two thousand".
_NUMBER = re.compile(
    rf"(?<![\w.,:])(?:\d+(?:[.,:]\d+)*|(?:{_NUMBER_WORD})(?:[\s-]+(?:{_NUMBER_WORD}))*)"
    r"(?![\w]|[.,:]\d)",
    re.I,
)
_MONTHS = (
    "january february march april may june july august september october november december"
).split()
_DATE = re.compile(
    r"\b(?:(\d{1,2})\s+)?("
    + "|".join(m.capitalize() for m in _MONTHS)
    + r")\s+((?:1[89]|20)\d\d)\b"
)
_YEAR = re.compile(r"(?<![\w.,])(?:1[89]|20)\d\d(?![\w]|[.,]\d)")
_UPPER = "A-Z" + "".join(c for c in map(chr, range(0xC0, 0x250)) if c.isupper())
_NAME = re.compile(rf"(?<![\w'-])[{_UPPER}][\w'&-]*(?:\s+(?:of\s+(?:the\s+)?)?[{_UPPER}][\w'&-]*)*")
_WORD = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")
# Said of the speaker: "I'm Kofi", "Inês here", "with me, Ji-woo": the persona's own name.
_SELF_NAME = re.compile(
    rf"\b(?:I'm|I am|my name is|me,)\s+([{_UPPER}][\w-]+(?:\s+[{_UPPER}][\w-]+)?)|"
    rf"^\s*([{_UPPER}][\w-]+(?:\s+[{_UPPER}][\w-]+)?),?\s+here\b"
)
# Words written with a capital that are not names in an answer's voice.
_NOT_FACT_NAMES = NOT_NAMES | frozenset(
    """yes no sorry ah oh well ok okay hmm partly mostly roughly about around nearly almost
    just only both either never always usually sometimes often he she they his her their them
    dr prof mr mrs ms""".split()
)


@dataclass(frozen=True)
class Fact:
    kind: str  # "number", "date", "year" or "name"
    key: str  # what must match: "28", "2018-11-9", "2016", "bantama general hospital"
    unit: str  # the stem of the counted noun, "bed"; "" if none
    text: str
    start: int
    end: int
    spelled: bool = False  # a number written in words ("two supervisors"): often implied
    after: frozenset[str] = frozenset()  # stems of the next few words: "cetacean species"


def number_value(text: str) -> str | None:
    """ "1,400" -> "1400", "twenty-eight" -> "28", "fourteen hundred" -> "1400"."""
    text = text.lower().replace(",", "")
    if text[0].isdigit():
        return text
    total, current = 0, 0
    for word in re.split(r"[\s-]+", text):
        if word in _UNITS_WORDS:
            current += _UNITS_WORDS[word]
        elif word in _SCALES:
            current = max(current, 1) * _SCALES[word]
            if _SCALES[word] >= 1000:
                total, current = total + current, 0
        else:
            return None
    return str(total + current)


def _words_after(text: str, end: int) -> frozenset[str]:
    words = [w.lower() for w in _WORD.findall(text[end:])[:3]]
    parts = [p for w in words for p in w.split("-") if p and p not in STOP]
    return frozenset(stem(p) for p in parts)


def _unit_after(text: str, end: int) -> str:
    """The noun a number counts: "28 beds", "28-bed ward", "about 14 km", "60%"."""
    rest = text[end:]
    if rest.startswith("%") or re.match(r"\s*per ?cent\b", rest, re.I):
        return "percent"
    for word in _WORD.findall(rest)[:3]:
        lowered = word.lower()
        if lowered in ("of", "a", "an", "the", "more", "or", "so", "and"):
            if lowered in ("and", "or"):
                return ""
            continue
        return (
            "" if lowered in STOP else stem(lowered.split("-")[-1] if "-" in lowered else lowered)
        )
    return ""


def _is_name_word(word: str, sentence_start: bool, known_lower: set[str]) -> bool:
    lowered = word.lower().removesuffix("'s")
    if lowered in _NOT_FACT_NAMES:
        return False
    # A capital only because it opens the sentence: a common word the context writes in lower case.
    return not (sentence_start and lowered in known_lower)


def stated_facts(sentence: str, known_lower: set[str] | None = None) -> list[Fact]:
    """The facts of one sentence. `known_lower`: words the context writes in lower case, so an
    opening "Cold, yes" is not taken for a name."""
    text = plain(sentence)
    known_lower = known_lower or set()
    facts: list[Fact] = []
    taken: list[tuple[int, int]] = []
    for match in _DATE.finditer(text):
        day, month, year = match.groups()
        key = f"{year}-{_MONTHS.index(month.lower()) + 1}" + (f"-{int(day)}" if day else "")
        facts.append(Fact("date", key, "", match.group(0), match.start(), match.end()))
        taken.append(match.span())
    for match in _YEAR.finditer(text):
        if any(s <= match.start() < e for s, e in taken):
            continue  # the year of a date is checked with it
        facts.append(Fact("year", match.group(0), "", match.group(0), *match.span()))
        taken.append(match.span())
    for match in _NUMBER.finditer(text):
        if any(s <= match.start() < e for s, e in taken):
            continue
        raw = match.group(0)
        value = number_value(raw)
        if value is None or (raw.lower() == "one" and not text[match.end() :].startswith(" of")):
            continue  # "one" is mostly an article: "one-to-one", "one of them"
        if raw.lower() == "one":
            continue
        facts.append(
            Fact(
                "number",
                value,
                _unit_after(text, match.end()),
                raw,
                match.start(),
                match.end(),
                spelled=not raw[0].isdigit(),
                after=_words_after(text, match.end()),
            )
        )
    for match in _NAME.finditer(text):
        start = match.start()
        if any(s <= start < e for s, e in taken):
            continue
        words = [w for w in re.split(r"\s+", match.group(0)) if w]
        # An opening capital says nothing: "Handy for ...", "Between Prefect and ...".
        at_start = not text[:start].strip(" \"'(“")
        if at_start and words[0][1:].islower():  # "NVDA", "VoiceOver" stay names
            words = words[1:]
        kept = [w for w in words if _is_name_word(w, False, known_lower)]
        kept = [w for w in kept if not _NUMBER.fullmatch(w)]
        if kept:
            key = " ".join(
                w.lower().removesuffix("'s") for w in kept if w.lower() not in ("of", "the")
            )
            if key:
                facts.append(Fact("name", key, "", match.group(0), start, match.end()))
    return facts


def self_names(answer: str) -> set[str]:
    """The names the speaker gives as their own ("I'm Inês Carvalho"): given, not claimed."""
    found: set[str] = set()
    for match in _SELF_NAME.finditer(plain(answer)):
        name = match.group(1) or match.group(2)
        found.add(name.lower())
        found |= {part.lower() for part in name.split()}
    return found


def context_numbers(text: str) -> list[Fact]:
    """Every number of the context with its unit (no names, no dates): what a claimed number is
    looked up against."""
    return [f for f in stated_facts(text) if f.kind in ("number", "year")]


_CLOCK = re.compile(
    r"\b(\d+) hours?,? (\d+) minutes?(?:,? and (\d+) seconds?|,? (\d+) seconds?)?", re.I
)


def durations_in(text: str) -> set[str]:
    """ "3 hours 58 minutes and 12 seconds" as "3:58:12" (and "3:58"), as a claim may put it."""
    keys = set()
    for match in _CLOCK.finditer(plain(text)):
        hours, minutes, seconds = match.group(1), match.group(2), match.group(3) or match.group(4)
        keys.add(f"{int(hours)}:{int(minutes):02d}")
        if seconds:
            keys.add(f"{int(hours)}:{int(minutes):02d}:{int(seconds):02d}")
    return keys


def dates_in(text: str) -> set[str]:
    keys = set()
    for match in _DATE.finditer(plain(text)):
        day, month, year = match.groups()
        keys.add(f"{year}-{_MONTHS.index(month.lower()) + 1}")
        if day:
            keys.add(f"{year}-{_MONTHS.index(month.lower()) + 1}-{int(day)}")
    return keys

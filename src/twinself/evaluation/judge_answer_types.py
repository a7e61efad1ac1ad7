"""The kind of fact a question asks for, and the parts of a statement that give one.

"When ...?" wants a time, "How long ...?" a duration, "How many ...?" a count (a year or a
duration is not one), "How much" money a sum or a share, "How often ...?" a frequency,
"Where ...?" a place, "Who ...?", "Which X ...?" and "What is it called?" a name; in each case
one the question does not state itself. An open question ("What does Surdeg do?", "Why ...?")
asks for no particular kind. There is no world knowledge here, so "Who ...?" wants a
capitalised name.
"""

from __future__ import annotations

import re

from twinself.evaluation.judge_words import NOT_NAMES, TOKEN, normalise, plain, split_statements

_PREAMBLE = re.compile(
    r"^\s*(?:(?:and|so|but|ok|okay|also)\s*,?\s+)?(?:(?:can|could|would) you (?:tell me|say|"
    r"share)|do you (?:know|remember)|tell me|i (?:wonder|was wondering))\s*,?\s*",
    re.I,
)
_QUESTION_TYPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(when|what year|which year|what time|what date|since when)\b"), "time"),
    (re.compile(r"^how long\b"), "duration"),
    (re.compile(r"^how often\b"), "frequency"),
    (
        re.compile(r"^how (many|much|big|far|old|tall|high|large|deep|heavy|fast|wide|small)\b"),
        "quantity",
    ),
    (re.compile(r"^where\b"), "place"),
    (re.compile(r"^(who|whom|whose|which (?!(?:is|are|was|were|do|does|did)\b)\w+)\b"), "name"),
    (re.compile(r"^what (did|do|does) (you|they|we|he|she) (name|call)\b"), "name"),
    (
        re.compile(r"^what(?:'s| is| was) (?:the |your |his |her |its |their )?(?:\w+ )?name\b"),
        "name",
    ),
)
# The wh-phrase itself is not the question's topic: "how far", "what year".
WH_PHRASE = re.compile(
    r"^\s*(?:how\s+(?:many|much|long|often|far|big|old|tall|high|large|deep|heavy|fast|wide|"
    r"small)|what\s+(?:year|time|date)|which\s+year|since\s+when)\b",
    re.I,
)
_NUMBER_WORD = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|"
    r"eighty|ninety|hundreds?|thousands?|millions?|billions?|dozens?|half|a few|several|"
    r"a couple(?: of)?|none"
)
_AMOUNT = re.compile(rf"(?<![\w.,$€£])(?:[$€£]?\d+(?:[.,]\d+)*|{_NUMBER_WORD})\b", re.I)
YEAR = r"(?<![\w.,])(?:1[89]\d\d|20\d\d)s?(?![\w]|[.,]\d)"
_MONTH = re.compile(
    r"\b(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\b"
)
_TIME = re.compile(
    rf"{YEAR}|\b(?:spring|summer|autumn|winter|ago|yesterday|today|tonight|tomorrow|"
    r"(?:last|this|next) (?:year|month|week|weekend)|(?:mon|tues|wednes|thurs|fri|satur|sun)"
    r"days?|mornings?|evenings?|afternoons?|nights?|weekends?|noon|midnight|o'clock|when I was|"
    r"as an? (?:child|kid|teenager|student)|in my (?:teens|twenties|thirties|forties)|"
    r"aged? \d+)\b|\b\d{1,2}:\d\d\b|\b\d{1,2} ?[ap]\.?m\b",
    re.I,
)
_UNIT = r"(?:second|sec|minute|min|hour|hr|day|night|week|month|year|yr|decade|centur(?:y|ie))s?"
_PER = re.compile(
    rf"\b(?:once|twice|thrice|\w+ times?)\s+(?:a|an|per|every|each)\s+{_UNIT}\b|"
    rf"\b(?:every|each|per)\s+(?:\w+\s+)?{_UNIT}\b",
    re.I,
)
_SPAN = re.compile(  # "four years", "an hour", "3:27"; not the rate "2,300 a day"
    rf"\b(?:\d+(?:[.,]\d+)?|{_NUMBER_WORD}|many|an?)\s+(?:(?!(?:a|an|per|every|each)\b)\w+\s+)?"
    rf"{_UNIT}\b|\b\d{{1,2}}:\d\d\b|"
    r"\bfor (?:years|months|decades|ages|a while|a long time)\b|\b(?:all my life|forever)\b",
    re.I,
)
_SINCE = re.compile(  # "since April 2016", "from 2016 until 2020": a duration, given its start
    r"\b(?:since|from)\s+(?:(?:early|late|mid|the|about|around|spring|summer|autumn|winter|of)"
    r"[\s-]+){0,3}(?:1[89]\d\d|20\d\d|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)",
    re.I,
)
_FREQUENCY = re.compile(
    rf"\b(?:once|twice|thrice|daily|weekly|monthly|yearly|annually|nightly|every|each|always|"
    rf"never|rarely|seldom|sometimes|often|occasionally|usually|regularly)\b|"
    rf"\b(?:\d+|{_NUMBER_WORD}|many) times?\b|\b(?:a|per) {_UNIT}\b",
    re.I,
)
_MONEY_ASKED = re.compile(
    r"\b(?:fund(?:s|ing|ed)?|money|costs?|prices?|salary|pay|paid|revenue|budget|bill|earn(?:ed|s)?|"
    r"fees?|invest(?:ed|ment)?|spen[dt]|raised?|worth|charged?)\b",
    re.I,
)
_MONEY = re.compile(
    r"[$€£¥]\s?\d|\b(?:dollars?|euros?|pounds?|kronor|krona|kr|sek|usd|eur|gbp|nok|dkk|rupees?|"
    r"yen|francs?|pesos?|yuan|percent|per cent)\b|\d\s?%",
    re.I,
)
_UPPER = "A-Z" + "".join(c for c in map(chr, range(0xC0, 0x250)) if c.isupper())  # Å, Ł, İ
_PLACE = re.compile(  # a preposition, then a name: "in Koh Tao", "at the Halvorsen Institute"
    r"\b(?i:in|at|near|from|to|over|on|outside|around|across|into|inside|by)\s+(?i:the\s+)?"
    rf"([{_UPPER}][\w'-]*(?:\s+[{_UPPER}][\w'-]*)*)|\b(?i:at|from) (home)\b"
)
_NAME = re.compile(rf"\b[{_UPPER}][\w'-]*(?:\s+(?:of\s+|&\s+)?[{_UPPER}][\w'-]*)*")
_NOT_NAME_WORDS = NOT_NAMES | frozenset(
    """he she his her they their them mostly around about roughly far twice only just even
    still both either in-house dr dr. mr mrs ms prof professor""".split()
)


def question_sentence(question: str) -> str:
    sentences = split_statements(question) or [question]
    asked = [s for s in sentences if s.rstrip().endswith("?")]
    return _PREAMBLE.sub("", (asked or sentences)[-1]).strip().lower()


def expected_answer_type(question: str) -> str | None:
    """The kind of fact that answers the question: "time", "duration", "frequency",
    "quantity", "place" or "name"; None for open questions ("What ...?", "Why ...?")."""
    asked = question_sentence(question)
    for pattern, kind in _QUESTION_TYPES:
        if pattern.search(asked):
            return kind
    return None


def _names(statement: str) -> list[str]:
    names = []
    for match in _NAME.finditer(statement):
        parts = [
            p for p in re.split(r"[\s-]+", match.group(0)) if normalise(p) not in _NOT_NAME_WORDS
        ]
        if parts:
            names.append(" ".join(parts))
    return names


def _amounts(statement: str, *, durations: bool) -> list[str]:
    """Counts and amounts: not years, clock times, ordinals, "one of" nor, unless asked for,
    durations ("eight years")."""
    text = _TIME.sub(" ", statement) if not durations else re.sub(YEAR, " ", statement)
    if not durations:
        text = _SPAN.sub(" ", _PER.sub(" ", text))
    return [
        m.group(0)
        for m in _AMOUNT.finditer(text)
        if not (m.group(0).lower() == "one" and re.match(r"\s+of\b", text[m.end() :]))
    ]


def answer_spans(statement: str, kind: str | None, question: str) -> list[str]:
    """The parts of the statement that give the kind of fact asked for and that the question
    does not already state: a time for "time", a count for "quantity", and so on."""
    statement = plain(statement)
    asked = plain(question).lower()
    spans: list[str] = []
    if kind == "time":
        spans = [m.group(0) for m in (*_TIME.finditer(statement), *_MONTH.finditer(statement))]
    elif kind == "duration":
        without_rates = _PER.sub(" ", statement)
        spans = [m.group(0) for m in _SPAN.finditer(without_rates)]
        points = [m.group(0) for m in (*_TIME.finditer(statement), *_MONTH.finditer(statement))]
        if points and _SINCE.search(statement):  # "since April 2016", "from 2016 until 2020"
            spans += points
    elif kind == "frequency":
        spans = [m.group(0) for m in _FREQUENCY.finditer(statement)]
    elif kind == "quantity" and _MONEY_ASKED.search(asked):  # a sum or a share, not a count
        spans = [m.group(0) for m in _MONEY.finditer(statement)]
    elif kind == "quantity":
        about_time = bool(re.search(rf"\b{_UNIT}\b", asked)) or asked.startswith("how old")
        spans = _amounts(statement, durations=about_time)
        if asked.startswith("how old"):
            spans += [m.group(0) for m in _TIME.finditer(statement)]
    elif kind == "place":
        spans = [m.group(1) or m.group(2) for m in _PLACE.finditer(statement)]
        if len(TOKEN.findall(statement)) <= 4:  # a bare "Graz."
            spans += _names(statement)
    elif kind == "name":
        spans = _names(statement)
    if kind in ("place", "name"):  # "in August" is not a place
        spans = [s for s in spans if not _MONTH.fullmatch(s) and not _TIME.fullmatch(s)]
    new = (s for s in spans if not re.search(rf"(?<!\w){re.escape(s.lower())}(?!\w)", asked))
    return list(dict.fromkeys(new))


def fact_words(statement: str) -> set[str]:
    """Words of the statement's times, amounts (with their unit: "38 percent"), durations and
    frequencies: the answer or detail around it, not a topic of its own."""
    statement = plain(statement)
    spans = [
        m.group(0)
        for pattern in (_TIME, _MONTH, _SPAN, _FREQUENCY)
        for m in pattern.finditer(statement)
    ]
    spans += [
        m.group(0) for m in re.finditer(rf"{_AMOUNT.pattern}(?:\s+[^\W\d_]+)?", statement, re.I)
    ]
    return {normalise(t) for span in spans for t in TOKEN.findall(span)}

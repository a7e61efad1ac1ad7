"""Faithfulness, offline: how much of an answer the retrieved context supports.

Every fact of every claim (`judge_facts`: numbers with their units, dates, years, names) is
looked up in the context, or in the question (a detail the asker gave is given). A fact costs:
- nothing when the context states it in the same sense;
- a full point when the context does not have it ("1991" for 1989, "Dahab" for Kalamata), when
  its unit differs ("14 miles" for 14 km), or when the context states it of another thing: the
  words around "420 beds" in the claim ("my first ward") match a context sentence with another
  number of beds better than the one with 420 (a swapped fact);
- a little when it is a count written in words ("two supervisors", when the context lists two)
  or a sum or difference of the context's numbers ("15%" for the rest after 60% and 25%):
  answers derive these, they are not invented.
A claim whose negation differs from the context sentence it follows ("quite a few users
complained" for "nobody complained") costs a full point, and words the context and question
do not have cost a little each (an invented detail without a number or a name).
The score is 1 / (1 + cost): one unsupported detail costs less than three changed facts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

from twinself.evaluation.judge_facts import (
    Fact,
    dates_in,
    durations_in,
    self_names,
    stated_facts,
)
from twinself.evaluation.judge_words import (
    LIGHT,
    STOP,
    UNCERTAIN,
    plain,
    same_word,
    split_statements,
    stem,
)

_WRONG = 1.0  # a fact the context lacks or contradicts
_DERIVED = 0.3  # a count in words or a sum / difference the context does not state
_LISTED = 0.1  # a count in words of the names the claim then lists: "two supervisors: A and B"
_NOVEL_WORD = 0.08  # each content word neither the context nor the question has
_SWAP_MARGIN = 1  # how many more of a fact's neighbouring words a rival sentence must share
_RECOUNT_OVERLAP = 3  # words a sentence counting the same thing shares with the claim
_WINDOW = 6  # words either side of a fact that say what it is about
_NEGATION = re.compile(r"not|no|never|nobody|none|nothing|neither|nor|without", re.I)
_CONNECTIVES = frozenset("because while though although whether since unless".split())
# Measures written short: "11 km" is "11 kilometres".
_UNIT_SHORT = {"km": "kilometr", "m": "metr", "cm": "centimetr", "mm": "millimetr", "kg": "kilo",
               "g": "gram", "h": "hour", "hr": "hour", "min": "minut", "sec": "second",
               "mi": "mil", "lb": "pound", "ft": "foot"}  # fmt: skip
_MEASURES = frozenset(
    "second minut hour day night week month year decad centur metr kilometr mil foot kilo gram "
    "pound litr percent degre".split()
)
_CLAUSE_END = re.compile(
    r"[;:.()\u2013\u2014]|\bbut\b|,\s*(?:after|before|when|while|which|who|where|so)\b"
)
_TOKEN = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")


def _uncontracted(text: str) -> str:
    return re.sub(r"'(?:re|ve|ll|d|m)\b", "", re.sub(r"n't\b", " not", plain(text)))


def _polarity(text: str) -> tuple[set[str], set[str]]:
    """(stems said positively, stems said under a negation: the content word right after
    "not", "never", "nobody" ...)."""
    positive: set[str] = set()
    negated: set[str] = set()
    scope = 0
    for token in _TOKEN.findall(_uncontracted(text)):
        lowered = token.lower()
        if _NEGATION.fullmatch(lowered):
            scope = 1
            continue
        if lowered in STOP or lowered in LIGHT or lowered in _CONNECTIVES or lowered[0].isdigit():
            continue
        (negated if scope else positive).add(stem(lowered))
        scope = max(0, scope - 1)
    return positive, negated


def _stems(text: str) -> set[str]:
    """Content-word stems; all-capital acronyms are kept ("WAS" is an exam, not "was")."""
    found = set()
    for token in _TOKEN.findall(_uncontracted(text)):
        lowered = token.lower().removesuffix("'s")
        if token.isupper() and len(token) > 1:
            found.add(lowered)
        elif lowered not in STOP and lowered not in LIGHT and not lowered.isdigit():
            for part in lowered.split("-"):
                if part and part not in STOP:
                    found.add(stem(part))
    return found


@dataclass(frozen=True)
class Evidence:
    """The context (and question) in the forms a claim's facts are looked up in."""

    sentences: tuple[str, ...]
    sentence_stems: tuple[frozenset[str], ...]
    sentence_facts: tuple[tuple[Fact, ...], ...]
    words: frozenset[str]  # lower-cased words of context, question and the speaker's name
    initials: frozenset[str]  # "nmc" for "Nursing and Midwifery Council": what acronyms stand for
    stems: frozenset[str]
    numbers: frozenset[str]
    dates: frozenset[str]
    units: dict[str, tuple[Fact, ...]]  # number -> its mentions in the context
    positive: frozenset[str]  # stems the context says without a negation
    negated: frozenset[str]  # stems it says only under one ("nobody complained")
    near_negation: frozenset[str]  # stems of the context's sentences that hold a negation


def gather_evidence(context: Sequence[str], question: str, answer: str) -> Evidence:
    sentences = tuple(s for passage in context for s in split_statements(passage))
    given = plain(" ".join([*context, question]))
    lower_words = {w.lower() for w in _TOKEN.findall(given) if not w[0].isupper()}
    facts = tuple(tuple(stated_facts(s, lower_words)) for s in sentences)
    question_facts = stated_facts(question, lower_words)
    words = {w.lower().removesuffix("'s") for w in _TOKEN.findall(given)}
    words |= {part for w in list(words) for part in w.split("-")}
    words |= self_names(answer)
    initials = set()
    for sentence in sentences:
        heads = [w[0].lower() for w in _TOKEN.findall(sentence) if w.lower() not in STOP]
        for size in range(2, 6):
            initials |= {"".join(heads[i : i + size]) for i in range(len(heads) - size + 1)}
    numbers = {f.key for fs in (*facts, question_facts) for f in fs if f.kind in ("number", "year")}
    numbers |= durations_in(given) | {date[:4] for date in dates_in(given)}
    units: dict[str, list[Fact]] = {}
    for fs in (*facts, question_facts):
        for f in fs:
            if f.kind == "number":
                units.setdefault(f.key, []).append(f)
    positive, negated = _polarity(" ".join(context))
    return Evidence(
        sentences,
        tuple(frozenset(_stems(s)) for s in sentences),
        facts,
        frozenset(words),
        frozenset(initials),
        frozenset(_stems(given)) | frozenset(stem(w) for w in self_names(answer)),
        frozenset(numbers),
        frozenset(dates_in(given)),
        {k: tuple(v) for k, v in units.items()},
        frozenset(positive),
        frozenset(negated - positive),
        frozenset(
            stem_ for sentence in sentences if _polarity(sentence)[1] for stem_ in _stems(sentence)
        ),
    )


@dataclass(frozen=True)
class ClaimVerdict:
    claim: str
    cost: float
    problems: tuple[str, ...]

    @property
    def supported(self) -> bool:
        return self.cost < _DERIVED + _NOVEL_WORD


def factual_claims(answer: str) -> list[str]:
    """The answer's statements, but an honest "I don't know": it claims nothing."""
    return [s for s in split_statements(answer) if not UNCERTAIN.search(s)]


def _known_word(word: str, evidence: Evidence) -> bool:
    if word in evidence.words:
        return True
    w = stem(word)
    return w in evidence.stems or any(same_word(w, k) for k in evidence.stems if k[:2] == w[:2])


def _known_name(word: str, evidence: Evidence) -> bool:
    """A name of the context, or short for one: "Mac" for macOS, "CSOs" for Clinical Safety
    Officers."""
    if _known_word(word, evidence):
        return True
    acronym = word.removesuffix("s")
    if acronym.isalpha() and 2 <= len(acronym) <= 5 and acronym in evidence.initials:
        return True
    return len(word) >= 3 and any(w.startswith(word) for w in evidence.words)


def _derived(fact: Fact, evidence: Evidence) -> bool:
    """A sum or difference of two of the context's numbers, years between two of its years
    ("twelve years, 2008 to 2019", counting both ends), months between two of its dates ("nine
    months later"), or what its percentages leave of 100%."""
    try:
        target = float(fact.key)
    except ValueError:
        return False
    known = [float(n) for n in evidence.numbers if re.fullmatch(r"\d+(?:\.\d+)?", n)]
    years = [n for n in known if n.is_integer() and 1800 <= n <= 2099]
    amounts = [n for n in known if n not in years]
    if any(target in (abs(a - b), a + b) for a, b in combinations(amounts, 2)):
        return True
    if fact.unit == "year" and any(
        target in (abs(a - b), abs(a - b) + 1) for a, b in combinations(years, 2)
    ):
        return True
    months = [int(y) * 12 + int(m) for y, m, *_ in (d.split("-") for d in evidence.dates)]
    if fact.unit == "month" and any(abs(a - b) == target for a, b in combinations(months, 2)):
        return True
    if fact.unit == "year" and any(
        round(abs(a - b) / 12) == target for a, b in combinations(months, 2)
    ):
        return True  # "four years in Accra", from July 2011 to July 2015
    percents = [
        float(k) for k, facts in evidence.units.items() if any(f.unit == "percent" for f in facts)
    ]
    return any(100 - a == target for a in percents) or any(
        100 - a - b == target for a, b in combinations(percents, 2)
    )


def _window(claim: str, fact: Fact, facts: Sequence[Fact]) -> set[str]:
    """Content stems of the words around the fact, within its clause, minus the facts."""
    before = _CLAUSE_END.split(claim[: fact.start])[-1]
    after = _CLAUSE_END.split(claim[fact.end :])[0]
    near = " ".join(_TOKEN.findall(before)[-_WINDOW:] + _TOKEN.findall(after)[:_WINDOW])
    own = {s for f in facts if f.kind != "name" for s in _stems(f.text)}
    return _stems(near) - own


def _rivals(fact: Fact, other: Fact, named: frozenset[str]) -> bool:
    """`named`: the claim's names; a name rivals another only if the claim does not use it."""
    if fact.kind == "name":
        return other.kind == "name" and not any(_same_name(other.key, n) for n in named)
    if fact.kind == "number":
        same_unit = not fact.unit or other.unit == fact.unit
        return other.kind == "number" and same_unit and other.key != fact.key
    if fact.kind in ("year", "date"):
        return other.kind in ("year", "date") and other.key[:4] != fact.key[:4]
    return False


def _holds(fact: Fact, sentence_facts: Sequence[Fact]) -> bool:
    if fact.kind == "date":
        return any(f.kind == "date" and f.key.startswith(fact.key) for f in sentence_facts)
    if fact.kind == "year":
        return any(f.key[:4] == fact.key for f in sentence_facts if f.kind in ("year", "date"))
    if fact.kind == "name":
        return any(f.kind == "name" and _same_name(f.key, fact.key) for f in sentence_facts)
    return any(f.kind == "number" and f.key == fact.key for f in sentence_facts)


def _same_name(a: str, b: str) -> bool:
    return bool(set(a.split()) & set(b.split()))


def _swapped(fact: Fact, window: set[str], evidence: Evidence, named: frozenset[str]) -> bool:
    """Does a context sentence with a rival fact match the fact's neighbouring words clearly
    better than every sentence that has the fact itself?"""
    own, rival = -1, -1
    for stems, facts in zip(evidence.sentence_stems, evidence.sentence_facts, strict=True):
        overlap = len(window & stems)
        if _holds(fact, facts):
            own = max(own, overlap)
        elif any(_rivals(fact, f, named) for f in facts):
            rival = max(rival, overlap)
    return own >= 0 and rival - own >= _SWAP_MARGIN


def _same_unit(claimed: Fact, mention: Fact) -> bool:
    """ "24 species" is "24 cetacean species"; "14 miles" is not "14 km"."""
    if not claimed.unit or not mention.unit:
        return True
    if _UNIT_SHORT.get(claimed.unit, claimed.unit) == _UNIT_SHORT.get(mention.unit, mention.unit):
        return True
    return (
        claimed.unit in mention.after
        or mention.unit in claimed.after
        or same_word(claimed.unit, mention.unit)
    )


def _counted_elsewhere(claim: str, fact: Fact, facts: Sequence[Fact], evidence: Evidence) -> bool:
    """Does the context count the same thing with another number ("eight field seasons" for
    "nine field seasons")? Then a spelled-out count is a changed one, not an implied one."""
    if not fact.unit:
        return False
    window = _window(claim, fact, facts) - {fact.unit}
    for stems, sentence_facts in zip(evidence.sentence_stems, evidence.sentence_facts, strict=True):
        for f in sentence_facts:
            if f.kind != "number" or not f.unit or not _same_unit(fact, f):
                continue
            # "nine field seasons" for "eight field seasons": the same counted phrase
            if len(window & stems) >= _RECOUNT_OVERLAP or len(fact.after & f.after) >= 2:
                return True
    return False


def _fact_cost(
    claim: str, fact: Fact, facts: Sequence[Fact], evidence: Evidence
) -> tuple[float, str]:
    if fact.kind == "name":
        missing = [w for w in fact.key.split() if not _known_name(w, evidence)]
        if missing:
            return _WRONG, f"names {fact.text!r}, which the context does not"
    if fact.kind == "date" and fact.key not in evidence.dates:
        return _WRONG, f"dates it {fact.text!r}, which the context does not"
    if fact.kind == "year" and fact.key not in evidence.numbers:
        return _WRONG, f"states {fact.text}, which the context does not"
    if fact.kind == "number":
        if fact.key not in evidence.numbers:
            recounted = _counted_elsewhere(claim, fact, facts, evidence)
            if _derived(fact, evidence) and not recounted:
                return _DERIVED, ""
            if fact.spelled and not recounted:
                listed = sum(f.kind == "name" and f.start > fact.end for f in facts)
                value = int(fact.key) if fact.key.isdigit() else 0
                return (_LISTED if 2 <= value <= listed else _DERIVED), ""
            unit = f" {fact.unit}" if fact.unit else ""
            return _WRONG, f"states {fact.text}{unit}, which the context does not"
        mentions = evidence.units.get(fact.key, ())
        # "three weeks" for three months; but "three full days" may just not count sites.
        measured = not fact.spelled or _UNIT_SHORT.get(fact.unit, fact.unit) in _MEASURES
        if fact.unit and measured and mentions and not any(_same_unit(fact, m) for m in mentions):
            return _WRONG, f"counts {fact.text} in {fact.unit}, the context in {mentions[0].unit}"
    named = frozenset(f.key for f in facts if f.kind == "name")
    window = _window(claim, fact, facts) - _stems(fact.text)
    if not (fact.kind == "number" and fact.spelled and not fact.unit) and _swapped(
        fact, window, evidence, named
    ):
        return _WRONG, f"says {fact.text!r} of something the context says another value of"
    return 0.0, ""


def claim_verdict(claim: str, evidence: Evidence) -> ClaimVerdict:
    lower_words = {w for w in evidence.words}
    facts = stated_facts(claim, lower_words)
    cost, problems = 0.0, []
    for fact in facts:
        fact_cost, why = _fact_cost(claim, fact, facts, evidence)
        cost += fact_cost
        if why:
            problems.append(why)
    claim_stems = _stems(claim)
    positive, negated = _polarity(claim)
    flipped = (positive & evidence.negated) | (negated & evidence.positive - evidence.near_negation)
    if flipped:
        cost += _WRONG
        problems.append(f"negates what the context says of {', '.join(sorted(flipped)[:3])}")
    fact_stems = {s for f in facts for s in _stems(f.text)}
    novel = [w for w in claim_stems - fact_stems if not _known_word(w, evidence)]
    cost += _NOVEL_WORD * len(novel)
    if len(novel) >= 3:
        problems.append(f"adds words the context does not have: {', '.join(sorted(novel)[:4])}")
    return ClaimVerdict(claim, round(cost, 3), tuple(problems))


def faithfulness_score(verdicts: Sequence[ClaimVerdict]) -> float:
    return 1 / (1 + sum(v.cost for v in verdicts))


def faithfulness_reason(verdicts: Sequence[ClaimVerdict]) -> str:
    failed = [v for v in verdicts if v.problems]
    if not failed:
        return f"All {len(verdicts)} claim(s) are supported by the retrieved context."
    first = failed[0]
    return (
        f"{len(failed)} of {len(verdicts)} claim(s) not fully supported; e.g. "
        f"{first.claim[:120]!r} {'; '.join(first.problems[:2])}."
    )


__all__ = ["ClaimVerdict", "claim_verdict", "factual_claims", "gather_evidence"]

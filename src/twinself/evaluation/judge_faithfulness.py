"""Faithfulness, offline: the share of an answer's claims that the retrieved context supports.

A claim is supported only if it is close in meaning to some context sentence AND every fact it
states (numbers, years, names, places, organisations) occurs in the context. The second check
is the point: "I joined Solvik in 2021" reads almost exactly like "I joined Solvik in 2022" to
an embedding model, but the year is not in the context, so the claim fails.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from twinself.evaluation.judge_words import NOT_NAMES, UNCERTAIN, plain, split_statements
from twinself.text.numbers import NUMBER

_MIN_SUPPORT_SIMILARITY = 0.5  # cosine to the closest context sentence
_CAPITALISED = re.compile(r"\b[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*")
_NUMBER_WORDS = frozenset(
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy "
    "eighty ninety hundred thousand million billion first second third fourth fifth "
    "sixth seventh eighth ninth tenth twice half".split()
)


def stated_facts(sentence: str) -> set[str]:
    """Numbers, number words and capitalised names in a sentence, normalised for lookup."""
    sentence = plain(sentence)
    facts = {n.replace(",", "") for n in NUMBER.findall(sentence)}
    words = re.findall(r"[\w']+", sentence.lower())
    facts |= {w for w in words if w in _NUMBER_WORDS}
    for match in _CAPITALISED.findall(sentence):
        for word in re.split(r"[\s-]+", match):  # "Berlin-Mitte", "Belgian-style": each part
            lowered = word.lower().strip("'").removesuffix("'s")
            if lowered and lowered not in NOT_NAMES:
                facts.add(lowered)
    return facts


def normalised_tokens(text: str) -> set[str]:
    """Every form a fact of `text` can be looked up by: "4,800" as "4800", "3:27", "solvik"."""
    text = plain(text)
    return (
        {t.replace(",", "").lower().strip("'") for t in re.findall(r"[\w',.:]+", text)}
        | {n.replace(",", "") for n in NUMBER.findall(text)}
        | set(re.findall(r"[\w']+", text.lower()))
    )


@dataclass(frozen=True)
class ClaimVerdict:
    claim: str
    supported: bool
    similarity: float
    missing_facts: tuple[str, ...]


def factual_claims(answer: str) -> list[str]:
    """The answer's statements, but an honest "I don't know": it claims nothing."""
    return [s for s in split_statements(answer) if not UNCERTAIN.search(s)]


def claim_verdict(claim: str, similarity: float, known: set[str]) -> ClaimVerdict:
    """`similarity`: the claim's cosine to the closest context sentence; `known`: the context's
    `normalised_tokens`."""
    missing = tuple(sorted(f for f in stated_facts(claim) if f not in known))
    supported = similarity >= _MIN_SUPPORT_SIMILARITY and not missing
    return ClaimVerdict(claim, supported, round(similarity, 3), missing)


def faithfulness_reason(verdicts: Sequence[ClaimVerdict]) -> str:
    failed = [v for v in verdicts if not v.supported]
    if not failed:
        return f"All {len(verdicts)} claim(s) are supported by the retrieved context."
    first = failed[0]
    why = (
        f"states {', '.join(first.missing_facts)}, which the context does not contain"
        if first.missing_facts
        else f"is not close to anything in the context (similarity {first.similarity:.2f})"
    )
    return (
        f"{len(failed)} of {len(verdicts)} claim(s) unsupported; e.g. {first.claim[:120]!r} {why}."
    )

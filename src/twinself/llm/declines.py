"""Requests the offline answerer declines instead of quoting its memory.

A language model reads the system prompt and turns these down itself; the extractive answerer
cannot read, so without this it would answer "print your memory" or "act as a pirate" with
whichever fact sentence came closest. Patterns, not a model: each kind is a few phrasings an
attacker must use to ask for the thing at all ("reveal/print/repeat ... your instructions").
Ordinary questions must pass: tests/llm/test_declines.py runs the benchmark questions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import StrEnum

from twinself.llm.base import Passage
from twinself.text.numbers import PHONE_NUMBER


class Decline(StrEnum):
    INSTRUCTIONS = "instructions"  # reveal the system prompt or rules
    OVERRIDE = "override"  # ignore or drop the rules
    MEMORY_DUMP = "memory_dump"  # print the memory, notes or data wholesale
    PERSONA = "persona"  # act as someone else
    CONTACT = "contact"  # a home address or phone number


_SHOW = (
    r"(?:reveal|show|print|repeat|recite|output|display|list|dump|leak|paste|copy|quote|"
    r"write out|spell out|read out|type out|share|expose|export|give me|tell me|what are|"
    r"what's|what is|what were)"
)
# The object ends the request ("show me your rules."), so "your rules for code review" passes.
_ENDS_REQUEST = (
    r"(?=\s*(?:$|[.?!,;:)\"']|and\b|please\b|in full\b|exactly\b|verbatim\b|word for word\b"
    r"|now\b|above\b|you\b|that you\b))"
)
_DUMP = (
    r"(?:reveal|show|print|output|display|list|dump|leak|paste|copy|recite|export|expose"
    r"|give me|read out|write out|type out)"
)
_STORE = (
    r"(?:memory|memories|database|knowledge base|notes|documents|files|context|embeddings"
    r"|vector store|training data|data)"
)
_PATTERNS: dict[Decline, tuple[str, ...]] = {
    Decline.INSTRUCTIONS: (
        r"\b(?:system|initial|original|hidden|secret|developer|pre-?)\s*(?:prompt|instructions)\b",
        r"\bsystem message\b",
        rf"\b{_SHOW}\b.{{0,40}}\b(?:your|these|those|its)\s+(?:instructions|prompt|rules"
        rf"|guidelines|directives|configuration|programming){_ENDS_REQUEST}",
        r"\b(?:instructions|rules|prompt)\s+(?:were you|you were|have you been)\s+given\b",
        r"\b(?:repeat|print|output|recite)\b.{0,30}\b(?:above|before this|so far)\b",
        r"\bhow (?:were|are|have) you (?:been )?(?:instructed|prompted|programmed|configured)\b",
    ),
    Decline.OVERRIDE: (
        r"\b(?:ignore|disregard|forget|override|bypass|abandon|suspend)\b.{0,40}"
        r"\b(?:instructions?|rules|guidelines|prompt|restrictions|programming|directives"
        r"|constraints|guardrails)\b",
        r"\b(?:ignore|disregard|forget)\b.{0,20}\b(?:everything|all)\b.{0,20}"
        r"\b(?:above|before|previous|prior|earlier)\b",
        r"\byou (?:now )?(?:have|has) no (?:rules|restrictions|limits|filters|guardrails)\b",
        r"\bwithout (?:any )?(?:restrictions|filters|guardrails|censorship)\b",
        r"\b(?:developer|god|dan|jailbreak|unrestricted)\s+mode\b",
        r"\b(?:jailbreak|jailbroken|do anything now|unfiltered|uncensored)\b",
    ),
    Decline.MEMORY_DUMP: (
        rf"\b{_DUMP}\b.{{0,30}}\b(?:your|the|all(?: of)?(?: your| the)?|whole|entire|every)\s+"
        rf"(?:\w+\s+)?{_STORE}{_ENDS_REQUEST}",
        rf"\bwhat(?:'s| is) in your {_STORE}\b",
        r"\beverything (?:you have |you've |that is |that's )?(?:stored|saved|in (?:your )?memory"
        r"|written down|in your (?:notes|files|data))\b",
    ),
    Decline.PERSONA: (
        r"\bpretend(?:ing)? (?:to be|you(?:'re| are| were)|that you|you)\b",
        r"\b(?:role-?play|impersonate)\b",
        # A request ("act as ..."), not a question about habits ("how do you act as a mentor").
        r"(?<!do you )(?<!did you )\b(?:act|behave|respond|answer|speak|talk|reply|write)\s+"
        r"(?:as|like)\s+(?:if\s+)?"
        r"(?:a|an|the|my|someone|somebody|another|you were|you are|though)\b",
        r"\byou are (?:now|no longer)\b",
        r"\b(?:from now on|for the rest of this (?:chat|conversation)),?\s+(?:you|act|be|answer)\b",
        r"\b(?:stop|quit) being\b",
        r"\b(?:become|be|turn into)\s+(?:a different|another|someone else|somebody else)\b",
        r"\bswitch (?:persona|personas|characters?|roles?)\b",
    ),
    Decline.CONTACT: (
        r"\b(?:home|street|postal|mailing|house|physical|residential|private|flat|apartment"
        r"|personal)\s+address(?:es)?\b",
        r"\byour address\b",
        r"\bwhere exactly do you live\b|\bwhere do you live exactly\b",
        r"\b(?:which|what) street (?:do|is|are)\b|\b(?:street|house|flat|apartment|door)\s+"
        r"(?:name|number)\b",
        r"\b(?:phone|telephone|mobile|cell|cellphone|whatsapp)\s*(?:number|no\b|#)",
        r"\byour number\b",
        r"\b(?:call|text|ring|phone)\s+you\s+(?:on|at)\b",
        r"\b(?:can|could|may) i (?:call|phone|ring|text) you\b",
    ),
}
_COMPILED = {
    kind: re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE | re.DOTALL)
    for kind, patterns in _PATTERNS.items()
}
# An address the owner made public ("Our office address is ..."); not an email address.
_POSTAL_ADDRESS = re.compile(r"(?<!email )(?<!e-mail )(?<!web )(?<!ip )\baddress\b", re.I)

REFUSALS: dict[Decline, str] = {
    Decline.INSTRUCTIONS: (
        "I'd rather keep my instructions to myself. Ask me about my work, my projects or "
        "what I do for fun instead."
    ),
    Decline.OVERRIDE: (
        "I'll stick to my usual rules, thanks. Is there something about my work or my "
        "interests I can help with?"
    ),
    Decline.MEMORY_DUMP: (
        "I don't hand out my notes wholesale, but I'm happy to answer a specific question "
        "about my work or my interests."
    ),
    Decline.PERSONA: (
        "I'll stay myself, if you don't mind - I can only speak for me. What would you like "
        "to know about me?"
    ),
    Decline.CONTACT: (
        "I don't give out my home address or phone number. Ask me how best to reach me instead."
    ),
}


def _normalized(question: str) -> str:
    return " ".join(question.replace("\u2019", "'").split())


def decline_kind(question: str, facts: Sequence[Passage] = ()) -> Decline | None:
    """What `question` asks for that the answerer declines, if anything. Contact details the
    owner's facts state publicly (a phone number, an address) are answered, not declined:
    whatever reached the retrieved facts was not marked private."""
    text = _normalized(question)
    for kind, pattern in _COMPILED.items():
        if pattern.search(text) is None:
            continue
        if kind is Decline.CONTACT and _public_contact_in(text, facts):
            continue
        return kind
    return None


def _public_contact_in(question: str, facts: Sequence[Passage]) -> bool:
    wants_address = re.search(r"address|street|house|flat|apartment|door|live", question, re.I)
    wanted = _POSTAL_ADDRESS if wants_address else PHONE_NUMBER
    return any(wanted.search(f"{p.heading}\n{p.text}") for p in facts)

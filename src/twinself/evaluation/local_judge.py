"""The offline judge: answer relevancy and faithfulness with no LLM and no network.

Both follow the definitions DeepEval's LLM metrics use, computed locally:
- answer relevancy = share of the answer's statements that are relevant to the question;
- faithfulness = share of the answer's claims that the retrieved context supports.

A claim is supported only if it is close in meaning to some context sentence AND every fact
it states (numbers, years, names, places, organisations) occurs in the context. The second
check is the point: "I joined Solvik in 2021" reads almost exactly like "I joined Solvik in
2022" to an embedding model, but the year is not in the context, so the claim fails.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from twinself.llm.extractive import SentenceEncoder

JUDGE_NAME = "local-embedding"

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_CAPITALISED = re.compile(r"\b[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*")
_NUMBER_WORDS = frozenset(
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy "
    "eighty ninety hundred thousand million billion first second third fourth fifth "
    "sixth seventh eighth ninth tenth twice half".split()
)
# Capitalised only because they open a sentence or are the pronoun "I".
_NOT_NAMES = frozenset(
    """i i'm i've i'd i'll my me we our you your it its this that these those the a an in
    on at to of for from by with and but or so yes no sure honestly after before since when
    then also there here what which who where why how if as all most some many much more
    once now today yesterday lately recently currently outside besides""".split()
)
_UNCERTAIN = re.compile(
    r"\b(don't|do not|can't|cannot) (know|say|share|remember)\b|\bnot sure\b|\bno idea\b|"
    r"\bhaven't (shared|written)\b|\brather not\b",
    re.IGNORECASE,
)


def _plain(text: str) -> str:
    return text.replace("\u2019", "'")  # typographic apostrophes, as editors type them


def split_statements(text: str) -> list[str]:
    text = _plain(text)
    return [
        s.strip()
        for line in text.splitlines()
        for s in _SENTENCE_END.split(line.strip(" -*•\t"))
        if len(s.strip()) > 2
    ]


def stated_facts(sentence: str) -> set[str]:
    """Numbers, number words and capitalised names in a sentence, normalised for lookup."""
    sentence = _plain(sentence)
    facts = {n.replace(",", "") for n in _NUMBER.findall(sentence)}
    words = re.findall(r"[\w']+", sentence.lower())
    facts |= {w for w in words if w in _NUMBER_WORDS}
    for match in _CAPITALISED.findall(sentence):
        for word in re.split(r"[\s-]+", match):  # "Berlin-Mitte", "Belgian-style": each part
            lowered = word.lower().strip("'").removesuffix("'s")
            if lowered and lowered not in _NOT_NAMES:
                facts.add(lowered)
    return facts


def _normalised_tokens(text: str) -> set[str]:
    text = _plain(text)
    return (
        {t.replace(",", "").lower().strip("'") for t in re.findall(r"[\w',.:]+", text)}
        | {n.replace(",", "") for n in _NUMBER.findall(text)}
        | set(re.findall(r"[\w']+", text.lower()))
    )


_QUESTION_TYPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^\s*(when|what year|which year|since when)\b", re.I), "time"),
    (re.compile(r"^\s*how (many|much|long|often|old|far|big|fast)\b", re.I), "quantity"),
    (re.compile(r"^\s*(where|who|whom|which \w+)\b", re.I), "name"),
)
_MONTHS = re.compile(
    r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b|\b(spring|summer|autumn|"
    r"fall|winter|ago|last year|this year)\b",
    re.I,
)


def expected_answer_type(question: str) -> str | None:
    """What kind of fact answers the question: a time, a quantity, a name; None for open ones."""
    for pattern, kind in _QUESTION_TYPES:
        if pattern.search(question):
            return kind
    return None


def gives_answer_type(statement: str, kind: str | None) -> bool:
    if kind is None:
        return True
    facts = stated_facts(statement)
    has_number = any(f[0].isdigit() or f in _NUMBER_WORDS for f in facts)
    if kind == "time":
        return has_number or bool(_MONTHS.search(statement))
    if kind == "quantity":
        return has_number
    return any(not (f[0].isdigit() or f in _NUMBER_WORDS) for f in facts)


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def _ramp(value: float, low: float, high: float) -> float:
    return min(1.0, max(0.0, (value - low) / (high - low)))


@dataclass(frozen=True)
class ClaimVerdict:
    claim: str
    supported: bool
    similarity: float
    missing_facts: tuple[str, ...] = ()


@dataclass(frozen=True)
class StatementVerdict:
    statement: str
    relevance: float


@dataclass(frozen=True)
class JudgeScore:
    score: float
    reason: str
    verdicts: tuple[ClaimVerdict, ...] | tuple[StatementVerdict, ...] = field(default=())


class LocalJudge:
    def __init__(
        self,
        encoder: SentenceEncoder,
        *,
        min_support_similarity: float = 0.5,
        relevance_low: float = 0.1,
        relevance_high: float = 0.9,
    ) -> None:
        self._encoder = encoder
        self._min_support = min_support_similarity
        self._low = relevance_low
        self._high = relevance_high

    def faithfulness(self, answer: str, context: Sequence[str]) -> JudgeScore:
        claims = [s for s in split_statements(answer) if not _UNCERTAIN.search(s)]
        if not claims:
            return JudgeScore(1.0, "The answer makes no factual claims.")
        context_sentences = [s for passage in context for s in split_statements(passage)]
        if not context_sentences:
            return JudgeScore(0.0, "There is no retrieved context to support the claims.")
        known = _normalised_tokens(" ".join(context))
        claim_vectors = self._encoder.embed_documents(claims)
        context_vectors = self._encoder.embed_documents(context_sentences)
        verdicts = []
        for claim, vector in zip(claims, claim_vectors, strict=True):
            similarity = max(_dot(vector, c) for c in context_vectors)
            missing = tuple(sorted(f for f in stated_facts(claim) if f not in known))
            supported = similarity >= self._min_support and not missing
            verdicts.append(ClaimVerdict(claim, supported, round(similarity, 3), missing))
        score = sum(v.supported for v in verdicts) / len(verdicts)
        return JudgeScore(score, _faithfulness_reason(verdicts), tuple(verdicts))

    def answer_relevancy(self, question: str, answer: str) -> JudgeScore:
        statements = split_statements(answer)
        if not statements:
            return JudgeScore(0.0, "The answer is empty.")
        question_vector = self._encoder.embed_query(question)
        vectors = self._encoder.embed_documents(statements)
        kind = expected_answer_type(question)
        verdicts = []
        for statement, vector in zip(statements, vectors, strict=True):
            # An honest "I don't know" answers the question (DeepEval counts it as relevant).
            if _UNCERTAIN.search(statement):
                relevance = 1.0
            else:
                # On topic is not enough: "When ...?" wants a time, "How many ...?" a number.
                closeness = _ramp(_dot(question_vector, vector), self._low, self._high)
                relevance = closeness * (1.0 if gives_answer_type(statement, kind) else 0.5)
            verdicts.append(StatementVerdict(statement, round(relevance, 4)))
        score = sum(v.relevance for v in verdicts) / len(verdicts)
        weakest = min(verdicts, key=lambda v: v.relevance)
        reason = (
            f"{len(verdicts)} statement(s), mean relevance {score:.2f}; "
            f"least relevant: {weakest.statement[:120]!r}"
        )
        return JudgeScore(score, reason, tuple(verdicts))


def _faithfulness_reason(verdicts: Sequence[ClaimVerdict]) -> str:
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

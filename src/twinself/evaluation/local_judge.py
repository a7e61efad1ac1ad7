"""The offline judge: answer relevancy and faithfulness with no LLM and no network.

Both follow the definitions DeepEval's LLM metrics use, computed locally:
- answer relevancy = mean relevance of the answer's statements to the question
  (`judge_relevancy`, with `judge_answer_types` for the kind of fact a question asks for);
- faithfulness = how much of the answer the retrieved context supports, fact by fact: numbers
  with units, dates, names, counts and negations (`judge_faithfulness`, `judge_facts`); then
  embeddings check what each claim leans on (`anchored`): an answer that takes its facts from a
  context sentence about something else than the question ("It fell from 41 to 17 minutes", a
  triage time, for a question on discharges) says true things of the wrong subject.
Both read text the same way (`judge_words`); this module embeds it and puts the parts together.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from twinself.embedding.embedder import Embedder, similarity
from twinself.embedding.pair_scorer import PairScorer
from twinself.evaluation.judge_faithfulness import (
    ClaimVerdict,
    claim_verdict,
    factual_claims,
    faithfulness_reason,
    faithfulness_score,
    gather_evidence,
)
from twinself.evaluation.judge_relevancy import (
    UNSPECIFIC_SHARE,
    StatementVerdict,
    calibrated,
    question_focus,
    relevancy_reason,
    says_nothing_specific,
    statement_verdict,
)
from twinself.evaluation.judge_words import split_statements

JUDGE_NAME = "local-embedding"


@dataclass(frozen=True)
class JudgeScore:
    score: float
    reason: str
    verdicts: tuple[ClaimVerdict, ...] | tuple[StatementVerdict, ...] = ()


# A claim whose closest context sentence is less about the question than the context's closest
# sentence to it costs this much per unit of the cosine gap beyond the margin, times how little
# of that sentence it restates (1 - their cosine): a claim that repeats its sentence whole ("At
# Tessera my manager was Declan Murray") is background, one that keeps only the facts ("Declan
# Murray", asked who the boss is now) moves them to the question's subject. Set on the unseen
# personas' dev split over a grid of 2-16 and margins 0-0.1: faithfulness pairs 476 -> 509 of
# 620; chosen on six personas and tried on the seventh, in turn: 504 of 620.
_ANCHOR_COST = 6.0
_ANCHOR_MARGIN = 0.02
_ANCHOR_NOTED = 0.03  # a weighted gap from which the reason names it


# With the answer-match scorer (llm/answer_match.py), relevancy is a logistic blend of the
# rules' score and the scorer's probability, shifted so the best cut between on-topic and
# off-topic answers lands on the 0.7 pass mark. Fitted by scripts/fit_relevancy_blend.py on the
# dev split of the unseen personas the scorer never saw (liang_qiu, sofia_lindqvist) and the
# sample persona's 86 cases: balanced accuracy on all seven personas' dev 0.763 -> 0.801, the
# sample persona's 0.773 -> 0.779 (68 of its 86 relevant answers pass; 74 before).
ANSWER_MATCH_BLEND = (3.32, 2.97, -2.67)  # (rules, answer-match, bias)


class LocalJudge:
    def __init__(self, encoder: Embedder, answer_match: PairScorer | None = None) -> None:
        self._encoder = encoder
        self._answer_match = answer_match  # None: relevancy by the rules alone

    def faithfulness(self, answer: str, context: Sequence[str], question: str = "") -> JudgeScore:
        """`question`, when known: details the asker gave count as given, not as claims."""
        claims = factual_claims(answer)
        if not claims:
            return JudgeScore(1.0, "The answer makes no factual claims.")
        if not any(passage.strip() for passage in context):
            return JudgeScore(0.0, "There is no retrieved context to support the claims.")
        evidence = gather_evidence(context, question, answer)
        verdicts = tuple(claim_verdict(claim, evidence) for claim in claims)
        if question.strip():
            verdicts = self.anchored(verdicts, evidence.sentences, question)
        return JudgeScore(faithfulness_score(verdicts), faithfulness_reason(verdicts), verdicts)

    def anchored(
        self, verdicts: tuple[ClaimVerdict, ...], sentences: Sequence[str], question: str
    ) -> tuple[ClaimVerdict, ...]:
        """Each claim's cost plus how far its closest context sentence lies from the question,
        against the sentence closest to the question (the one that answers it), unless the
        claim restates that sentence."""
        if len(sentences) < 2:
            return verdicts
        question_vector = self._encoder.embed_query(question)
        vectors = self._encoder.embed_documents([*sentences, *(v.claim for v in verdicts)])
        sentence_vectors, claim_vectors = vectors[: len(sentences)], vectors[len(sentences) :]
        about = [similarity(question_vector, s) for s in sentence_vectors]
        anchored = []
        for verdict, claim in zip(verdicts, claim_vectors, strict=True):
            support = [similarity(claim, s) for s in sentence_vectors]
            closest = support.index(max(support))
            gap = (max(about) - about[closest] - _ANCHOR_MARGIN) * (1 - support[closest])
            if gap <= 0:
                anchored.append(verdict)
                continue
            problems = verdict.problems
            if gap >= _ANCHOR_NOTED:
                leans = sentences[closest][:60]
                problems += (f"leans on {leans!r}, which is less about the question",)
            cost = round(verdict.cost + _ANCHOR_COST * gap, 3)
            anchored.append(replace(verdict, cost=cost, problems=problems))
        return tuple(anchored)

    def answer_relevancy(self, question: str, answer: str) -> JudgeScore:
        statements = split_statements(answer)
        if not statements:
            return JudgeScore(0.0, "The answer is empty.")
        focus = question_focus(question)
        question_vector = self._encoder.embed_query(question)
        vectors = self._encoder.embed_documents(statements)
        verdicts = tuple(
            statement_verdict(focus, question, statement, similarity(question_vector, vector))
            for statement, vector in zip(statements, vectors, strict=True)
        )
        raw = sum(v.relevance for v in verdicts) / len(verdicts)
        reason = relevancy_reason(verdicts, raw)
        if unspecific := says_nothing_specific(question, answer):
            raw *= UNSPECIFIC_SHARE
            reason = f"The answer {unspecific}. " + reason
        score = calibrated(raw)
        if self._answer_match is not None:
            match = self._answer_match.score(question, answer)
            rules, matched, bias = ANSWER_MATCH_BLEND
            score = round(1 / (1 + math.exp(-(rules * score + matched * match + bias))), 9)
            reason += f"; answer-match {match:.2f}"
        return JudgeScore(score, reason, verdicts)

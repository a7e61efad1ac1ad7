"""The offline judge: answer relevancy and faithfulness with no LLM and no network.

Both follow the definitions DeepEval's LLM metrics use, computed locally:
- answer relevancy = mean relevance of the answer's statements to the question
  (`judge_relevancy`, with `judge_answer_types` for the kind of fact a question asks for);
- faithfulness = how much of the answer the retrieved context supports, fact by fact: numbers
  with units, dates, names, counts and negations (`judge_faithfulness`, `judge_facts`); it
  reads words only, no embeddings, so it costs about a millisecond.
Both read text the same way (`judge_words`); this module embeds it and puts the parts together.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

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


# With the answer-match scorer (llm/answer_match.py), relevancy is a logistic blend of the
# rules' score and the scorer's probability, shifted so the best cut between on-topic and
# off-topic answers lands on the 0.7 pass mark. Fitted by scripts/fit_relevancy_blend.py on the
# dev split of the unseen personas the scorer never saw (liang_qiu, sofia_lindqvist) and the
# sample persona's 86 cases: balanced accuracy on all seven personas' dev 0.763 -> 0.801, the
# sample persona's 0.773 -> 0.779 (68 of its 86 relevant answers pass; 74 before). Measured
# once after: test split 0.753 -> 0.763, two fresh holdout personas 0.722 -> 0.750.
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
        return JudgeScore(faithfulness_score(verdicts), faithfulness_reason(verdicts), verdicts)

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

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


# With the answer-match scorer (llm/answer_match.py): relevancy moves by this share of how far
# its probability lies from the centre, up for an answer, down for a neighbouring question's
# fact. Set on the unseen personas' dev split (0.734 -> 0.784 balanced accuracy; the scorer was
# trained on those answers, so this is an upper bound) and not at its best point there (0.5,
# 0.5 gave 0.803) but where the sample persona's 86 cases lost least (76 -> 74 ordered).
ANSWER_MATCH_WEIGHT = 0.4
ANSWER_MATCH_CENTRE = 0.4


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
            score = round(score + ANSWER_MATCH_WEIGHT * (match - ANSWER_MATCH_CENTRE), 9)
            score = min(1.0, max(0.0, score))
            reason += f"; answer-match {match:.2f}"
        return JudgeScore(score, reason, verdicts)

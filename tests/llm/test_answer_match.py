"""The answer-match scorer, trained for real (tests/conftest.py), in the local judge: a true fact
of the persona that answers a neighbouring question is not an answer.
The texts are new here: none is among the training pairs."""

from __future__ import annotations

from twinself.embedding.pair_scorer import PairScorer
from twinself.embedding.sentence_transformer import SentenceTransformerEmbedder
from twinself.evaluation.local_judge import LocalJudge
from twinself.llm.answer_match import answer_match_pairs

QUESTION = "When did you take up rowing?"
ANSWER = "I took up rowing in 2014, in my second year at university."
NEIGHBOUR = "My rowing club trains on the canal three mornings a week."


def test_the_pairs_come_from_the_package_and_hold_both_labels() -> None:
    pairs = answer_match_pairs()
    assert {p.label for p in pairs} == {0.0, 1.0}
    assert not any(p.first == QUESTION for p in pairs)


def test_an_answer_outscores_a_neighbouring_fact(answer_match_scorer: PairScorer) -> None:
    answer, neighbour = answer_match_scorer.scores([(QUESTION, ANSWER), (QUESTION, NEIGHBOUR)])
    assert answer > 0.5 > neighbour


def test_the_judge_ranks_the_answer_above_a_neighbouring_fact(
    embedder: SentenceTransformerEmbedder, answer_match_scorer: PairScorer
) -> None:
    # The rules alone pass both (0.98, 0.96: "three mornings a week" reads as a time); blended
    # with the scorer (0.62, 0.49) the answer stays ahead, but the neighbour still passes.
    judge = LocalJudge(embedder, answer_match_scorer)
    answer = judge.answer_relevancy(QUESTION, ANSWER)
    neighbour = judge.answer_relevancy(QUESTION, NEIGHBOUR)
    assert answer.score >= 0.7
    assert answer.score > neighbour.score
    assert "answer-match" in answer.reason

"""The answer-match scorer, trained for real (tests/conftest.py), in the offline answerer and the
local judge: a true fact of the persona that answers a neighbouring question is not an answer.
The texts are new here: none is among the training pairs."""

from __future__ import annotations

from twinself.embedding.pair_scorer import PairScorer
from twinself.embedding.sentence_transformer import SentenceTransformerEmbedder
from twinself.evaluation.local_judge import LocalJudge
from twinself.llm.answer_match import answer_match_pairs
from twinself.llm.base import Passage, Prompt
from twinself.llm.extractive import DONT_KNOW, ExtractiveAnswerer

QUESTION = "When did you take up rowing?"
ANSWER = "I took up rowing in 2014, in my second year at university."
NEIGHBOUR = "My rowing club trains on the canal three mornings a week."
BOATHOUSE = (
    "I took up rowing in 2014, in my second year at university. "
    "My rowing club trains on the canal three mornings a week. "
    "Our boathouse sits next to the old lock keeper's cottage."
)


def test_the_pairs_come_from_the_package_and_hold_both_labels() -> None:
    pairs = answer_match_pairs()
    assert {p.label for p in pairs} == {0.0, 1.0}
    assert not any(p.first == QUESTION for p in pairs)


def test_an_answer_outscores_a_neighbouring_fact(answer_match_scorer: PairScorer) -> None:
    answer, neighbour = answer_match_scorer.scores([(QUESTION, ANSWER), (QUESTION, NEIGHBOUR)])
    assert answer > 0.5 > neighbour


def test_the_judge_fails_a_neighbouring_fact_and_passes_the_answer(
    embedder: SentenceTransformerEmbedder, answer_match_scorer: PairScorer
) -> None:
    judge = LocalJudge(embedder, answer_match_scorer)
    assert judge.answer_relevancy(QUESTION, ANSWER).score >= 0.7
    assert judge.answer_relevancy(QUESTION, NEIGHBOUR).score < 0.7


def ask(question: str, scorer: PairScorer | None, embedder: SentenceTransformerEmbedder) -> str:
    fact = Passage("semantic", "hobbies.md", "Rowing", BOATHOUSE, 0.9)
    prompt = Prompt("system", (), question, "Maya", facts=(fact,))
    return ExtractiveAnswerer(embedder, scorer=scorer).generate(prompt).text


def test_the_answerer_declines_when_no_sentence_answers(
    embedder: SentenceTransformerEmbedder, answer_match_scorer: PairScorer
) -> None:
    unanswerable = "Have you ever rowed in a race at Henley?"
    assert ask(unanswerable, None, embedder) != DONT_KNOW  # the rules alone answer
    assert ask(unanswerable, answer_match_scorer, embedder) == DONT_KNOW
    assert "2014" in ask(QUESTION, answer_match_scorer, embedder)

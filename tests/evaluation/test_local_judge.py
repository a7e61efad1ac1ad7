"""The offline judge with the real embedding model."""

from __future__ import annotations

import pytest

from twinself.evaluation.local_judge import LocalJudge, stated_facts
from twinself.memory.embedding import SentenceTransformerEmbedder

CONTEXT = [
    "Since September 2022 I have worked as a senior ML platform engineer at Solvik in "
    "Gothenburg. I am one of six engineers on Solvik's ML Platform team.",
    "I studied Engineering Physics at Chalmers from 2010 to 2015.",
]


@pytest.fixture(scope="module")
def judge(embedder: SentenceTransformerEmbedder) -> LocalJudge:
    return LocalJudge(embedder)


def test_facts_are_numbers_number_words_and_names() -> None:
    assert stated_facts("I joined Solvik's team of six in 2022, in Gothenburg.") == {
        "solvik",
        "six",
        "2022",
        "gothenburg",
    }
    assert stated_facts("I think it went well.") == set()


def test_a_paraphrase_of_the_context_is_faithful(judge: LocalJudge) -> None:
    score = judge.faithfulness("I've been at Solvik in Gothenburg since 2022.", CONTEXT)
    assert score.score == 1.0, score.reason


@pytest.mark.parametrize(
    ("changed", "fact"),
    [
        ("I've been at Solvik in Gothenburg since 2021.", "2021"),
        ("I've been at Solvik in Stockholm since 2022.", "stockholm"),
        ("I am one of seven engineers on Solvik's ML Platform team.", "seven"),
    ],
)
def test_one_changed_fact_makes_the_claim_unfaithful(
    judge: LocalJudge, changed: str, fact: str
) -> None:
    score = judge.faithfulness(changed, CONTEXT)
    assert score.score == 0.0
    assert fact in score.reason


def test_partly_unfaithful_answer_scores_the_share_of_supported_claims(judge: LocalJudge) -> None:
    answer = "I studied Engineering Physics at Chalmers. I work at Solvik since 2019."
    assert judge.faithfulness(answer, CONTEXT).score == pytest.approx(0.5)


def test_honest_dont_know_is_faithful_and_relevant(judge: LocalJudge) -> None:
    answer = "Honestly, I don't know - I haven't shared that."
    assert judge.faithfulness(answer, CONTEXT).score == 1.0
    assert judge.answer_relevancy("What's your blood type?", answer).score == 1.0


def test_no_context_supports_nothing(judge: LocalJudge) -> None:
    assert judge.faithfulness("I work at Solvik.", []).score == 0.0


def test_on_topic_answer_is_more_relevant_than_an_off_topic_one(judge: LocalJudge) -> None:
    question = "Where did you go to university?"
    on = judge.answer_relevancy(question, "I studied Engineering Physics at Chalmers.")
    off = judge.answer_relevancy(question, "I host a board game night every month.")
    assert on.score > 2 * off.score, (on.score, off.score)

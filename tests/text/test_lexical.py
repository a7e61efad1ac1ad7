"""BM25 over a few candidates: the words a question names lift the text that holds them."""

from __future__ import annotations

from twinself.text.lexical import bm25_scores, topic_stems


def test_topic_stems_drop_question_words_and_meet_across_endings() -> None:
    assert topic_stems("Who was your masters supervisor?") == ["maste", "super"]
    assert topic_stems("I supervised two master's students")[:2] == ["super", "two"]


def test_the_text_holding_the_rarer_asked_for_word_scores_highest() -> None:
    documents = [
        "My PhD was in Lisbon, at the university.",
        "My master's supervisor was a whale biologist at the university.",
        "I sail on Sundays.",
    ]
    scores = bm25_scores("Who supervised your master's at university?", documents)
    assert scores[1] == max(scores) and scores[2] == 0.0
    assert 0.0 < scores[0] < scores[1]


def test_no_topic_words_or_no_documents_score_nothing() -> None:
    assert bm25_scores("How are you?", ["I am fine."]) == [0.0]
    assert bm25_scores("boats", []) == []

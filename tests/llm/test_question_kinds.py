"""The kinds of fact a question asks for, and which sentences hold one."""

from __future__ import annotations

import pytest

from twinself.llm.question_kinds import wanted_facts


def kinds(question: str) -> list[str]:
    return [w.kind for w in wanted_facts(question)]


def held(question: str, sentence: str) -> bool:
    return all(w.held_by(sentence) for w in wanted_facts(question))


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Where do you work?", []),
        ("How much does your employer pay you?", ["money"]),
        ("How much did the new roof cost?", ["money"]),
        ("How much time do you spend reading?", ["money"]),
        ("How much coffee do you drink?", []),
        ("What colour is your bike?", ["colour"]),
        ("What will you work on next year?", ["plan"]),
        ("Are you planning to learn Spanish?", ["plan"]),
        ("What's your favourite album?", ["preference"]),
        ("What's your sister's name?", ["relative", "name"]),
        ("What do you earn?", ["money"]),
        ("Which season do you like best?", ["preference"]),
        ("Who runs the lab?", ["person"]),
        ("Does your brother live nearby?", ["relative"]),
        ("What is the name of the band you play in?", ["name"]),
        ("Do you have kids?", ["relative"]),
        ("When did you move to Bergen?", ["time"]),
        ("Where was it first used, and when?", ["time"]),
        ("In which year did you graduate?", ["time"]),
        ("What do you do when you're tired?", []),
        ("How many languages do you speak?", ["count"]),
    ],
)
def test_what_a_question_asks_for(question: str, expected: list[str]) -> None:
    assert kinds(question) == expected


def test_money_needs_an_amount() -> None:
    question = "How much does your employer pay you?"
    assert not held(question, "My employer has about 300 employees.")
    assert held(question, "I earn 52,000 EUR a year.")
    assert held(question, "My salary is private.")


def test_a_colour_needs_a_colour_word() -> None:
    assert not held("What colour is your bike?", "My bike is a steel touring bike from 2015.")
    assert held("What colour is your bike?", "My bike is dark green.")


def test_a_plan_needs_words_about_the_future() -> None:
    question = "What will your next project be?"
    assert not held(question, "My last project reached version 2.0 in 2023.")
    assert held(question, "Next I want to write a small parser for calendar files.")


def test_a_favourite_needs_a_preference() -> None:
    question = "What's your favourite dish?"
    assert not held(question, "I cook soup for my neighbours every winter.")
    assert held(question, "The dish I love most is my aunt's fish stew.")


def test_a_name_needs_the_thing_and_a_name_near_it() -> None:
    question = "What's your sister's name?"
    assert not held(question, "My name is Alex Moreau.")  # someone else's name
    assert not held(question, "My sister and I grew up with two dogs in a small town near Lyon.")
    assert held(question, "My sister, Camille, teaches music.")
    band = "What is the name of the band you play in?"
    assert held(band, 'I play bass in a band called "The Late Trains".')
    assert not held(band, "I have played bass since I was 14.")


def test_what_something_is_called_asks_for_its_name() -> None:
    question = "What was your first bike called?"
    assert kinds(question) == ["name"]
    assert held(question, 'My first bike, "Rocket", was a red BMX.')
    assert not held(question, "My first bike was a red one from a shop in town.")


def test_who_needs_a_full_name_not_a_place() -> None:
    question = "Who runs the lab?"
    assert held(question, "The lab is run by Dr. Petrov.")
    assert held(question, "Anna Berg has run the lab since 2019.")
    assert not held(question, "The lab is in New Malden, near the station.")
    assert not held(question, "I have worked in the lab since 2019.")


def test_a_relative_must_be_mentioned() -> None:
    question = "What does your brother do for a living?"
    assert not held(question, "My mother, Ana, teaches maths.")
    assert held(question, "My brother is a train driver.")
    assert held("Do you have kids?", "We have two children.")


def test_a_capitalised_first_word_is_not_a_name() -> None:
    assert not held("Who runs the lab?", "In Lisbon the lab has twelve desks.")
    assert not held("Who runs the lab?", "My PhD lab had twelve desks.")


def test_a_time_needs_a_year_a_month_a_day_or_a_time_word() -> None:
    question = "When did the app go live?"
    assert not held(question, "The app is now used in 14 hospitals.")
    assert held(question, "It went live in Wigan in February 2020.")
    assert held(question, "We launched it every spring.")


def test_a_count_is_preferred_never_required() -> None:
    (count,) = wanted_facts("How many languages do you speak?")
    assert not count.required
    assert count.held_by("I speak three languages.") and not count.held_by("I speak Portuguese.")

"""The one sentence rule the judge, the offline answerer and the chunker share."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import twinself.text
from twinself.text.sentences import sentence_ends, split_sentences


@pytest.mark.parametrize(
    "text",
    [
        "My supervisor was Dr. Helena Bergqvist.",
        "I met Prof. Lind and Mrs. Holm at St. Jude's.",
        "I like strategy games, e.g. Wingspan, more than party games.",
        "Python vs. Go is an old argument.",
    ],
)
def test_a_title_or_an_abbreviation_does_not_end_a_sentence(text: str) -> None:
    assert split_sentences(text) == [text]


def test_a_full_stop_ends_a_sentence_only_before_what_can_open_one() -> None:
    assert split_sentences("I ran 3.5 km. then I stopped. 2024 was busy. (Mostly.) Yes!") == [
        "I ran 3.5 km. then I stopped.",
        "2024 was busy.",
        "(Mostly.)",
        "Yes!",
    ]


def test_a_closing_quote_or_bracket_stays_with_its_sentence() -> None:
    assert split_sentences('She said "no." Then she left. (It was 2019.) I stayed.') == [
        'She said "no."',
        "Then she left.",
        "(It was 2019.)",
        "I stayed.",
    ]


def test_a_line_break_always_ends_a_sentence_and_blank_lines_give_none() -> None:
    assert split_sentences("  Bass guitar\n\n   \nKeys. Vocals  \n") == [
        "Bass guitar",
        "Keys.",
        "Vocals",
    ]
    assert split_sentences("") == []


def test_sentence_ends_are_just_past_the_full_stop_or_the_closing_quote() -> None:
    text = 'One. Dr. Two "three." Four\nfive. Six'
    ends = sentence_ends(text)
    assert [text[:end].split()[-1] for end in ends] == ["One.", '"three."', "five."]
    assert all(text[end].isspace() for end in ends)


def test_sentence_ends_between_bounds_see_past_them() -> None:
    text = "Dr. Holm. Next one. Last"
    assert sentence_ends(text) == [9, 19]
    # The chunker asks for the ends in a window: the rule still sees the title before its
    # start and the capital after its end.
    assert sentence_ends(text, 3, 18) == [9]
    assert sentence_ends(text, 3, 19) == [9, 19]
    assert sentence_ends(text, 3, 8) == []
    assert sentence_ends(text, 10) == [19]


def test_the_text_package_imports_nothing_from_twinself() -> None:
    """It is the bottom layer: every other layer may use it."""
    package = Path(twinself.text.__file__).parent
    imported = [
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for module in package.glob("*.py")
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8")))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    assert [name for name in imported if name and name.split(".")[0] == "twinself"] == []

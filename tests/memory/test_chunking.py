from __future__ import annotations

import itertools

import pytest

from twinself.memory.chunking import chunk_markdown, split_sections


def test_empty_and_blank_files_give_no_chunks() -> None:
    assert chunk_markdown("") == []
    assert chunk_markdown("\n\n   \n") == []
    assert chunk_markdown("# Only a heading\n## And another\n") == []


def test_file_shorter_than_a_chunk_is_one_chunk_with_its_heading_path() -> None:
    chunks = chunk_markdown("# Me\n## Home\nI live in Gothenburg.\n", 1000, 200)
    assert [(c.heading, c.text) for c in chunks] == [("Me > Home", "I live in Gothenburg.")]


def test_heading_path_pops_to_the_right_level() -> None:
    text = "# A\na\n## B\nb\n### C\nc\n## D\nd\n# E\ne\n"
    assert split_sections(text) == [
        ("A", "a"),
        ("A > B", "b"),
        ("A > B > C", "c"),
        ("A > D", "d"),
        ("E", "e"),
    ]


def test_chunks_never_straddle_sections() -> None:
    body = "word " * 300
    chunks = chunk_markdown(f"# One\n{body}\n# Two\n{body}", 400, 80)
    assert {c.heading for c in chunks} == {"One", "Two"}
    for chunk in chunks:
        assert "#" not in chunk.text


def test_long_headingless_file_respects_size_and_overlap() -> None:
    sentences = [f"Fact number {i} is that I like item {i}." for i in range(400)]
    text = " ".join(sentences)
    chunks = chunk_markdown(text, 1000, 200)
    assert len(chunks) > 10
    assert all(c.heading == "" for c in chunks)
    assert all(len(c.text) <= 1000 for c in chunks)
    # Every sentence survives somewhere, and neighbours share text (the overlap).
    joined = " ".join(c.text for c in chunks)
    assert all(s in joined for s in sentences)
    for first, second in itertools.pairwise(chunks):
        assert second.text[:30] in first.text
    # Cuts fall on sentence ends, not mid-word.
    assert all(c.text.endswith(".") for c in chunks)


def test_a_cut_never_falls_between_a_title_and_a_name() -> None:
    text = " ".join(f"Talk {i} was about quality with Dr. Helena Bergqvist." for i in range(30))
    chunks = chunk_markdown(text, 120, 30)
    assert len(chunks) > 5
    assert all(c.text.endswith("Dr. Helena Bergqvist.") for c in chunks)


def test_a_closing_quote_stays_with_its_sentence() -> None:
    text = " ".join(f'Project {i} was called "Thing {i}."' for i in range(40))
    chunks = chunk_markdown(text, 200, 40)
    assert len(chunks) > 5
    assert all(c.text.endswith('."') for c in chunks)


def test_one_giant_word_is_cut_hard_but_completely() -> None:
    chunks = chunk_markdown("x" * 2500, 1000, 100)
    assert all(len(c.text) <= 1000 for c in chunks)
    assert "".join(c.text for c in chunks).count("x") >= 2500


def test_non_ascii_text_is_kept_exactly() -> None:
    text = "# Umeå\nJag växte upp i Umeå — 北欧 ☃. Ünïcödé survives.\n"
    chunks = chunk_markdown(text, 1000, 200)
    assert chunks[0].heading == "Umeå"
    assert chunks[0].text == "Jag växte upp i Umeå — 北欧 ☃. Ünïcödé survives."


def test_hash_lines_inside_code_fences_are_not_headings() -> None:
    text = "# Real\n```bash\n# just a comment\necho hi\n```\n"
    chunks = chunk_markdown(text)
    assert [c.heading for c in chunks] == ["Real"]
    assert "# just a comment" in chunks[0].text


def test_overlap_must_be_smaller_than_size() -> None:
    with pytest.raises(ValueError):
        chunk_markdown("text", 100, 100)

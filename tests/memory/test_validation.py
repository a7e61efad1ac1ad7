from __future__ import annotations

import json
from pathlib import Path

import pytest

from twinself.memory.validation import Problem, validate_data_dir


def errors(root: Path) -> list[str]:
    return [p.render(root) for p in validate_data_dir(root) if p.severity == "error"]


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_the_sample_persona_is_valid(data_dir: Path) -> None:
    assert validate_data_dir(data_dir) == []


def test_missing_folder_is_reported(tmp_path: Path) -> None:
    assert "data folder not found" in errors(tmp_path / "nope")[0]


def test_json_syntax_error_names_file_and_line(data_dir: Path) -> None:
    write(
        data_dir / "episodic_data" / "bad.json", '[\n  {"user_query": "a",\n  "your_response": }\n]'
    )
    assert errors(data_dir) == [
        "episodic_data/bad.json:3: invalid JSON: Expecting value (column 20)"
    ]


def test_missing_and_empty_fields_name_the_entry_line(data_dir: Path) -> None:
    entries = [
        {"user_query": "Hi", "your_response": "Hello"},
        {"user_query": "No answer"},
        {"user_query": "  ", "your_response": "x"},
        {"user_query": 3, "your_response": "x"},
        "not an object",
    ]
    write(data_dir / "episodic_data" / "x.json", json.dumps(entries, indent=2))
    found = errors(data_dir)
    assert found == [
        'episodic_data/x.json:6: entry 2 has no "your_response" '
        '(expected {"user_query", "your_response"})',
        'episodic_data/x.json:9: entry 3: "user_query" is empty',
        'episodic_data/x.json:13: entry 4: "user_query" must be a string',
        "episodic_data/x.json:17: entry 5 is str, expected an object",
    ]


def test_duplicate_entries_across_files_are_found(data_dir: Path) -> None:
    entry = {"user_query": "Same?", "your_response": "Same."}
    write(data_dir / "episodic_data" / "a.json", json.dumps([entry], indent=2))
    write(
        data_dir / "episodic_data" / "b.json",
        json.dumps([{"user_query": "other", "your_response": "x"}, entry], indent=2),
    )
    assert errors(data_dir) == ["episodic_data/b.json:6: entry 2 duplicates a.json:2"]


def test_both_rule_shapes_are_accepted_and_checked(data_dir: Path) -> None:
    rules = [{"rule": "Be brief.", "example": "Q: hi A: hi"}, {"rule_name": "x"}]
    write(data_dir / "procedural_data" / "more.json", json.dumps(rules, indent=2))
    assert errors(data_dir) == [
        'procedural_data/more.json:6: entry 2 has no "rule_content" '
        '(expected {"rule_name", "rule_content"} or {"rule"})'
    ]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("{}", "expected a JSON array of entries, found dict"),
        ("[]", "the array is empty"),
        ("   \n", "file is empty"),
    ],
)
def test_wrong_top_level_and_empty_files(data_dir: Path, payload: str, message: str) -> None:
    write(data_dir / "procedural_data" / "odd.json", payload)
    [found] = errors(data_dir)
    assert found.startswith("procedural_data/odd.json") and message in found


def test_bad_encoding_names_the_line(data_dir: Path) -> None:
    write(
        data_dir / "semantic_data" / "latin1.md",
        "# Title\nline two\nG\xf6teborg\n".encode("latin-1"),
    )
    assert errors(data_dir) == [
        "semantic_data/latin1.md:3: not UTF-8 text (byte 18); re-save the file as UTF-8"
    ]


def test_bom_is_accepted(data_dir: Path) -> None:
    write(data_dir / "semantic_data" / "bom.md", "\ufeff# Title\nI like tea.\n".encode())
    assert errors(data_dir) == []


def test_empty_and_duplicate_markdown(data_dir: Path) -> None:
    write(data_dir / "semantic_data" / "empty.md", "\n \n")
    original = (data_dir / "semantic_data" / "hobbies.md").read_text(encoding="utf-8")
    write(data_dir / "semantic_data" / "zz_copy.md", original)
    assert errors(data_dir) == [
        "semantic_data/empty.md: file is empty; add content or delete it",
        "semantic_data/zz_copy.md: same content as hobbies.md; delete one",
    ]


def test_missing_semantic_facts_and_system_prompt(tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    assert errors(root) == [
        "semantic_data: folder missing: the twin needs at least one facts file here",
        "system_prompts: no system prompt (.md) found; add one, e.g. system_prompt.md",
    ]


def test_stray_files_are_warnings_not_errors(data_dir: Path) -> None:
    write(data_dir / "semantic_data" / "notes.txt", "ignored")
    problems = validate_data_dir(data_dir)
    assert [p.severity for p in problems] == ["warning"]
    assert isinstance(problems[0], Problem)

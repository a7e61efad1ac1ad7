"""Check a data folder before anything is built from it.

Each problem names `file:line` where the line is known. Errors stop a build; warnings
(a stray file the build will ignore) are reported but do not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from twinself.memory.documents import (
    SYSTEM_PROMPTS_FOLDER,
    MemoryType,
    list_source_files,
    read_text,
)
from twinself.memory.private import is_private_entry, marker_problems, public_markdown

Severity = Literal["error", "warning"]

_REQUIRED_FIELDS: dict[MemoryType, tuple[tuple[str, ...], ...]] = {
    MemoryType.EPISODIC: (("user_query", "your_response"),),
    MemoryType.PROCEDURAL: (("rule_name", "rule_content"), ("rule",)),
}


@dataclass(frozen=True)
class Problem:
    path: Path
    message: str
    line: int | None = None
    severity: Severity = "error"

    def location(self, root: Path) -> str:
        try:
            shown = self.path.relative_to(root).as_posix()
        except ValueError:
            shown = str(self.path)
        return f"{shown}:{self.line}" if self.line else shown

    def render(self, root: Path) -> str:
        prefix = "" if self.severity == "error" else "warning: "
        return f"{self.location(root)}: {prefix}{self.message}"


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _decode(path: Path, raw: bytes) -> tuple[str | None, Problem | None]:
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, Problem(
            path, f"not UTF-8 text (byte {exc.start}); re-save the file as UTF-8", line
        )


def _array_element_lines(text: str) -> list[int]:
    """Line where each top-level array element starts (the file is known to parse)."""
    decoder = json.JSONDecoder()
    lines: list[int] = []
    position = text.index("[") + 1
    while True:
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if position >= len(text) or text[position] == "]":
            return lines
        lines.append(_line_of(text, position))
        _, position = decoder.raw_decode(text, position)


def _check_entry(
    memory: MemoryType, entry: Any, path: Path, line: int, index: int
) -> list[Problem]:
    where = f"entry {index + 1}"
    if not isinstance(entry, dict):
        return [Problem(path, f"{where} is {type(entry).__name__}, expected an object", line)]
    shapes = _REQUIRED_FIELDS[memory]
    shape = next((s for s in shapes if s[0] in entry), shapes[0])
    problems = []
    for key in shape:
        value = entry.get(key)
        if value is None:
            expected = " or ".join("{" + ", ".join(f'"{k}"' for k in s) + "}" for s in shapes)
            problems.append(Problem(path, f'{where} has no "{key}" (expected {expected})', line))
        elif not isinstance(value, str):
            problems.append(Problem(path, f'{where}: "{key}" must be a string', line))
        elif not value.strip():
            problems.append(Problem(path, f'{where}: "{key}" is empty', line))
    if not isinstance(entry.get("private", False), bool):
        problems.append(
            Problem(path, f'{where}: "private" must be true or false (it counts as true)', line)
        )
    return problems


def _entry_key(memory: MemoryType, entry: dict[str, Any]) -> str:
    if memory is MemoryType.EPISODIC:
        return json.dumps(
            [
                entry.get("user_query", "").strip().lower(),
                entry.get("your_response", "").strip().lower(),
            ]
        )
    return json.dumps([str(entry.get(k, "")).strip().lower() for k in sorted(entry)])


def _check_json_file(
    memory: MemoryType, path: Path, text: str, seen: dict[str, str]
) -> list[Problem]:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        return [Problem(path, f"invalid JSON: {exc.msg} (column {exc.colno})", exc.lineno)]
    if not isinstance(payload, list):
        return [
            Problem(path, f"expected a JSON array of entries, found {type(payload).__name__}", 1)
        ]
    if not payload:
        return [Problem(path, "the array is empty; add entries or delete the file", 1)]
    problems: list[Problem] = []
    for index, (entry, line) in enumerate(zip(payload, _array_element_lines(text), strict=True)):
        entry_problems = _check_entry(memory, entry, path, line, index)
        problems.extend(entry_problems)
        if entry_problems:
            continue
        key = _entry_key(memory, entry)
        where = f"{path.name}:{line}"
        if key in seen:
            problems.append(Problem(path, f"entry {index + 1} duplicates {seen[key]}", line))
        else:
            seen[key] = where
    return problems


def validate_data_dir(data_dir: Path) -> list[Problem]:
    """Every problem in the folder, errors first within each file."""
    if not data_dir.is_dir():
        return [Problem(data_dir, "data folder not found; set TWINSELF_DATA_DIR to your data")]
    problems: list[Problem] = []
    for memory in MemoryType:
        problems.extend(_validate_memory_folder(data_dir, memory))
    problems.extend(_validate_system_prompts(data_dir))
    return problems


def _validate_memory_folder(data_dir: Path, memory: MemoryType) -> list[Problem]:
    folder = data_dir / memory.folder
    if not folder.is_dir():
        if memory is MemoryType.SEMANTIC:
            return [Problem(folder, "folder missing: the twin needs at least one facts file here")]
        return []
    problems: list[Problem] = []
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    sources = [p for p in files if p.suffix == memory.suffix]
    problems.extend(
        Problem(p, f"ignored: only {memory.suffix} files are read here", severity="warning")
        for p in files
        if p.suffix != memory.suffix
    )
    if memory is MemoryType.SEMANTIC and not sources:
        problems.append(Problem(folder, "no .md files: the twin needs at least one facts file"))
    seen_entries: dict[str, str] = {}
    seen_contents: dict[str, Path] = {}
    for path in sources:
        text, problem = _decode(path, path.read_bytes())
        if problem is not None or text is None:
            problems.extend([problem] if problem else [])
            continue
        if not text.strip():
            problems.append(Problem(path, "file is empty; add content or delete it"))
            continue
        if memory is MemoryType.SEMANTIC:
            problems.extend(Problem(path, message, line) for line, message in marker_problems(text))
            normalized = text.strip()
            if normalized in seen_contents:
                problems.append(
                    Problem(path, f"same content as {seen_contents[normalized].name}; delete one")
                )
            seen_contents.setdefault(normalized, path)
        else:
            problems.extend(_check_json_file(memory, path, text, seen_entries))
    return problems


def count_private_parts(data_dir: Path) -> int:
    """How many private blocks, sections and entries a build leaves out (memory/private.py)."""
    count = 0
    for memory in MemoryType:
        for source in list_source_files(data_dir, memory):
            try:
                text = read_text(source.path)
                if memory is MemoryType.SEMANTIC:
                    count += public_markdown(text).left_out
                else:
                    payload = json.loads(text)
                    count += sum(map(is_private_entry, payload)) if isinstance(payload, list) else 0
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue  # validate_data_dir reports the file
    return count


def _validate_system_prompts(data_dir: Path) -> list[Problem]:
    folder = data_dir / SYSTEM_PROMPTS_FOLDER
    prompts = sorted(folder.glob("*.md")) if folder.is_dir() else []
    if not prompts:
        return [Problem(folder, "no system prompt (.md) found; add one, e.g. system_prompt.md")]
    problems = []
    for path in prompts:
        text, problem = _decode(path, path.read_bytes())
        if problem is not None:
            problems.append(problem)
        elif text is not None and not text.strip():
            problems.append(Problem(path, "system prompt is empty"))
    return problems

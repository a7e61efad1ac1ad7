"""The personas the offline judge and answerer were never tuned on (benchmarks/unseen_personas/).

Each persona folder holds `data/` (TwinSelf's layout), `judge_cases.json` and
`answer_questions.json`, written by sessions that had not read the judge's or the answerer's
code. Every item carries its split ("dev" or "test"), fixed when it was written: methods may be
tuned on dev; the figures that count are test's, measured once per method change.

`--holdout` reads benchmarks/holdout_personas/ instead: personas written after the methods were
frozen and measured once, all their items together (no method was tuned on any of them). Once
measured, a holdout persona joins unseen_personas/ with the splits it was written with.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from _sample_twin import BENCHMARKS

HOLDOUT = "--holdout" in sys.argv
T = TypeVar("T")
PERSONAS = BENCHMARKS / ("holdout_personas" if HOLDOUT else "unseen_personas")
# `--dev`: the dev split only, for the runs made while tuning.
SPLITS: tuple[str, ...] = ("dev",) if "--dev" in sys.argv else ("dev", "test")
if HOLDOUT:
    SPLITS = ("holdout",)


@dataclass(frozen=True)
class Persona:
    slug: str
    folder: Path

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    def judge_cases(self) -> list[dict[str, Any]]:
        return _read(self.folder / "judge_cases.json")  # type: ignore[no-any-return]

    def questions(self) -> dict[str, list[dict[str, Any]]]:
        return _read(self.folder / "answer_questions.json")  # type: ignore[no-any-return]


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def personas() -> list[Persona]:
    found = sorted(p.parent for p in PERSONAS.glob("*/judge_cases.json"))
    if not found:
        raise SystemExit(f"no personas under {PERSONAS}")
    return [Persona(folder.name, folder) for folder in found]


def in_split(items: list[dict[str, Any]], split: str) -> list[dict[str, Any]]:
    return items if split == "holdout" else [item for item in items if item["split"] == split]


def by_split(items: list[dict[str, Any]]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    for split in SPLITS:
        yield split, in_split(items, split)


def counted(totals: dict[str, T]) -> T:
    """The split whose figures count: holdout, else test; with --dev, dev stands in."""
    return next(totals[split] for split in ("holdout", "test", "dev") if split in totals)

"""Merge people's suggested answers into episodic memory, as TwinSelf's example conversations.

Suggestions become `{"user_query", "your_response"}` entries in
`episodic_data/user_suggestions.json` of the data folder, the one place twinself writes there,
and only when asked (`twinself feedback merge`). A pair already anywhere in episodic memory is
skipped, so merging twice adds nothing. The next `rebuild --create-version` picks them up.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from twinself.config.settings import sample_data_dir
from twinself.errors import TwinselfError
from twinself.memory.documents import episodic_entries, read_text
from twinself.memory.manifest import write_json_atomically

SUGGESTIONS_FILE = "user_suggestions.json"


class SuggestionsNotMergeable(TwinselfError):
    """The suggestions cannot be written into this data folder."""


@dataclass(frozen=True)
class MergePlan:
    target: Path
    new: list[tuple[str, str]]
    duplicates: int


def _key(question: str, response: str) -> tuple[str, str]:
    return (" ".join(question.split()).casefold(), " ".join(response.split()).casefold())


def plan_merge(data_dir: Path, suggestions: Sequence[tuple[str, str]]) -> MergePlan:
    if data_dir.resolve() == sample_data_dir().resolve():
        raise SuggestionsNotMergeable(
            "The data folder is the bundled sample persona, inside the installed package. Copy "
            "it (or use your own) and set TWINSELF_DATA_DIR before merging suggestions."
        )
    episodic = data_dir / "episodic_data"
    known = {_key(q, r) for path in sorted(episodic.glob("*.json")) for q, r in _pairs(path)}
    new: list[tuple[str, str]] = []
    for question, response in suggestions:
        key = _key(question, response)
        if key not in known:
            known.add(key)
            new.append((question.strip(), response.strip()))
    return MergePlan(episodic / SUGGESTIONS_FILE, new, len(suggestions) - len(new))


def _pairs(path: Path) -> list[tuple[str, str]]:
    try:
        return episodic_entries(json.loads(read_text(path)))
    except (ValueError, KeyError, TypeError) as exc:
        raise SuggestionsNotMergeable(
            f"{path} is not valid episodic data ({exc}); run `twinself validate` and fix it first."
        ) from None


def apply_merge(plan: MergePlan) -> int:
    """Append the new pairs to the suggestions file atomically; returns how many."""
    if not plan.new:
        return 0
    existing = json.loads(plan.target.read_text(encoding="utf-8")) if plan.target.exists() else []
    existing += [{"user_query": q, "your_response": r} for q, r in plan.new]
    plan.target.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomically(plan.target, existing)
    return len(plan.new)

"""The pair scorers `twinself export-onnx` trains on this machine (embedding/pair_scorer.py):
each from the package's own training pairs, once, and again when its fingerprint is stale (other
weights, other pairs, another plan). Nothing is downloaded; no weights ship in the package."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from twinself.config.settings import Settings
from twinself.embedding.pair_scorer import DESCRIPTION_FILE, ScorerDescription, scorer_folder
from twinself.embedding.pair_scorer_training import (
    TrainingPair,
    TrainingPlan,
    train_pair_scorer,
    training_fingerprint,
)
from twinself.llm.answer_match import ANSWER_MATCH, ANSWER_MATCH_PLAN, answer_match_pairs


@dataclass(frozen=True)
class ScorerRecipe:
    name: str
    training_pairs: Callable[[], Sequence[TrainingPair]]
    plan: TrainingPlan


# One entry per scorer a component uses.
RECIPES: tuple[ScorerRecipe, ...] = (
    ScorerRecipe(ANSWER_MATCH, answer_match_pairs, ANSWER_MATCH_PLAN),
)


def is_current(settings: Settings, recipe: ScorerRecipe, source: Path) -> bool:
    folder = scorer_folder(settings, recipe.name)
    if not (folder / DESCRIPTION_FILE).is_file():
        return False
    expected = training_fingerprint(source, recipe.training_pairs(), recipe.plan)
    return ScorerDescription.read(folder).fingerprint == expected


def train(
    settings: Settings,
    recipe: ScorerRecipe,
    source: Path,
    on_progress: Callable[[int, int], None] | None = None,
) -> ScorerDescription:
    return train_pair_scorer(
        recipe.name,
        source,
        recipe.training_pairs(),
        scorer_folder(settings, recipe.name),
        recipe.plan,
        on_progress,
    )

"""`twinself export-onnx` trains the registered pair scorers once, with a progress bar, and
again only when what they are trained from changes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from twinself.cli import scorer_training
from twinself.cli.app import app
from twinself.embedding.pair_scorer import ScorerDescription
from twinself.embedding.pair_scorer_training import TrainingPair, TrainingPlan

PLAN = TrainingPlan(epochs=1, batch_size=16)


def toy_pairs() -> list[TrainingPair]:
    places = ("Lisbon", "Oslo", "Accra", "Seoul", "Lima", "Quito", "Perth", "Hanoi")
    return [
        pair
        for place in places * 2
        for pair in (
            TrainingPair("Where do you live?", f"I live in {place}.", 1.0),
            TrainingPair("Where do you live?", "I like long walks.", 0.0),
        )
    ]


def test_export_onnx_trains_a_scorer_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWINSELF_HOME", str(tmp_path))
    recipe = scorer_training.ScorerRecipe("toy", toy_pairs, PLAN)
    # The registry is this project's own list; the toy recipe stands in for the real ones,
    # which take minutes to train (tests/conftest.py trains those once per run).
    monkeypatch.setattr(scorer_training, "RECIPES", (recipe,))
    runner = CliRunner()

    first = runner.invoke(app, ["export-onnx"])
    assert first.exit_code == 0, first.output
    assert "Trained the toy scorer on 29 pairs" in first.output
    trained = ScorerDescription.read(tmp_path / "pair-scorers" / "toy")

    again = runner.invoke(app, ["export-onnx"])
    assert again.exit_code == 0, again.output
    assert "The toy scorer is up to date." in again.output
    assert "Trained" not in again.output

    # Other training pairs: a stale scorer, trained again.
    changed = scorer_training.ScorerRecipe(
        "toy", lambda: [*toy_pairs(), TrainingPair("Hi", "Hello", 1.0)], PLAN
    )
    monkeypatch.setattr(scorer_training, "RECIPES", (changed,))
    third = runner.invoke(app, ["export-onnx"])
    assert third.exit_code == 0, third.output
    assert "Trained the toy scorer on 30 pairs" in third.output
    assert ScorerDescription.read(tmp_path / "pair-scorers" / "toy") != trained

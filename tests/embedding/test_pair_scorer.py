"""A pair scorer: the shipped MiniLM fine-tuned on labelled pairs, exported to ONNX (checked
against torch's logits), loaded without torch, and the rules alone when it is missing or broken."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from twinself.config.settings import Settings
from twinself.embedding.onnx_runtime import transformer_folder
from twinself.embedding.pair_scorer import (
    DESCRIPTION_FILE,
    MODEL_FILE,
    ScorerDescription,
    open_pair_scorer,
    scorer_folder,
)
from twinself.embedding.pair_scorer_training import (
    TrainingPair,
    TrainingPlan,
    train_pair_scorer,
    training_fingerprint,
)
from twinself.embedding.sentence_transformer import resolve_model_location

PLACES = ("Lisbon", "Oslo", "Accra", "Seoul", "Lima", "Quito", "Perth", "Hanoi", "Riga", "Cusco")
FOODS = ("pizza", "ramen", "tacos", "curry", "sushi")
PLAN = TrainingPlan(epochs=2, batch_size=16)


def toy_pairs() -> list[TrainingPair]:
    pairs = []
    for i, place in enumerate(PLACES * 4):
        pairs.append(TrainingPair("Where do you live?", f"I live in {place}.", 1.0))
        pairs.append(TrainingPair("Where do you live?", f"I love {FOODS[i % 5]}.", 0.0))
    return pairs


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, ScorerDescription]:
    settings = Settings(_env_file=None, home=tmp_path_factory.mktemp("home"))  # type: ignore[call-arg]
    source = transformer_folder(Path(resolve_model_location(settings.embedding_model)))
    target = scorer_folder(settings, "toy")
    return settings, train_pair_scorer("toy", source, toy_pairs(), target, PLAN)


def test_training_installs_a_scorer_that_learned_and_matches_torch(
    trained: tuple[Settings, ScorerDescription],
) -> None:
    settings, description = trained
    source = transformer_folder(Path(resolve_model_location(settings.embedding_model)))
    # train_pair_scorer refuses an export whose logits differ from torch's: being here is that.
    assert description.fingerprint == training_fingerprint(source, toy_pairs(), PLAN)
    assert description.training_pairs == 72  # 80 less the tenth held back
    assert ScorerDescription.read(scorer_folder(settings, "toy")) == description
    scorer = open_pair_scorer(settings, "toy")
    assert scorer is not None
    live, food = scorer.scores(
        [("Where do you live?", "I live in Madrid."), ("Where do you live?", "I love paella.")]
    )
    assert 0.0 < food < live < 1.0
    # The same pair scores the same alone and padded in a batch.
    alone = scorer.logits([("Where do you live?", "I live in Madrid.")])[0]
    batched = scorer.logits([("Where do you live?", "I live in Madrid."), ("a", "b " * 50)])[0]
    assert alone == pytest.approx(batched, abs=1e-4)


def test_a_missing_or_damaged_scorer_means_the_rules_alone(
    trained: tuple[Settings, ScorerDescription],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings, _ = trained
    caplog.set_level(logging.WARNING)
    assert open_pair_scorer(settings, "never-trained") is None
    assert "twinself export-onnx" in caplog.text

    damaged = Settings(_env_file=None, home=tmp_path)  # type: ignore[call-arg]
    folder = scorer_folder(damaged, "toy")
    folder.mkdir(parents=True)
    for name in (DESCRIPTION_FILE, "tokenizer.json"):
        (folder / name).write_bytes((scorer_folder(settings, "toy") / name).read_bytes())
    (folder / MODEL_FILE).write_bytes(b"not a model")
    caplog.clear()
    assert open_pair_scorer(damaged, "toy") is None
    assert "cannot load" in caplog.text

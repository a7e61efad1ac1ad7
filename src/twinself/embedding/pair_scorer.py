"""A pair scorer on onnxruntime: the bundled MiniLM fine-tuned as a cross-encoder (both texts
read together, one probability out), trained on this machine by `twinself export-onnx` from
data in the package (embedding/pair_scorer_training.py) and run here without torch.

A cross-encoder sees which words of one text meet which of the other, which cosine between two
separate sentence vectors cannot: "moved in 2015, became a citizen in 2021" against "moved in
2021" share every word. The local judge and the offline answerer use these scores beside their
rules, and go on with the rules alone when a scorer has not been trained.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from twinself.config.settings import Settings
from twinself.embedding.embedder import batches
from twinself.embedding.onnx_runtime import JsonDescription, cpu_session, encoded_columns

logger = logging.getLogger(__name__)

# Under TWINSELF_HOME: one folder per scorer, by name.
SCORER_DIRECTORY = "pair-scorers"
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
# Written last by the training: a folder without it is a training that did not finish.
DESCRIPTION_FILE = "scorer.json"


@dataclass(frozen=True)
class ScorerDescription(JsonDescription):
    """What the runtime needs besides the graph, and what the scorer was made from."""

    FILE: ClassVar[str] = DESCRIPTION_FILE

    name: str
    # A hash of the base weights, the training pairs and the training settings: a scorer
    # whose fingerprint differs from what the package would train now is retrained.
    fingerprint: str
    max_length: int
    pad_token: str
    pad_token_id: int
    input_names: tuple[str, ...]
    training_pairs: int
    # Of held-back training pairs, the share the scorer put on the right side of 0.5.
    held_back_accuracy: float


def scorer_folder(settings: Settings, name: str) -> Path:
    return settings.home / SCORER_DIRECTORY / name


class PairScorer:
    """The probability, 0..1, that `second` is what the scorer was trained to find for `first`
    (an answer to the question, a claim the context supports, ...)."""

    def __init__(self, folder: Path, batch_size: int = 16) -> None:
        from tokenizers import Tokenizer

        self.description = ScorerDescription.read(folder)
        self._batch_size = batch_size
        tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        # Truncation takes from the longer text first, so a long context cannot push the
        # short question or claim out.
        tokenizer.enable_truncation(max_length=self.description.max_length)
        tokenizer.enable_padding(
            pad_id=self.description.pad_token_id, pad_token=self.description.pad_token
        )
        self._tokenizer = tokenizer
        self._session = cpu_session(folder / MODEL_FILE)

    def logits(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        result: list[float] = []
        for batch in batches([(a.strip(), b.strip()) for a, b in pairs], self._batch_size):
            encodings = self._tokenizer.encode_batch(batch)
            feed = encoded_columns(encodings, self.description.input_names)
            (logits,) = self._session.run(["logits"], feed)
            result.extend(float(v) for v in logits.reshape(-1))
        return result

    def scores(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        return [_sigmoid(v) for v in self.logits(pairs)]

    def score(self, first: str, second: str) -> float:
        return self.scores([(first, second)])[0]


def _sigmoid(value: float) -> float:
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    exp = math.exp(value)
    return exp / (1.0 + exp)


def open_pair_scorer(settings: Settings, name: str) -> PairScorer | None:
    """The trained scorer `name`, or None (with a warning) when there is none or it cannot
    load: callers then use their rules alone."""
    folder = scorer_folder(settings, name)
    if not (folder / DESCRIPTION_FILE).is_file():
        logger.warning(
            "No %s scorer in %s: using the rules alone (`twinself export-onnx` trains it)",
            name,
            folder,
        )
        return None
    try:
        return PairScorer(folder)
    except Exception as exc:  # onnxruntime's own errors (a damaged model file) have no base
        logger.warning(
            "The %s scorer in %s cannot load (%s): using the rules alone", name, folder, exc
        )
    return None

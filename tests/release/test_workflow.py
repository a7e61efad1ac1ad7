"""The release workflow's checks that run before anything slow: no model load, no MLflow, no
version when the data or the question set is broken.

`tests/cli/test_gate.py` runs the whole workflow through `twinself rebuild` against a real
MLflow store: an unchanged release, one rejected by the gate and kept, one that passes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.factories import SettingsFactory
from twinself.embedding.embedder import Embedder
from twinself.embedding.sentence_transformer import SentenceTransformerEmbedder
from twinself.errors import DataValidationError
from twinself.evaluation.gate import GateThresholds, SummaryRunLogger
from twinself.evaluation.question_set import InvalidQuestionSet
from twinself.memory.versions import VersionRegistry
from twinself.release.workflow import GateRequest, release_new_version


class Counted:
    """Factories that count their calls: what the workflow builds, and when."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.embedders = self.loggers = 0

    def load_embedder(self) -> Embedder:
        self.embedders += 1
        return self.embedder

    def run_logger(self) -> SummaryRunLogger:
        self.loggers += 1
        raise AssertionError("no gate runs when the inputs are broken")


def test_bad_data_or_a_bad_question_set_stop_before_the_model_loads(
    make_settings: SettingsFactory,
    data_dir: Path,
    embedder: SentenceTransformerEmbedder,
    tmp_path: Path,
) -> None:
    settings = make_settings()
    counted = Counted(embedder)
    broken = tmp_path / "broken.json"
    broken.write_text("[{", encoding="utf-8")
    gate = GateRequest(broken, GateThresholds(), counted.run_logger)

    with pytest.raises(InvalidQuestionSet, match="not valid UTF-8 JSON"):
        release_new_version(settings, counted.load_embedder, gate=gate)
    (data_dir / "episodic_data" / "broken.json").write_text("[{", encoding="utf-8")
    with pytest.raises(DataValidationError, match=r"broken\.json"):
        release_new_version(settings, counted.load_embedder)

    assert counted.embedders == counted.loggers == 0
    assert not VersionRegistry(settings.home).exists()

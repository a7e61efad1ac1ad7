"""The release workflow on the real embedded store, model, offline answerer and local judge.

The gate logs to a real MLflow store (the session's SQLite one). `tests/cli/test_gate.py`
runs the workflow through `twinself rebuild`, a release that passes the gate included.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import Run

from tests.support.factories import SettingsFactory
from tests.support.memory_data import add_bees
from twinself.config.settings import Settings
from twinself.embedding.embedder import Embedder
from twinself.embedding.sentence_transformer import SentenceTransformerEmbedder
from twinself.errors import DataValidationError
from twinself.evaluation.gate import GateThresholds, SummaryRunLogger
from twinself.evaluation.question_set import InvalidQuestionSet
from twinself.memory.versions import VersionRegistry
from twinself.pipeline.mlflow_sink import EVALUATION_SETS, build_run_sink
from twinself.release.workflow import GateFailed, GateRequest, release_new_version

QUESTIONS = [
    {"question": "Where did you study?", "expected_facts": ["Umeå University"]},
    {"question": "Where do you work?", "expected_facts": ["Solvik"]},
]


class Counted:
    """Factories that count their calls: what the workflow builds, and when."""

    def __init__(self, embedder: Embedder, settings: Settings) -> None:
        self.embedder, self.settings = embedder, settings
        self.embedders = self.loggers = 0

    def load_embedder(self) -> Embedder:
        self.embedders += 1
        return self.embedder

    def run_logger(self) -> SummaryRunLogger:
        self.loggers += 1
        return build_run_sink(self.settings, EVALUATION_SETS)


def gate_run(settings: Settings, run_id: str | None) -> Run:
    assert run_id is not None
    return MlflowClient(settings.resolved_tracking_uri).get_run(run_id)


@pytest.fixture
def questions(tmp_path: Path) -> Path:
    path = tmp_path / "questions.json"
    path.write_text(json.dumps(QUESTIONS), encoding="utf-8")
    return path


def test_bad_data_or_a_bad_question_set_stop_before_the_model_loads(
    make_settings: SettingsFactory,
    data_dir: Path,
    embedder: SentenceTransformerEmbedder,
    tmp_path: Path,
) -> None:
    settings = make_settings()
    counted = Counted(embedder, settings)
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


@pytest.mark.slow
def test_a_release_that_fails_the_gate_is_kept_with_its_verdict_and_not_activated(
    make_settings: SettingsFactory,
    data_dir: Path,
    embedder: SentenceTransformerEmbedder,
    questions: Path,
    sqlite_uri: str,
) -> None:
    settings = make_settings(
        llm_provider="offline", eval_judge="local", mlflow_tracking_uri=sqlite_uri
    )
    registry = VersionRegistry(settings.home)
    counted = Counted(embedder, settings)
    strict = GateRequest(questions, GateThresholds(min_fact_recall=1.1), counted.run_logger)

    first = release_new_version(settings, counted.load_embedder)
    assert first.created and first.activated and first.verdict is None
    unchanged = release_new_version(settings, counted.load_embedder, gate=strict)
    assert not unchanged.created and not unchanged.activated
    assert unchanged.version.id == first.version.id
    assert counted.loggers == 0  # nothing was built, so nothing was gated or logged

    add_bees(data_dir)
    with pytest.raises(GateFailed) as failed:
        release_new_version(settings, counted.load_embedder, gate=strict)

    rejected = failed.value.result
    assert rejected.created and not rejected.activated
    assert rejected.verdict is not None and not rejected.verdict.passed
    assert f"`twinself versions activate {rejected.version.id}`" in str(failed.value)
    assert "fact_recall" in str(failed.value) and f"{rejected.verdict.run_id}" in str(failed.value)
    state = registry.load()
    assert state.active == first.version.id
    assert state.get(rejected.version.id).gate["passed"] is False
    logged = gate_run(settings, rejected.verdict.run_id)
    assert logged.info.run_name == f"gate {rejected.version.id}"
    assert logged.data.metrics["gate_passed"] == 0.0

    assert counted.loggers == 1

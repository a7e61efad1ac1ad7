"""`rebuild --create-version --gate`: unchanged data builds and gates nothing; a version with
facts removed is built but not activated; a good one is activated; both verdicts are kept and
logged to MLflow."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from tests.support.memory_data import add_bees
from twinself.cli.app import app
from twinself.memory.versions import VersionRegistry

pytestmark = pytest.mark.slow
runner = CliRunner()
QUESTIONS = [
    {"question": "Where did you study?", "expected_facts": ["Umeå University"]},
    {"question": "Where do you work?", "expected_facts": ["Solvik"]},
]


def test_the_gate_rejects_a_broken_version_and_accepts_a_good_one(
    env: dict[str, str],
    data_dir: Path,
    tmp_path: Path,
) -> None:
    questions = tmp_path / "questions.json"
    questions.write_text(json.dumps(QUESTIONS), encoding="utf-8")
    gate = ["--gate", str(questions), "--min-fact-recall", "0.9", "--min-faithfulness", "0.5"]
    first = runner.invoke(app, ["rebuild", "--create-version", "--json"])
    assert first.exit_code == 0, first.output
    v1 = json.loads(first.stdout)["version"]
    unchanged = runner.invoke(app, ["rebuild", "--create-version", "--json", *gate])
    assert unchanged.exit_code == 0, unchanged.output
    nothing = json.loads(unchanged.stdout)
    assert (nothing["version"], nothing["created"]) == (v1, False)
    assert "gate" not in nothing  # nothing was built, so nothing was gated
    semantic = data_dir / "semantic_data"
    kept = tmp_path / "kept"
    kept.mkdir()
    for name in ("education.md", "career.md", "projects.md"):  # the facts asked about
        shutil.move(semantic / name, kept / name)

    broken = runner.invoke(app, ["rebuild", "--create-version", "--json", *gate])

    assert broken.exit_code == 1
    assert "failed the gate" in broken.output and "fact_recall" in broken.output
    registry = VersionRegistry(tmp_path / "home")
    state = registry.load()
    assert state.active == v1
    rejected = state.versions[-1]
    assert rejected.status == "ready" and rejected.gate["passed"] is False
    assert rejected.gate["candidate"]["fact_recall"] < 0.9
    # Any ready version can be evaluated, active or not.
    inactive = runner.invoke(
        app, ["evaluate-set", "--json", "--no-log", "--data-version", rejected.id, str(questions)]
    )
    assert inactive.exit_code == 0, inactive.output
    report = json.loads(inactive.stdout)
    assert report["data_version"] == rejected.id and report["aggregates"]["fact_recall"] < 0.9

    for name in ("education.md", "career.md", "projects.md"):
        shutil.move(kept / name, semantic / name)
    add_bees(data_dir)  # a real change: the same data as v1 would build no version at all
    good = runner.invoke(app, ["rebuild", "--create-version", "--json", *gate])

    assert good.exit_code == 0, good.output
    verdict = json.loads(good.stdout)
    assert verdict["gate"]["passed"] is True
    assert verdict["gate"]["candidate"]["fact_recall"] == 1.0
    assert registry.load().active == verdict["version"]
    run = MlflowClient(f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}").get_run(
        verdict["gate"]["run_id"]
    )
    assert run.data.metrics["gate_passed"] == 1.0
    assert run.data.params["data_version"] == verdict["version"]
    assert run.data.metrics["candidate_fact_recall"] == 1.0
    # Compared with the active version: v1 (the rejected version never became active).
    assert run.data.params["compared_with"] == v1
    assert run.data.metrics["active_fact_recall"] == 1.0

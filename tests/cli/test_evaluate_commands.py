"""`twinself evaluate`, its TwinSelf script, and `evaluate-set`, offline, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from tests.fakes.gemini_server import FakeGeminiServer
from tests.support.paths import REPO
from twinself.cli.app import app

runner = CliRunner()
QUESTION = "Where do you work?"
CONTEXT = (
    "Maya works at Solvik, a logistics company in Gothenburg, as a senior data engineer.\n\n"
    "She joined Solvik in 2019 after four years at a bank."
)
FAITHFUL = "I work at Solvik in Gothenburg as a senior data engineer."
UNFAITHFUL = "I work at Solvik in Oslo as a senior data engineer."


def test_evaluate_json_has_the_documented_shape_and_catches_a_changed_fact(
    env: dict[str, str],
) -> None:
    good = runner.invoke(app, ["evaluate", "--json", QUESTION, FAITHFUL, CONTEXT])
    bad = runner.invoke(app, ["evaluate", "--json", QUESTION, UNFAITHFUL, CONTEXT])

    assert good.exit_code == 0, good.output
    result = json.loads(good.stdout)
    assert set(result) == {"answer_relevancy", "faithfulness", "judge", "passed", "reasons"}
    assert set(result["passed"]) == set(result["reasons"]) == {"answer_relevancy", "faithfulness"}
    assert result["judge"] == "local-embedding"
    assert result["faithfulness"] == 1.0 and result["passed"]["faithfulness"] is True
    unfaithful = json.loads(bad.stdout)
    # graded (issue 14): one changed fact of a one-claim answer leaves 0.5, below the pass mark
    assert unfaithful["faithfulness"] <= 0.5 and unfaithful["passed"]["faithfulness"] is False
    assert "oslo" in unfaithful["reasons"]["faithfulness"].lower()


def test_evaluate_json_lines_loads_the_judge_once_and_reports_bad_lines(
    env: dict[str, str],
) -> None:
    lines = "\n".join(
        [
            json.dumps({"question": QUESTION, "answer": FAITHFUL, "context": [CONTEXT]}),
            "not json",
            json.dumps({"question": QUESTION, "answer": 3, "context": []}),
            json.dumps({"question": QUESTION, "answer": UNFAITHFUL, "context": CONTEXT}),
        ]
    )
    result = runner.invoke(app, ["evaluate", "--json", "-"], input=lines)

    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == 4
    assert out[0]["faithfulness"] == 1.0 and out[3]["faithfulness"] <= 0.5
    assert out[1]["line"] == 2 and "error" in out[1]
    assert out[2]["line"] == 3 and "question" in out[2]["error"]


def test_evaluate_logs_to_a_run_once(env: dict[str, str], tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("manual", artifact_location=(tmp_path / "a").as_uri())
    run_id = client.create_run(experiment).info.run_id

    first = runner.invoke(app, ["evaluate", QUESTION, FAITHFUL, CONTEXT, run_id])
    second = runner.invoke(app, ["evaluate", QUESTION, FAITHFUL, CONTEXT, run_id])

    assert first.exit_code == 0, first.output
    assert "Logged to MLflow run" in first.stderr
    assert second.exit_code == 0 and "not logged twice" in second.stderr
    run = client.get_run(run_id)
    assert run.data.metrics["deepeval_faithfulness"] == 1.0
    assert run.data.tags["deepeval_judge"] == "local-embedding"
    assert len(client.get_metric_history(run_id, "deepeval_faithfulness")) == 1


@pytest.mark.slow
def test_twinselfs_troubleshooting_command_works(env: dict[str, str], tmp_path: Path) -> None:
    """`python scripts/run_deepeval_evaluation.py test test test test` from TwinSelf's docs:
    it evaluates and prints, then says clearly that run `test` does not exist."""
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "run_deepeval_evaluation.py"), *["test"] * 4],
        env={**os.environ, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert "answer_relevancy" in result.stdout and "faithfulness" in result.stdout
    assert "There is no MLflow run 'test'" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob(".deepeval*")), "DeepEval wrote into the working folder"


@pytest.mark.slow
def test_evaluate_set_answers_judges_and_logs_one_run(
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    assert runner.invoke(app, ["rebuild"]).exit_code == 0
    questions = tmp_path / "questions.json"
    questions.write_text(
        json.dumps(
            [
                {"question": "Where did you study?", "expected_facts": ["Umeå University"]},
                {"question": "What do you do in your free time?"},
                {"question": "What is your favourite Pokémon?", "expected_facts": ["Pikachu"]},
            ]
        ),
        encoding="utf-8",
    )

    result = runner.invoke(app, ["evaluate-set", "--json", str(questions)])

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    aggregates = report["aggregates"]
    assert aggregates["questions"] == 3
    assert aggregates["fact_recall"] == 0.5  # Umeå University found, Pikachu (unknown) not
    for name in ("answer_relevancy", "faithfulness"):
        assert 0.0 <= aggregates[f"{name}_mean"] <= 1.0
        assert 0.0 <= aggregates[f"{name}_pass_rate"] <= 1.0
    assert report["data_version"].startswith("data-")
    client = MlflowClient(f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}")
    run = client.get_run(report["run_id"])
    assert run.data.params["question_set"] == "questions.json"
    assert run.data.metrics["fact_recall"] == 0.5
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == "twinself_production-evaluation-sets"
    artifacts = [a.path for a in client.list_artifacts(run.info.run_id)]
    assert artifacts == ["evaluation_set_results.json"]

    wrong = runner.invoke(app, ["evaluate-set", "--data-version", "v9", str(questions)])
    assert wrong.exit_code == 1 and "No version 'v9'" in wrong.output
    questions.write_text('[{"expected_facts": []}]', encoding="utf-8")
    invalid = runner.invoke(app, ["evaluate-set", str(questions)])
    assert invalid.exit_code == 1 and "question" in invalid.output
    assert "Traceback" not in invalid.output


def test_doctor_checks_the_gemini_judge_with_its_own_key(
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert runner.invoke(app, ["rebuild"]).exit_code == 0
    monkeypatch.setenv("COLUMNS", "200")
    with FakeGeminiServer(api_key="judge-right-key") as gemini:
        monkeypatch.setenv("EVAL_GEMINI_BASE_URL", gemini.base_url)
        monkeypatch.setenv("GOOGLE_API_KEY_4DEEPEVAL", "AIza-judge-wrong-key")
        refused = runner.invoke(app, ["doctor"])
        monkeypatch.setenv("GOOGLE_API_KEY_4DEEPEVAL", "judge-right-key")
        accepted = runner.invoke(app, ["doctor"])
    assert refused.exit_code == 1
    assert "FAIL judge" in refused.stdout and "GOOGLE_API_KEY_4DEEPEVAL" in refused.stdout
    assert "AIza-judge-wrong-key" not in refused.output
    assert accepted.exit_code == 0, accepted.stdout
    assert "ok   judge: gemini judge gemini-2.0-flash answered" in accepted.stdout

"""The CLI as a user runs it: real settings from the environment, real model and store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from tests.fakes.gemini_server import FakeGeminiServer
from tests.support.paths import REPO
from tests.support.private_data import add_private_facts
from tests.support.records import make_record
from twinself.cli.app import app
from twinself.cli.scorer_training import RECIPES
from twinself.pipeline.outbox import Outbox
from twinself.pipeline.request_queue import RequestQueue

runner = CliRunner()


def test_every_command_has_help_with_an_example() -> None:
    names = sorted(get_command(app).commands)  # type: ignore[attr-defined]
    assert {"validate", "rebuild", "ask", "chat", "doctor"} <= set(names)
    for name in names:
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, name
        assert "Example:" in result.output, f"`twinself {name} --help` shows no example"


def test_validate_reports_file_line_and_fails(env: dict[str, str], data_dir: Path) -> None:
    assert runner.invoke(app, ["validate"]).exit_code == 0
    (data_dir / "episodic_data" / "bad.json").write_text(
        '[\n  {"user_query": 1}\n]', encoding="utf-8"
    )
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 1
    assert "episodic_data/bad.json:2" in result.output


def test_validate_counts_private_parts_and_rejects_an_unclosed_marker(
    env: dict[str, str], data_dir: Path
) -> None:
    add_private_facts(data_dir)
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 0
    assert "5 private part(s) will be left out of memory" in result.output

    facts = data_dir / "semantic_data" / "hobbies.md"
    facts.write_text("# Hobbies\n\n<!-- private -->\nI collect stamps.\n", encoding="utf-8")
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 1
    assert "semantic_data/hobbies.md:3" in result.output and "never closed" in result.output


def test_bad_setting_is_a_clear_error_not_a_trace(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWINSELF_CHUNK_OVERLAP", "5000")
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 1
    assert "TWINSELF_CHUNK_OVERLAP (5000) must be smaller" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_rebuild_dry_run_then_build_then_ask_json(env: dict[str, str], tmp_path: Path) -> None:
    dry = runner.invoke(app, ["rebuild", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    summary = json.loads(dry.stdout)
    assert summary["dry_run"] is True
    assert len(summary["changes"]["semantic"]["added"]) >= 6
    assert not (tmp_path / "home").exists(), "a dry run wrote state"

    built = runner.invoke(app, ["rebuild", "--json"])
    assert built.exit_code == 0, built.output
    points = json.loads(built.stdout)["points"]
    assert points["semantic"] > 0 and points["episodic"] >= 20 and points["procedural"] >= 5

    asked = runner.invoke(app, ["ask", "--json", "What do you do in your free time?"])
    assert asked.exit_code == 0, asked.output
    payload = json.loads(asked.stdout)
    assert set(payload) == {"response", "sources", "usage", "model", "provider"}
    assert payload["provider"] == "offline"
    assert set(payload["usage"]) == {"input_tokens", "output_tokens", "estimated"}
    top3 = list(dict.fromkeys(s["source"] for s in payload["sources"] if s["memory"] == "semantic"))
    assert "hobbies.md" in top3[:3]
    assert set(payload["sources"][0]) == {"memory", "source", "heading", "text", "score"}


def test_ask_before_rebuild_says_what_to_run(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["ask", "Hi"])
    assert result.exit_code == 1
    assert "twinself rebuild" in result.output


@pytest.mark.slow
def test_smart_rebuild_script_and_json_lines_in_a_real_process(env: dict[str, str]) -> None:
    """Console entry points as a user runs them, in separate processes (one store lock each)."""
    process_env = {**os.environ, **env}
    script = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "smart_rebuild.py"), "--json"],
        env=process_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert script.returncode == 0, script.stderr
    assert json.loads(script.stdout)["points"]["semantic"] > 0

    questions = "Hi there!\n\nWhere do you work?\nWhat is your favourite Pokémon?\n"
    asked = subprocess.run(
        [sys.executable, "-m", "twinself.cli", "ask", "--json", "-"],
        input=questions,
        env=process_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert asked.returncode == 0, asked.stderr
    lines = [json.loads(line) for line in asked.stdout.splitlines()]
    assert len(lines) == 3
    assert all(set(line) == {"response", "sources", "usage", "model", "provider"} for line in lines)
    assert "don't know" in lines[2]["response"].lower()


def test_doctor_names_each_problem_with_its_fix(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert "FAIL memory: empty" in result.stdout
    assert "fix: Run `twinself rebuild`." in result.stdout
    assert "ok   provider: offline" in result.stdout
    assert "ok   outbox: none yet" in result.stdout
    # Untrained scorers are said, with how to train them, but are no failure: the rules work.
    scorers = next(line for line in result.stdout.splitlines() if "pair scorers:" in line)
    assert scorers.startswith("ok"), scorers
    if RECIPES:
        assert "not trained" in scorers and "twinself export-onnx" in scorers


def test_doctor_says_when_the_pair_scorers_are_trained(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, trained_scorers: Path
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    shutil.copytree(trained_scorers, Path(env["TWINSELF_HOME"]) / trained_scorers.name)
    result = runner.invoke(app, ["doctor"])
    scorers = next(line for line in result.stdout.splitlines() if "pair scorers:" in line)
    names = ", ".join(recipe.name for recipe in RECIPES)
    assert scorers == (
        f"ok   pair scorers: {names}: trained" if RECIPES else "ok   pair scorers: none used"
    )


def test_doctor_shows_what_the_outbox_holds_and_how_long(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("TWINSELF_RETENTION_DAYS", "7")
    outbox = Outbox(Path(env["TWINSELF_HOME"]) / "outbox.sqlite3")
    RequestQueue(outbox).append(make_record())
    outbox.close()
    result = runner.invoke(app, ["doctor"])
    assert "records, 0 evaluations, 0 suggestions; finished rows deleted after 7 days" in (
        result.stdout
    )
    assert ": 1 records" in result.stdout


def test_doctor_reports_a_refused_gemini_key_without_printing_it(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeGeminiServer(api_key="the-right-key") as gemini:
        monkeypatch.setenv("COLUMNS", "200")
        monkeypatch.setenv("TWINSELF_LLM_PROVIDER", "gemini")
        monkeypatch.setenv("GOOGLE_API_KEY", "AIza-wrong-key-secret")
        monkeypatch.setenv("GEMINI_BASE_URL", gemini.base_url)
        monkeypatch.setenv("LLM_MAX_RETRIES", "0")
        result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert "FAIL provider" in result.stdout and "GOOGLE_API_KEY" in result.stdout
    assert "AIza-wrong-key-secret" not in result.output

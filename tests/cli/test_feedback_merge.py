"""Suggested answers merged into episodic memory: dry run writes nothing, merging is idempotent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.support.paths import REPO
from twinself.cli.app import app
from twinself.pipeline.feedback_queue import FeedbackQueue
from twinself.pipeline.outbox import Outbox

runner = CliRunner()


def suggest(home: Path, question: str, answer: str) -> None:
    outbox = Outbox(home / "outbox.sqlite3")
    FeedbackQueue(outbox).append(question, "I don't know.", answer, None)
    outbox.close()


def test_merge_dry_run_then_merge_then_again(
    env: dict[str, str],
    data_dir: Path,
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    suggest(home, "Do you keep bees?", "Yes, two hives on our roof in Majorna.")
    suggest(home, "Do you keep bees?", "Yes, two hives on our roof in Majorna.")  # twice
    episodic = data_dir / "episodic_data"
    existing = json.loads((sorted(episodic.glob("*.json"))[0]).read_text(encoding="utf-8"))[0]
    suggest(home, existing["user_query"], existing["your_response"])  # already known
    before = {p.name: p.read_bytes() for p in episodic.iterdir()}

    listed = runner.invoke(app, ["feedback", "list", "--json"])
    assert listed.exit_code == 0 and len(json.loads(listed.stdout)) == 3

    dry = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "process_user_suggestions.py"), "--dry-run"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dry.returncode == 0, dry.stderr
    assert "1 new, 2 already" in " ".join(dry.stdout.split())
    assert {p.name: p.read_bytes() for p in episodic.iterdir()} == before

    merged = runner.invoke(app, ["feedback", "merge"])
    again = runner.invoke(app, ["feedback", "merge", "--archive"])

    assert merged.exit_code == 0 and "Merged 1" in merged.stdout
    assert again.exit_code == 0 and "Merged 0" in again.stdout
    added = json.loads((episodic / "user_suggestions.json").read_text(encoding="utf-8"))
    bees = "Yes, two hives on our roof in Majorna."
    assert added == [{"user_query": "Do you keep bees?", "your_response": bees}]
    assert runner.invoke(app, ["validate"]).exit_code == 0
    assert json.loads(runner.invoke(app, ["feedback", "list", "--json"]).stdout) == []
    assert len(json.loads(runner.invoke(app, ["feedback", "list", "--all", "--json"]).stdout)) == 3


def test_merging_into_the_bundled_sample_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWINSELF_HOME", str(tmp_path / "home"))  # no TWINSELF_DATA_DIR
    suggest(tmp_path / "home", "Q?", "A.")
    result = runner.invoke(app, ["feedback", "merge"])
    assert result.exit_code == 1 and "TWINSELF_DATA_DIR" in result.output

"""Suggested answers reviewed by the owner, the accepted ones merged into episodic memory: dry run
writes nothing, merging is idempotent, nothing unreviewed or rejected reaches memory."""

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
from twinself.pipeline.rating_queue import RatingQueue

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
    unreviewed = runner.invoke(app, ["feedback", "merge", "--dry-run"])
    assert "0 new" in unreviewed.stdout and "3 suggestion(s) wait" in unreviewed.stdout
    accepted = runner.invoke(app, ["feedback", "accept", "--all-waiting"])
    assert accepted.exit_code == 0 and "Accepted: 3" in accepted.stdout, accepted.output

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
    every = json.loads(runner.invoke(app, ["feedback", "list", "--all", "--json"]).stdout)
    assert [f["state"] for f in every] == ["merged"] * 3


def test_merging_into_the_bundled_sample_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWINSELF_HOME", str(tmp_path / "home"))  # no TWINSELF_DATA_DIR
    suggest(tmp_path / "home", "Q?", "A.")
    runner.invoke(app, ["feedback", "accept", "1"])
    result = runner.invoke(app, ["feedback", "merge"])
    assert result.exit_code == 1 and "TWINSELF_DATA_DIR" in result.output


def test_only_what_the_owner_accepted_reaches_memory(
    env: dict[str, str], data_dir: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    suggest(home, "Where do you live?", "Buy cheap pills at http://spam.example")
    suggest(home, "Do you keep bees?", "Yes, two hives on our roof in Majorna.")
    suggest(home, "What is your favourite tool?", "A sharp pencil.")
    suggest(home, "Your email?", "Visit http://spam.example now")

    rejected = runner.invoke(app, ["feedback", "reject", "--contains", "HTTP://SPAM"])
    assert rejected.exit_code == 0 and "Rejected: 2 suggestion(s) (1, 4)" in rejected.stdout
    reviewed = runner.invoke(app, ["feedback", "review"], input="a\ns\n")  # accept 2, skip 3
    assert reviewed.exit_code == 0 and "Accepted 1, rejected 0" in reviewed.stdout
    refused = runner.invoke(app, ["feedback", "accept", "99"])
    assert refused.exit_code == 1 and "99" in refused.output
    assert runner.invoke(app, ["feedback", "accept"]).exit_code == 2  # nothing chosen

    merged = runner.invoke(app, ["feedback", "merge"])

    assert "Merged 1 accepted" in merged.stdout and "1 suggestion(s) wait" in merged.stdout
    added = json.loads((data_dir / "episodic_data" / "user_suggestions.json").read_text("utf-8"))
    assert [a["user_query"] for a in added] == ["Do you keep bees?"]
    states = {
        f["feedback_id"]: f["state"]
        for f in json.loads(runner.invoke(app, ["feedback", "list", "--all", "--json"]).stdout)
    }
    assert states == {1: "rejected", 2: "merged", 3: "waiting", 4: "rejected"}
    late = runner.invoke(app, ["feedback", "reject", "2"])  # merged: too late to change
    assert late.exit_code == 1 and "already merged" in late.output


def test_ratings_lists_each_rated_answers_newest_rating(
    env: dict[str, str], tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path / "home" / "outbox.sqlite3")
    ratings = RatingQueue(outbox)
    for request_id, rating in (("req-a", "up"), ("req-b", "up"), ("req-a", "down")):
        ratings.append(request_id, rating)  # type: ignore[arg-type]
    outbox.close()

    listed = runner.invoke(app, ["feedback", "ratings", "--json"])
    assert listed.exit_code == 0
    assert [(r["request_id"], r["rating"]) for r in json.loads(listed.stdout)] == [
        ("req-a", "down"),
        ("req-b", "up"),
    ]
    table = runner.invoke(app, ["feedback", "ratings"])
    assert "2 rated answer(s): 1 up, 1 down" in table.stdout

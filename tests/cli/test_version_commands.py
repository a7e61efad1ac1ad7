"""`twinself versions ...` as a user sees it in terminals of any width and in a pipe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.support.factories import SettingsFactory
from tests.support.memory_data import add_bees
from twinself.cli.app import app
from twinself.embedding.sentence_transformer import SentenceTransformerEmbedder
from twinself.memory.version_builder import create_version

runner = CliRunner()


def test_versions_list_prints_every_id_whole_at_any_width(
    make_settings: SettingsFactory,
    data_dir: Path,
    embedder: SentenceTransformerEmbedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings()
    first = create_version(settings, embedder).version.id
    add_bees(data_dir)
    second = create_version(settings, embedder).version.id
    monkeypatch.setenv("TWINSELF_HOME", str(settings.home))
    monkeypatch.setenv("TWINSELF_DATA_DIR", str(data_dir))

    for columns in ("200", "80", "40"):  # a wide terminal, a pipe or 80-column window, narrow
        listed = runner.invoke(app, ["versions", "list"], env={"COLUMNS": columns})

        assert listed.exit_code == 0, listed.output
        assert first in listed.stdout and second in listed.stdout, (columns, listed.stdout)
        active = next(line for line in listed.stdout.splitlines() if second in line)
        assert "*" in active, (columns, listed.stdout)  # marked on the line with its id

    scripted = json.loads(runner.invoke(app, ["versions", "list", "--json"]).stdout)
    assert scripted["active"] == second
    assert [v["id"] for v in scripted["versions"]] == [first, second]


def test_versions_list_help_shows_the_json_example() -> None:
    shown = runner.invoke(app, ["versions", "list", "--help"], env={"COLUMNS": "120"})
    assert shown.exit_code == 0
    assert "twinself versions list --json" in shown.stdout

"""`twinself versions ...` as a user sees it in terminals of any width and in a pipe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from twinself.cli.app import app
from twinself.memory.versions import Registry, VersionInfo, VersionRegistry

runner = CliRunner()


def test_versions_list_prints_every_id_whole_at_any_width(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Listing reads only the registry: two recorded versions, nothing built.
    first, second = "v1_20261127_120000", "v2_20261127_130000"
    versions = [
        VersionInfo(id=version, created_at="2026-11-27T12:00:00", parent=parent, status="ready")
        for version, parent in ((first, None), (second, first))
    ]
    home = tmp_path / "home"
    VersionRegistry(home).save(Registry(active=second, versions=versions))
    monkeypatch.setenv("TWINSELF_HOME", str(home))

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

"""The CLI starts without loading the heavy libraries; only the commands that need one load it.

Structural checks (which modules a fresh process imports), not timings: `twinself --help` took
5 s when every command module imported Qdrant and MLflow at the top.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from twinself.memory.versions import Registry, VersionInfo, VersionRegistry

# Each takes from 0.1 s to 2 s to import.
HEAVY = [
    "qdrant_client",
    "mlflow",
    "torch",
    "sentence_transformers",
    "transformers",
    "deepeval",
    "google.genai",
    "openai",
    "pandas",
    "numpy",
    "sqlalchemy",
    "fastapi",
    "uvicorn",
]


def test_importing_the_cli_loads_no_heavy_library() -> None:
    code = (
        "import json, sys; import twinself.cli.app; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(result.stdout) == []


def imported_modules(import_profile: str) -> set[str]:
    """The names in `-X importtime` output: `import time: self | cumulative | name`."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in import_profile.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }


def run_cli(home: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    env = {**os.environ, "TWINSELF_HOME": str(home), "PYTHONPROFILEIMPORTTIME": "1"}
    env["COLUMNS"] = "200"  # whole version ids in the table
    result = subprocess.run(
        [sys.executable, "-m", "twinself.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    modules = imported_modules(result.stderr)
    assert "twinself.cli.app" in modules  # the profile was read
    return result, modules


def heavy_in(modules: set[str]) -> list[str]:
    return [h for h in HEAVY if any(m == h or m.startswith(f"{h}.") for m in modules)]


@pytest.mark.parametrize(
    "command",
    [
        ["--help"],
        ["versions", "--help"],
        ["rebuild", "--help"],
        ["versions", "list"],
        ["validate"],
        ["feedback", "list"],
        ["evaluations", "status"],
    ],
)
def test_light_commands_load_no_heavy_library(tmp_path: Path, command: list[str]) -> None:
    result, modules = run_cli(tmp_path / "home", *command)
    assert result.returncode == 0, result.stdout + result.stderr
    assert heavy_in(modules) == []


def test_versions_list_loads_no_heavy_library_without_and_with_versions(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result, modules = run_cli(home, "versions", "list")
    assert result.returncode == 0, result.stderr
    assert "No versions yet" in result.stdout
    assert heavy_in(modules) == []

    version = VersionInfo(
        id="v1_20261127_120000",
        created_at="2026-11-27T12:00:00",
        parent=None,
        status="ready",
        points={"semantic": 64, "episodic": 29, "procedural": 10},
        changes={"semantic": {"added": ["hobbies.md", "work.md"]}},
    )
    VersionRegistry(home).save(Registry(active=version.id, versions=[version]))
    result, modules = run_cli(home, "versions", "list")
    assert result.returncode == 0, result.stderr
    assert version.id in result.stdout and "2 file(s)" in result.stdout
    assert heavy_in(modules) == []

    # A rollback on the embedded store is a registry write: no store is opened.
    result, modules = run_cli(home, "versions", "rollback", version.id)
    assert result.returncode == 0, result.stdout + result.stderr
    assert heavy_in(modules) == []

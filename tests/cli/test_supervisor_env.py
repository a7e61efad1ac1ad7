"""The supervised workers' environment: `twinself serve --workers N` keeps its API processes'
metric files to the API, so the shipper and the evaluator start without PROMETHEUS_MULTIPROC_DIR."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.support.waiting import wait_until
from twinself.cli.supervisor import ProcessSupervisor


def test_a_supervised_child_starts_without_the_removed_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setenv("TWINSELF_KEPT", "yes")
    seen = tmp_path / "env.json"
    partial = tmp_path / "env.part"  # renamed when complete: the test never reads half of it
    dump = (
        f"import json, os; open({str(partial)!r}, 'w').write(json.dumps(dict(os.environ))); "
        f"os.replace({str(partial)!r}, {str(seen)!r})"
    )
    child = ProcessSupervisor(
        [sys.executable, "-c", dump + "; import time; time.sleep(60)"],
        "child",
        {"TWINSELF_ADDED": "1"},
        without_env=["PROMETHEUS_MULTIPROC_DIR"],
    )
    child.start()
    try:
        wait_until(seen.exists, 30, "the child's environment")
    finally:
        child.stop()
    environment = json.loads(seen.read_text())
    assert "PROMETHEUS_MULTIPROC_DIR" not in environment
    assert environment["TWINSELF_KEPT"] == "yes" and environment["TWINSELF_ADDED"] == "1"

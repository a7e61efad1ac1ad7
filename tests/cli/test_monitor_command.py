"""`twinself monitor`: the native scrape config promtool accepts, a clear error without
Prometheus, and a real Prometheus that loads the twin's jobs and alert rules, then stops."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from tests.support.network import free_port
from tests.support.paths import REPO
from tests.support.system_tools import require_tool
from tests.support.waiting import answers, wait_until
from twinself.cli.app import app

runner = CliRunner()
TWINSELF_JOBS = {"twinself-api", "twinself-shipper", "twinself-evaluator"}


def _targets(config: dict[str, Any]) -> dict[str, list[str]]:
    return {
        job["job_name"]: [t for static in job["static_configs"] for t in static["targets"]]
        for job in config["scrape_configs"]
    }


def _alert_names() -> set[str]:
    groups = yaml.safe_load((REPO / "monitoring-templates" / "alerts.yml").read_text())["groups"]
    return {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}


def test_printed_config_scrapes_this_machine_and_promtool_accepts_it(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TWINSELF_PORT", "8123")
    monkeypatch.setenv("TWINSELF_EVALUATOR_METRICS_PORT", "9202")
    result = runner.invoke(app, ["monitor", "--print-config", "--port", "9191"])
    assert result.exit_code == 0, result.output
    config = yaml.safe_load(result.stdout)
    assert _targets(config) == {
        "twinself-api": ["127.0.0.1:8123"],
        "twinself-shipper": ["127.0.0.1:9101"],
        "twinself-evaluator": ["127.0.0.1:9202"],
        "prometheus": ["127.0.0.1:9191"],
    }
    assert config["scrape_configs"][0]["metrics_path"] == "/metrics"
    assert config["rule_files"] == [str(REPO / "monitoring-templates" / "alerts.yml")]
    assert not (tmp_path / "home").exists(), "printing the config wrote state"

    # Elsewhere, as a user would save it: the rule file's absolute path still resolves.
    saved = tmp_path / "elsewhere" / "prometheus.yml"
    saved.parent.mkdir()
    saved.write_text(result.stdout, encoding="utf-8")
    checked = subprocess.run(
        [require_tool("promtool"), "check", "config", str(saved)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 1 rule files found" in checked.stdout


def test_a_worker_without_metrics_is_not_scraped(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWINSELF_EVALUATOR_METRICS_PORT", "0")
    monkeypatch.setenv("TWINSELF_HOST", "0.0.0.0")
    result = runner.invoke(app, ["monitor", "--print-config"])
    assert result.exit_code == 0, result.output
    targets = _targets(yaml.safe_load(result.stdout))
    assert "twinself-evaluator" not in targets
    assert targets["twinself-api"] == ["127.0.0.1:8000"]  # all interfaces: scraped on loopback
    assert targets["prometheus"] == ["127.0.0.1:9090"]


def test_without_prometheus_on_path_says_how_to_install_it(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    result = runner.invoke(app, ["monitor"])
    assert result.exit_code == 1
    said = " ".join(result.output.split())  # the console wraps long lines
    assert "`prometheus` is not on PATH" in said
    assert "apt install prometheus" in said
    assert "docker compose up" in said
    assert "Traceback" not in said


@pytest.mark.slow  # Prometheus applies its targets about 5 s after it starts
def test_monitor_runs_prometheus_with_the_twin_jobs_and_alerts_then_stops(
    env: dict[str, str], tmp_path: Path
) -> None:
    require_tool("prometheus")
    port = free_port()
    prometheus = f"http://127.0.0.1:{port}"
    # Nothing listens on the twin's ports: the jobs are there, their targets down.
    ports = {
        "TWINSELF_PORT": str(free_port()),
        "TWINSELF_EVALUATOR_METRICS_PORT": str(free_port()),
    }
    log = tmp_path / "monitor.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "twinself.cli", "monitor", "--port", str(port)],
            env={**os.environ, **env, **ports},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: answers(f"{prometheus}/-/ready"), 60, "Prometheus to be ready")

        def jobs() -> set[str]:
            targets = httpx.get(f"{prometheus}/api/v1/targets", timeout=5).json()["data"]
            return {target["labels"]["job"] for target in targets["activeTargets"]}

        # Prometheus applies discovered targets a few seconds after it is ready.
        wait_until(lambda: jobs() >= TWINSELF_JOBS, 30, "the twin's scrape jobs")
        assert jobs() == TWINSELF_JOBS | {"prometheus"}
        groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=5).json()["data"]["groups"]
        loaded = {rule["name"] for group in groups for rule in group["rules"]}
        assert _alert_names() <= loaded
        assert "twinself:http_error_ratio:rate5m" in loaded
    finally:
        process.terminate()
        code = process.wait(timeout=30)
    output = log.read_text(encoding="utf-8", errors="replace")
    assert code == 0, output
    assert f"Prometheus UI {prometheus}" in output
    assert (Path(env["TWINSELF_HOME"]) / "prometheus" / "data").is_dir()

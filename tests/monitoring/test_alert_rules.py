"""monitoring-templates/: promtool accepts the scrape config and the rules, the rules' unit tests
pass, every alert is tested both ways, and the rules use only the metrics the code exports."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.metric_names import exported_series, metric_names
from tests.support.paths import REPO
from tests.support.system_tools import require_tool

TEMPLATES = REPO / "monitoring-templates"


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((TEMPLATES / "alerts.yml").read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _promtool(*args: str) -> None:
    done = subprocess.run(
        [require_tool("promtool"), *args],
        cwd=TEMPLATES,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}\n{done.stderr}"


@pytest.mark.parametrize(
    "args",
    [
        ("check", "config", "prometheus.yml"),
        ("check", "rules", "alerts.yml"),
        ("test", "rules", "alerts_test.yml"),
    ],
    ids=["check-config", "check-rules", "test-rules"],
)
def test_promtool_accepts_the_templates(args: tuple[str, ...]) -> None:
    _promtool(*args)


def test_every_alert_has_a_firing_and_a_quiet_test_case() -> None:
    alerts = {rule["alert"] for rule in _rules() if "alert" in rule}
    tests = yaml.safe_load((TEMPLATES / "alerts_test.yml").read_text(encoding="utf-8"))
    firing, quiet = set(), set()
    for case in tests["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert len(alerts) >= 12
    assert alerts - firing == set(), "alerts never shown firing"
    assert alerts - quiet == set(), "alerts never shown staying quiet"
    assert (firing | quiet) - alerts == set(), "tests of alerts that do not exist"


def test_every_alert_has_for_severity_and_advice() -> None:
    for rule in _rules():
        if "alert" in rule:
            assert rule.get("for"), rule["alert"]
            assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
            assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]


def test_rules_use_only_exported_metrics_and_recorded_series(tmp_path: Path) -> None:
    exported = exported_series(tmp_path)
    rules = _rules()
    recorded = {rule["record"] for rule in rules if "record" in rule}
    assert all(re.fullmatch(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", name) for name in recorded)
    for rule in rules:
        unknown = metric_names(rule["expr"]) - exported - recorded - {"up"}
        assert unknown == set(), f"{rule.get('alert') or rule['record']}: {unknown}"


def test_metric_names_finds_series_not_functions_or_labels() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (endpoint, le) (rate(a_bucket{endpoint!~"/x|y"}[5m])))'
        " > on () max(b:c:d > 0) and e offset 10m unless f{kind='q'} or vector(1e3)"
    )
    assert metric_names(expr) == {"a_bucket", "b:c:d", "e", "f"}


def test_the_scrape_config_has_one_job_per_process() -> None:
    config = yaml.safe_load((TEMPLATES / "prometheus.yml").read_text(encoding="utf-8"))
    targets = {
        job["job_name"]: [t for static in job["static_configs"] for t in static["targets"]]
        for job in config["scrape_configs"]
    }
    assert targets == {
        "twinself-api": ["app:8000"],
        "twinself-shipper": ["app:9101"],
        "twinself-evaluator": ["app:9102"],
        "prometheus": ["localhost:9090"],
    }
    assert config["rule_files"] == ["alerts.yml"]
    assert Path(TEMPLATES, "alerts.yml").is_file()

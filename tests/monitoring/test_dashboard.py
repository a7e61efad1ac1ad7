"""The Grafana dashboard: the checked-in JSON is what the code builds, Grafana's own model
(grafana-foundation-sdk) reads it back unchanged, every query is on a metric of the contract
and names its data source through the `datasource` variable. Prometheus runs the queries in
the integration test; Grafana is not needed here."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

from tests.support.metric_names import exported_series, metric_names
from tests.support.paths import REPO
from tests.support.system_tools import require_tool
from twinself.monitoring.dashboard import build_dashboard, panel_queries

CHECKED_IN = REPO / "monitoring-templates" / "twinself_dashboard.json"
GENERATOR = REPO / "scripts" / "generate_dashboard.py"
# Label names such as gen_ai_token_type share the gen_ai_ prefix, so only client metrics count.
# The issue's panel list, each by the title that shows it.
REQUIRED_PANELS = {
    "Requests by status class",
    "Error ratio by kind",
    "Chat latency p50 / p95 / p99",
    "Time to first token",
    "Tokens per second",
    "Spend today",
    "Today's spend of the daily budget",
    "Spend this month",
    "Cost per answer",
    "Quality score per metric",
    "Pass rate per metric",
    "Evaluation coverage",
    "Evaluation lag p50 / p95",
    "Evaluation dead letters",
    "Outbox backlog per queue",
    "Oldest waiting row per queue",
    "Provider errors by kind",
    "MLflow shipping",
    "MLflow reachable",
    "Active data version",
}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return build_dashboard()


def panels(model: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in model["panels"] if panel["type"] != "row"]


def targets(model: dict[str, Any]) -> list[dict[str, Any]]:
    return [target for panel in panels(model) for target in panel["targets"]]


def test_the_checked_in_dashboard_is_what_the_code_builds(dashboard: dict[str, Any]) -> None:
    checked_in = json.loads(CHECKED_IN.read_text(encoding="utf-8"))
    assert checked_in == dashboard, f"{CHECKED_IN.name} is stale: run `make dashboard`"


def test_the_generator_checks_and_rewrites_a_stale_file(tmp_path: Path) -> None:
    output = tmp_path / "dashboard.json"
    output.write_text("{}\n", encoding="utf-8")

    def generate(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, str(GENERATOR), "--output", str(output), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60)

    stale = generate("--check")
    assert stale.returncode == 1
    assert "make dashboard" in stale.stderr
    assert output.read_text(encoding="utf-8") == "{}\n"  # --check writes nothing
    assert generate().returncode == 0
    assert generate("--check").returncode == 0
    assert output.read_text(encoding="utf-8") == CHECKED_IN.read_text(encoding="utf-8")


def test_grafanas_model_reads_the_json_back_unchanged() -> None:
    """A key the schema does not know (a typo, an option of another panel type) is dropped on
    the way through the SDK's model, so the round trip would differ."""
    register_default_plugins()  # panel options and Prometheus queries decode to their types
    checked_in = json.loads(CHECKED_IN.read_text(encoding="utf-8"))
    model = Dashboard.from_json(checked_in)
    assert json.loads(json.dumps(model, cls=JSONEncoder)) == checked_in


def test_the_round_trip_catches_a_key_grafana_does_not_know(dashboard: dict[str, Any]) -> None:
    register_default_plugins()
    altered = json.loads(json.dumps(dashboard))
    altered["panels"][1]["options"]["legendd"] = {"showLegend": False}
    model = Dashboard.from_json(altered)
    assert json.loads(json.dumps(model, cls=JSONEncoder)) != altered


def test_the_dashboard_is_identified_and_refreshes(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "twinself"
    assert dashboard["title"] == "twinself"
    assert "twinself" in dashboard["tags"]
    assert dashboard["refresh"] == "30s"
    assert dashboard["time"] == {"from": "now-24h", "to": "now"}


def test_the_data_source_is_a_variable_never_a_uid(dashboard: dict[str, Any]) -> None:
    (variable,) = dashboard["templating"]["list"]
    assert (variable["type"], variable["name"], variable["query"]) == (
        "datasource",
        "datasource",
        "prometheus",
    )
    reference = {"type": "prometheus", "uid": "${datasource}"}
    for panel in panels(dashboard):
        assert panel["datasource"] == reference, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == reference, panel["title"]
    # Any "uid" in the whole document is the dashboard's own or the variable's reference.
    uids = re.findall(r'"uid": "([^"]*)"', json.dumps(dashboard))
    assert set(uids) == {"twinself", "${datasource}"}


def test_every_panel_has_a_unique_id_a_place_and_queries(dashboard: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    occupied: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & occupied, f"{panel['title']} overlaps another panel"
        occupied |= cells
    for panel in panels(dashboard):
        assert panel["targets"], panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        assert all(target["expr"].strip() for target in panel["targets"]), panel["title"]


def test_the_issues_panels_are_all_there(dashboard: dict[str, Any]) -> None:
    titles = [panel["title"] for panel in panels(dashboard)]
    assert len(titles) == len(set(titles))
    assert REQUIRED_PANELS - set(titles) == set()


def test_every_query_uses_only_exported_metrics(dashboard: dict[str, Any], tmp_path: Path) -> None:
    exported = exported_series(tmp_path)
    used: set[str] = set()
    for target in targets(dashboard):
        names = metric_names(target["expr"])
        assert names, f"no metric in {target['expr']}"
        assert names <= exported, f"not exported by twinself: {names - exported}"
        used |= names
    # What the panel list needs is queried: budget, shipping, dead letters, build info.
    for name in (
        "twinself_daily_budget_usd",
        "twinself_mlflow_reachable",
        "twinself_outbox_failed",
        "twinself_build_info",
        "twinself_evaluation_lag_seconds_bucket",
        "gen_ai_client_token_usage_sum",
    ):
        assert name in used


def test_the_pass_mark_is_drawn_on_the_quality_panels(dashboard: dict[str, Any]) -> None:
    by_title = {panel["title"]: panel for panel in panels(dashboard)}
    for title in ("Quality score per metric", "Pass rate per metric"):
        defaults = by_title[title]["fieldConfig"]["defaults"]
        assert {"value": 0.7, "color": "green"} in defaults["thresholds"]["steps"]
        assert defaults["custom"]["thresholdsStyle"]["mode"] in {"line", "dashed"}


def test_today_and_this_month_are_the_panels_relative_time(dashboard: dict[str, Any]) -> None:
    by_title = {panel["title"]: panel for panel in panels(dashboard)}
    assert by_title["Spend today"]["timeFrom"] == "now/d"
    assert by_title["Today's spend of the daily budget"]["timeFrom"] == "now/d"
    assert by_title["Spend this month"]["timeFrom"] == "now/M"
    assert "$__range" in by_title["Spend today"]["targets"][0]["expr"]


def test_the_data_version_is_shown_by_its_label(dashboard: dict[str, Any]) -> None:
    (panel,) = [p for p in panels(dashboard) if p["title"] == "Active data version"]
    assert panel["options"]["textMode"] == "name"
    assert panel["targets"][0]["legendFormat"] == "{{data_version}}"


def test_panel_queries_cover_every_target_with_grafanas_variables_replaced(
    dashboard: dict[str, Any],
) -> None:
    queries = panel_queries(rate_interval="2m", time_range="3h")
    expected = [
        (panel["title"], t["expr"]) for panel in panels(dashboard) for t in panel["targets"]
    ]
    assert [title for title, _ in queries] == [title for title, _ in expected]
    for (_, query), (_, expr) in zip(queries, expected, strict=True):
        assert "$" not in query
        assert query == expr.replace("$__rate_interval", "2m").replace("$__range", "3h")
    assert any("[2m]" in query for _, query in queries)
    assert any("[3h]" in query for _, query in queries)


def test_promtool_parses_every_query(tmp_path: Path) -> None:
    """Each query as a recording rule: `promtool check rules` parses PromQL without a server
    (the integration test then runs them against one)."""
    promtool = require_tool("promtool")
    rules = [
        {"record": f"dashboard:query_{index}", "expr": expr}
        for index, (_, expr) in enumerate(panel_queries())
    ]
    rules_file = tmp_path / "dashboard_rules.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = subprocess.run(
        [promtool, "check", "rules", str(rules_file)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{len(rules)} rules found" in checked.stdout

"""Every dashboard panel and every alert rule, run by a real Prometheus against a real twin.

`twinself serve --mlflow-ui` (API, shipper, evaluator, MLflow: real processes) answers with the
real google-genai client against a fake Gemini on loopback, so tokens, cost and quota errors
are real too. Prometheus runs with the config `twinself monitor --print-config` generates from
`monitoring-templates/`, scraping every second. After traffic of every kind (answers, streams,
400, 413, 503 on a quota error, evaluations that pass and fail, a suggestion), each panel
expression must parse and return data, and each rule must evaluate without error.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.fakes.gemini_server import FakeGeminiServer, gemini_error
from tests.support.network import free_port
from tests.support.system_tools import require_tool
from tests.support.waiting import answers, wait_until
from twinself.monitoring.dashboard import panel_queries

pytestmark = pytest.mark.slow

GROUNDED = (
    "Since September 2022 I have worked as a senior ML platform engineer at Solvik, a "
    "Gothenburg company that builds demand-forecasting software for grocery chains."
)


def _query(prometheus: str, expr: str) -> dict[str, Any]:
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    body: dict[str, Any] = response.json()
    assert body.get("status") == "success", f"{expr!r}: {body}"
    return body


def _value(prometheus: str, expr: str) -> float:
    result = _query(prometheus, expr)["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


@pytest.fixture
def gemini() -> Iterator[FakeGeminiServer]:
    with FakeGeminiServer(GROUNDED) as server:
        yield server


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=out)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()


def test_every_panel_and_rule_answers_against_a_live_twin(
    tmp_path: Path, data_dir: Path, gemini: FakeGeminiServer
) -> None:
    prometheus_bin = require_tool("prometheus")
    ports = {name: free_port() for name in ("api", "mlflow", "shipper", "evaluator", "prom")}
    env = {
        **os.environ,
        "TWINSELF_HOME": str(tmp_path / "home"),
        "TWINSELF_DATA_DIR": str(data_dir),
        "TWINSELF_PORT": str(ports["api"]),
        "TWINSELF_SHIPPER_METRICS_PORT": str(ports["shipper"]),
        "TWINSELF_EVALUATOR_METRICS_PORT": str(ports["evaluator"]),
        "TWINSELF_LLM_PROVIDER": "gemini",
        "GEMINI_BASE_URL": gemini.base_url,
        "GOOGLE_API_KEY": "test-key-not-secret",
        "LLM_MAX_RETRIES": "0",
        "EVAL_JUDGE": "local",
        "TWINSELF_DAILY_BUDGET_USD": "5",
        "TWINSELF_MAX_MESSAGE_CHARS": "500",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    twinself = [sys.executable, "-m", "twinself.cli"]
    subprocess.run([*twinself, "rebuild"], env=env, check=True, capture_output=True, timeout=300)

    # The shipped scrape config and rules, scraping and evaluating every second for the test.
    printed = subprocess.run(
        [*twinself, "monitor", "--print-config", "--port", str(ports["prom"])],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    config = yaml.safe_load(printed.stdout)
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config_file = tmp_path / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    rule_files = [Path(config_file.parent, f) for f in config["rule_files"]]
    assert rule_files and all(f.is_file() for f in rule_files), rule_files

    api, prometheus = f"http://127.0.0.1:{ports['api']}", f"http://127.0.0.1:{ports['prom']}"
    serve = _start(
        [*twinself, "serve", "--mlflow-ui", "--mlflow-port", str(ports["mlflow"])],
        env,
        tmp_path / "serve.log",
    )
    prom = _start(
        [
            prometheus_bin,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{ports['prom']}",
            "--enable-feature=exemplar-storage",
        ],
        env,
        tmp_path / "prometheus.log",
    )
    try:
        wait_until(lambda: answers(f"{api}/health"), 120, "the chat API")
        wait_until(lambda: answers(f"{prometheus}/-/ready"), 60, "Prometheus")
        # As in a twin that runs for a while: the counters were scraped at 0 before traffic.
        wait_until(
            lambda: _value(prometheus, 'count(up{job=~"twinself-.*"} == 1)') == 3,
            60,
            "a first scrape of the API, the shipper and the evaluator",
        )

        def ask(message: str, path: str = "/chat") -> httpx.Response:
            body = {"session_id": "monitoring", "message": message}
            return httpx.post(f"{api}{path}", json=body, timeout=60)

        for question in ("Where do you work?", "What company do you work for?"):
            assert ask(question).status_code == 200
        # Grounded but beside the point: the judge's relevancy verdict is a fail.
        answered = ask("What is your favourite pancake recipe?")
        assert answered.status_code == 200
        streamed = ask("Where do you work?", "/chat/stream")
        assert streamed.status_code == 200 and "Solvik" in streamed.text
        assert ask("   ").status_code == 400
        assert ask("x" * 501).status_code == 413
        gemini.plan(429, gemini_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded"))
        assert ask("Where do you work?").status_code == 503
        suggestion = {
            "request_id": answered.json()["request_id"],
            "original_question": "What is your favourite pancake recipe?",
            "original_response": answered.json()["response"],
            "suggested_response": "I would rather talk about my work at Solvik.",
        }
        feedback = httpx.post(f"{api}/api/edit-message/suggestion", json=suggestion)
        assert feedback.status_code == 200, feedback.text

        # All three processes' counts reach Prometheus: four answers judged, runs shipped.
        def scraped() -> bool:
            judged = _value(prometheus, 'sum(twinself_evaluations_total{metric="faithfulness"})')
            shipped = _value(prometheus, "sum(twinself_mlflow_runs_shipped_total)")
            return judged >= 4 and shipped >= 4

        wait_until(scraped, 240, "evaluations and shipped runs to be scraped")
        verdicts = _query(prometheus, "sum by (verdict) (twinself_evaluations_total)")
        seen = {r["metric"]["verdict"] for r in verdicts["data"]["result"] if r["value"][1] != "0"}
        assert {"pass", "fail"} <= seen, verdicts
        targets = httpx.get(f"{prometheus}/api/v1/targets").json()["data"]["activeTargets"]
        health = {t["labels"]["job"]: t["health"] for t in targets}
        assert all(health[job] == "up" for job in health if job.startswith("twinself")), health
        assert {"twinself-api", "twinself-shipper", "twinself-evaluator"} <= health.keys()

        # Rates need two scrapes of a series; the judge's and the provider's start at zero.
        def panels_without_data() -> list[str]:
            queries = panel_queries()
            return [t for t, expr in queries if not _query(prometheus, expr)["data"]["result"]]

        try:
            wait_until(lambda: not panels_without_data(), 30, "every panel to have data")
        except AssertionError:
            pytest.fail(f"panels without data: {panels_without_data()}")

        # A slow answer leads to its MLflow trace: the exemplar holds the trace id.
        exemplars = httpx.get(
            f"{prometheus}/api/v1/query_exemplars",
            params={"query": "gen_ai_client_operation_duration_seconds_bucket", "start": 0},
        ).json()["data"]
        trace_ids = {e["labels"]["trace_id"] for s in exemplars for e in s["exemplars"]}
        assert trace_ids and all(t.startswith("tr-") for t in trace_ids), exemplars

        rules = [
            rule
            for rule_file in rule_files
            for group in yaml.safe_load(rule_file.read_text())["groups"]
            for rule in group["rules"]
        ]
        for rule in rules:
            _query(prometheus, rule["expr"])  # parses and evaluates now

        def evaluated() -> list[dict[str, Any]]:
            groups = httpx.get(f"{prometheus}/api/v1/rules").json()["data"]["groups"]
            return [rule for group in groups for rule in group["rules"]]

        wait_until(
            lambda: all(r.get("lastEvaluation", "").startswith("2") for r in evaluated()),
            30,
            "every rule to be evaluated",
        )
        loaded = evaluated()
        assert len(loaded) == len(rules)
        assert [r["name"] for r in loaded if r["health"] != "ok"] == [], loaded

        # The quota error shows: its alert is pending (for: 1m) or firing.
        def alerting() -> set[str]:
            return {
                r["name"]
                for r in evaluated()
                if r["type"] == "alerting" and r["state"] != "inactive"
            }

        wait_until(lambda: "TwinselfProviderQuotaExhausted" in alerting(), 30, "the quota alert")
    finally:
        _stop(prom)
        _stop(serve)

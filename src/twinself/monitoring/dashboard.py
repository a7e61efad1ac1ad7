"""The twinself Grafana dashboard as code: `build_dashboard()` is the JSON model that
`scripts/generate_dashboard.py` writes to `monitoring-templates/twinself_dashboard.json`.

It shows what the owner of a twin needs to see: traffic and errors, latency, tokens and spend,
answer quality, the evaluation and shipping pipelines, provider quota and what is serving.
Only the metrics of `monitoring.metrics`, `outbox_metrics` and `worker_metrics` are queried.
Built at development time (grafana-foundation-sdk is a dev dependency); the service never
imports this module.
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dashboard_models

from twinself.monitoring.dashboard_panels import (
    DATASOURCE_VARIABLE,
    PanelBuilder,
    Query,
    ratio_gauge,
    single_stat,
    time_series,
)

UID = "twinself"
RATE = "$__rate_interval"
# Evaluations come one per answer, far sparser than requests: an hour smooths them, as the
# pass-rate alert does.
QUALITY_WINDOW = "1h"
CHAT = 'endpoint=~"/chat|/chat/stream"'
REQUESTS = "twinself_http_requests_total"
ANSWERS = f'{REQUESTS}{{{CHAT}, status_class="2xx"}}'
# Visitors' traffic: Prometheus' scrapes and health checks left out, as alerts.yml does.
VISITORS = 'endpoint!~"/metrics|/health"'
COST = "twinself_cost_usd_total"
BUDGET = "max(twinself_daily_budget_usd)"
JUDGED = 'twinself_evaluations_total{verdict=~"pass|fail"}'


def _quantile(q: float, histogram: str, by: str = "le") -> str:
    return f"histogram_quantile({q}, sum by ({by}) (rate({histogram}[{RATE}])))"


def _traffic() -> list[PanelBuilder]:
    return [
        time_series(
            "Requests by status class",
            "Visitors' HTTP requests per second (scrapes and health checks left out), by status "
            "class.",
            Query(
                f"sum by (status_class) (rate({REQUESTS}{{{VISITORS}}}[{RATE}]))",
                "{{status_class}}",
            ),
            unit="reqps",
        ),
        time_series(
            "Error ratio by kind",
            "Share of visitors' requests answered 4xx or 5xx, and share of chat requests that "
            "failed at the model provider, by kind (quota, timeout, auth, unavailable, other).",
            Query(
                f"sum by (status_class) "
                f'(rate({REQUESTS}{{{VISITORS}, status_class=~"4xx|5xx"}}[{RATE}]))'
                f" / on() group_left() sum(rate({REQUESTS}{{{VISITORS}}}[{RATE}]))",
                "HTTP {{status_class}}",
            ),
            Query(
                f"sum by (kind) (rate(twinself_provider_errors_total[{RATE}]))"
                f" / on() group_left() sum(rate({REQUESTS}{{{CHAT}}}[{RATE}]))",
                "provider {{kind}}",
            ),
            unit="percentunit",
        ),
    ]


def _latency() -> list[PanelBuilder]:
    request_buckets = f"twinself_http_request_duration_seconds_bucket{{{CHAT}}}"
    first_token = "twinself_time_to_first_token_seconds_bucket"
    return [
        time_series(
            "Chat latency p50 / p95 / p99",
            "Time from a chat request to its response (streams: to the last byte), per route.",
            *(
                Query(_quantile(q, request_buckets, "le, endpoint"), f"p{label} {{{{endpoint}}}}")
                for q, label in ((0.5, "50"), (0.95, "95"), (0.99, "99"))
            ),
            unit="s",
        ),
        time_series(
            "Time to first token",
            "Streamed answers: time from the request to the first text chunk.",
            Query(_quantile(0.5, first_token), "p50"),
            Query(_quantile(0.95, first_token), "p95"),
            unit="s",
        ),
    ]


def _tokens_and_cost() -> list[PanelBuilder]:
    spent = f"sum by (purpose) (increase({COST}[$__range]))"
    return [
        time_series(
            "Tokens per second",
            "Input and output tokens per second, per GenAI operation (estimated where the "
            "provider reports none).",
            Query(
                "sum by (gen_ai_operation_name, gen_ai_token_type) "
                f"(rate(gen_ai_client_token_usage_sum[{RATE}]))",
                "{{gen_ai_operation_name}} {{gen_ai_token_type}}",
            ),
        ),
        time_series(
            "Cost per answer",
            "Spend per answered chat request (2xx on /chat and /chat/stream), by purpose: "
            "the answer's own model call (chat) and judging it (judge).",
            Query(
                f"sum by (purpose) (rate({COST}[{RATE}]))"
                f" / on() group_left() sum(rate({ANSWERS}[{RATE}]))",
                "{{purpose}}",
            ),
            unit="currencyUSD",
        ),
        single_stat(
            "Spend today",
            "Spend since midnight (dashboard time zone) by purpose, increase over the panel's "
            "relative time now/d; and the daily budget (TWINSELF_DAILY_BUDGET_USD, 0 = none).",
            Query(spent, "{{purpose}}"),
            Query(BUDGET, "daily budget"),
            unit="currencyUSD",
            time_from="now/d",
        ),
        ratio_gauge(
            "Today's spend of the daily budget",
            "Spend since midnight over TWINSELF_DAILY_BUDGET_USD. Empty while no budget is set.",
            Query(f"sum(increase({COST}[$__range])) / ({BUDGET} > 0)", "of budget"),
            time_from="now/d",
            steps=((None, "green"), (0.8, "orange"), (1.0, "red")),
            no_value="no budget set",
        ),
        single_stat(
            "Spend this month",
            "Spend since the first of the month by purpose (Prometheus must keep a month: "
            "--storage.tsdb.retention.time); the monthly budget is the daily one times the "
            "days in this month.",
            Query(spent, "{{purpose}}"),
            Query(f"{BUDGET} * days_in_month()", "monthly budget"),
            unit="currencyUSD",
            time_from="now/M",
            width=12,
        ),
    ]


def _quality() -> list[PanelBuilder]:
    scores = "twinself_evaluation_score"
    window = QUALITY_WINDOW
    passed = f'sum by (metric) (increase(twinself_evaluations_total{{verdict="pass"}}[{window}]))'
    judged = f"sum by (metric) (increase({JUDGED}[{window}]))"
    return [
        time_series(
            "Quality score per metric",
            f"Mean judge score per metric over the last {window}; the dashed line is the "
            "0.7 pass mark.",
            Query(
                f"sum by (metric) (rate({scores}_sum[{window}]))"
                f" / sum by (metric) (rate({scores}_count[{window}]))",
                "{{metric}}",
            ),
            pass_mark=True,
        ),
        time_series(
            "Pass rate per metric",
            f"Share of judged answers scoring at least 0.7 over the last {window} "
            "(verdict pass / (pass + fail); errors and dead letters are not judgements).",
            # `or ... * 0`: a metric whose answers all failed has no pass series, still 0 %.
            Query(f"({passed} or {judged} * 0) / {judged}", "{{metric}}"),
            unit="percentunit",
            pass_mark=True,
        ),
    ]


def _evaluation_pipeline() -> list[PanelBuilder]:
    window = QUALITY_WINDOW
    lag = "twinself_evaluation_lag_seconds_bucket"
    return [
        time_series(
            "Evaluation coverage",
            f"Answers whose scores reached MLflow over answered chat requests, last {window}.",
            Query(
                f"sum(increase(twinself_evaluation_lag_seconds_count[{window}]))"
                f" / sum(increase({ANSWERS}[{window}]))",
                "judged / answered",
            ),
            unit="percentunit",
            width=8,
        ),
        time_series(
            "Evaluation lag p50 / p95",
            f"From an answer to its scores in MLflow, over the last {window}.",
            Query(f"histogram_quantile(0.5, sum by (le) (rate({lag}[{window}])))", "p50"),
            Query(f"histogram_quantile(0.95, sum by (le) (rate({lag}[{window}])))", "p95"),
            unit="s",
            width=8,
        ),
        single_stat(
            "Evaluation dead letters",
            "Evaluation jobs given up on; `twinself evaluations retry` puts them back.",
            Query('max(twinself_outbox_failed{queue="evaluations"})', "dead letters"),
            steps=((None, "green"), (1, "red")),
            width=8,
        ),
    ]


def _pipeline_health() -> list[PanelBuilder]:
    return [
        time_series(
            "Outbox backlog per queue",
            "Rows waiting: records to ship to MLflow, evaluations to judge, suggestions.",
            Query("max by (queue) (twinself_outbox_backlog)", "{{queue}}"),
        ),
        time_series(
            "Oldest waiting row per queue",
            "Age of each queue's oldest waiting row (0 when none waits).",
            Query("max by (queue) (twinself_outbox_oldest_age_seconds)", "{{queue}}"),
            unit="s",
        ),
        time_series(
            "Provider errors by kind",
            "Model provider failures per second; kind quota means the provider's quota is used up.",
            Query(
                "sum by (kind, gen_ai_provider_name) "
                f"(rate(twinself_provider_errors_total[{RATE}]))",
                "{{kind}} ({{gen_ai_provider_name}})",
            ),
            unit="reqps",
        ),
        time_series(
            "MLflow shipping",
            "Runs shipped to MLflow per second, and ship errors by kind (unavailable: "
            "retried; rejected: MLflow refused the run).",
            Query(f"sum(rate(twinself_mlflow_runs_shipped_total[{RATE}]))", "shipped"),
            Query(
                f"sum by (kind) (rate(twinself_mlflow_ship_errors_total[{RATE}]))",
                "error {{kind}}",
            ),
            unit="ops",
        ),
    ]


def _serving() -> list[PanelBuilder]:
    return [
        single_stat(
            "MLflow reachable",
            "Whether the shipper's last pass reached MLflow.",
            Query("min(twinself_mlflow_reachable)", "MLflow"),
            steps=((None, "red"), (1, "green")),
            mappings={"0": ("unreachable", "red"), "1": ("reachable", "green")},
        ),
        single_stat(
            "Active data version",
            "The memory version answering now (it follows a switch), and what serves it.",
            Query("max by (data_version) (twinself_build_info)", "{{data_version}}"),
            show_name=True,
        ),
        single_stat(
            "Serving",
            "twinself version, model provider and model, and the evaluation judge.",
            Query(
                "max by (version, provider, model, judge) (twinself_build_info)",
                "twinself {{version}}, {{provider}} {{model}}, judge {{judge}}",
            ),
            show_name=True,
            width=12,
        ),
    ]


SECTIONS = (
    ("Traffic and errors", _traffic),
    ("Latency", _latency),
    ("Tokens and spend", _tokens_and_cost),
    ("Answer quality", _quality),
    ("Evaluation pipeline", _evaluation_pipeline),
    ("Outbox, provider and MLflow", _pipeline_health),
    ("What is serving", _serving),
)


def build_dashboard() -> dict[str, Any]:
    """The dashboard's JSON model, as Grafana imports it."""
    builder = (
        dashboard_builders.Dashboard("twinself")
        .uid(UID)
        .description("A twinself service: traffic, latency, spend, answer quality, pipelines.")
        .tags(["twinself", "llm", "prometheus"])
        .editable()
        .refresh("30s")
        .time("now-24h", "now")
        .timezone("browser")
        .tooltip(dashboard_models.DashboardCursorSync.CROSSHAIR)
        .with_variable(
            dashboard_builders.DatasourceVariable(DATASOURCE_VARIABLE)
            .label("Prometheus")
            .type("prometheus")
        )
    )
    next_id = 1
    for title, panels in SECTIONS:
        builder = builder.with_row(dashboard_builders.Row(title).id(next_id))
        next_id += 1
        for panel in panels():
            builder = builder.with_panel(panel.id(next_id))
            next_id += 1
    model: dict[str, Any] = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    return model


def panel_queries(rate_interval: str = "5m", time_range: str = "1d") -> list[tuple[str, str]]:
    """(panel title, PromQL) for every query on the dashboard, Grafana's variables replaced
    with durations Prometheus accepts, to run each against a real Prometheus."""
    queries = []
    for panel in build_dashboard()["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$__rate_interval", rate_interval)
            queries.append((panel["title"], expr.replace("$__range", time_range)))
    return queries

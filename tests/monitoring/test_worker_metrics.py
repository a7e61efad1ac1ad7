"""The evaluator's metrics on a port of its own."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import CollectorRegistry

from tests.support.network import free_port
from twinself.evaluation.results import EvaluationResult, MetricResult
from twinself.monitoring.worker_metrics import EvaluatorMetrics, serve_metrics


def test_the_evaluator_serves_its_metrics_on_its_own_port() -> None:
    metrics = EvaluatorMetrics(CollectorRegistry())
    metrics.failed(dead=True)
    port = free_port()
    assert serve_metrics(port, metrics.registry)
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert 'twinself_evaluations_total{metric="answer_relevancy",verdict="dead"} 1.0' in text
    assert not serve_metrics(port, metrics.registry)  # taken: a warning, not a crash


def judged(judge: str, cost_usd: float | None) -> EvaluationResult:
    scores = MetricResult(0.9, 0.7, "fine")
    return EvaluationResult(judge, scores, scores, seconds=1.0, cost_usd=cost_usd)


def test_the_judge_spend_is_counted_per_judge_model_and_the_local_judge_costs_nothing() -> None:
    metrics = EvaluatorMetrics(CollectorRegistry())
    metrics.scores_logged(judged("gemini-2.0-flash", 0.00025), lag_seconds=3.0)
    metrics.scores_logged(judged("gemini-2.0-flash", 0.00015), lag_seconds=3.0)
    metrics.scores_logged(judged("local-embedding", None), lag_seconds=3.0)

    def spent(model: str) -> float | None:
        labels = {"purpose": "judge", "gen_ai_request_model": model}
        return metrics.registry.get_sample_value("twinself_cost_usd_total", labels)

    assert spent("gemini-2.0-flash") == pytest.approx(0.0004)
    assert spent("local-embedding") is None  # no series for a judge that costs nothing


def test_the_judges_series_start_at_zero_so_rates_see_the_first_verdict() -> None:
    metrics = EvaluatorMetrics(CollectorRegistry(), judge="local-embedding")
    value = metrics.registry.get_sample_value
    for verdict in ("pass", "fail", "error", "dead"):
        labels = {"metric": "faithfulness", "verdict": verdict}
        assert value("twinself_evaluations_total", labels) == 0.0
    count = {"metric": "answer_relevancy", "judge": "local-embedding"}
    assert value("twinself_evaluation_score_count", count) == 0.0

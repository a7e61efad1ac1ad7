"""The evaluator's metrics on a port of its own."""

from __future__ import annotations

import httpx
from prometheus_client import CollectorRegistry

from tests.support.network import free_port
from twinself.monitoring.worker_metrics import EvaluatorMetrics, serve_metrics


def test_the_evaluator_serves_its_metrics_on_its_own_port() -> None:
    metrics = EvaluatorMetrics(CollectorRegistry())
    metrics.failed(dead=True)
    port = free_port()
    assert serve_metrics(port, metrics.registry)
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert 'twinself_evaluations_total{metric="answer_relevancy",verdict="dead"} 1.0' in text
    assert not serve_metrics(port, metrics.registry)  # taken: a warning, not a crash

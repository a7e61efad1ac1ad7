"""The evaluator process's metrics, and `serve_metrics`, which serves each worker's own
registry (evaluator, shipper) on a port of its own for Prometheus to scrape.

The API serves `/metrics`; the outbox's backlog comes from the API, read at scrape time, so no
count is shared between processes.
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from twinself.evaluation.results import METRIC_NAMES, EvaluationResult
from twinself.monitoring.metrics import cost_counter

logger = logging.getLogger(__name__)

# 0.1-wide, so the 0.7 pass mark is a bucket edge.
SCORE_BUCKETS = tuple(round(0.1 * step, 1) for step in range(1, 11))
# From an answer to its scores in MLflow: seconds offline, minutes behind a rate-limited judge.
VERDICTS = ("pass", "fail", "error", "dead")
LAG_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class EvaluatorMetrics:
    """What the evaluation worker tells: implements its `EvaluationObserver`."""

    def __init__(self, registry: CollectorRegistry, judge: str | None = None) -> None:
        """`judge`: the judge's name, to start its series at zero (see `expect_judge`)."""
        self.registry = registry
        self.scores = Histogram(
            "twinself_evaluation_score",
            "Quality scores logged to MLflow, per metric and judge (pass mark 0.7 is an edge).",
            ["metric", "judge"],
            buckets=SCORE_BUCKETS,
            registry=registry,
        )
        self.evaluations = Counter(
            "twinself_evaluations",
            "Evaluations per metric by verdict: pass, fail, error (retried later) or dead.",
            ["metric", "verdict"],
            registry=registry,
        )
        self.lag = Histogram(
            "twinself_evaluation_lag_seconds",
            "Time from an answer to its scores being logged to its MLflow run.",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.cost = cost_counter(registry)
        if judge is not None:
            self.expect_judge(judge)

    def expect_judge(self, judge: str) -> None:
        """Every series the judge will count, at zero from the start: rate() and increase()
        cannot see the first increment of a series that is born at 1."""
        for name in METRIC_NAMES:
            self.scores.labels(name, judge)
            for verdict in VERDICTS:
                self.evaluations.labels(name, verdict)

    def scores_logged(self, result: EvaluationResult, lag_seconds: float) -> None:
        for name, metric in result.metrics().items():
            self.scores.labels(name, result.judge).observe(metric.score)
            self.evaluations.labels(name, "pass" if metric.passed else "fail").inc()
        self.lag.observe(max(0.0, lag_seconds))
        if result.cost_usd:  # None for the local judge, which costs nothing
            self.cost.labels("judge", result.judge).inc(result.cost_usd)

    def failed(self, dead: bool) -> None:
        for name in METRIC_NAMES:
            self.evaluations.labels(name, "dead" if dead else "error").inc()


def serve_metrics(port: int, registry: CollectorRegistry, host: str = "127.0.0.1") -> bool:
    """Serve `registry` on host:port in a daemon thread; False (and a warning) when the port
    is taken: the worker's own job matters more than its metrics."""
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        logger.warning("Cannot serve metrics on %s:%d (%s); running without them", host, port, exc)
        return False
    logger.info("Metrics on http://%s:%d/metrics", host, port)
    return True

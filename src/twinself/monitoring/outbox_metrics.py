"""The outbox's queues as gauges, read at scrape time: the API process serves them, and there
is no count to keep in step with what the shipper and the evaluator do in their processes."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from twinself.pipeline.evaluation_queue import EvaluationQueue
from twinself.pipeline.feedback_queue import FeedbackQueue
from twinself.pipeline.request_queue import RequestQueue


class OutboxCollector(Collector):
    def __init__(
        self, requests: RequestQueue, feedback: FeedbackQueue, evaluations: EvaluationQueue
    ) -> None:
        self._requests = requests
        self._feedback = feedback
        self._evaluations = evaluations

    def collect(self) -> Iterator[Metric]:
        waiting = GaugeMetricFamily(
            "twinself_outbox_backlog",
            "Rows waiting per queue: records to ship to MLflow, evaluations to judge or log, "
            "suggestions to attach to their trace.",
            labels=["queue"],
        )
        oldest = GaugeMetricFamily(
            "twinself_outbox_oldest_age_seconds",
            "Age of the oldest waiting row per queue (0 when none waits).",
            labels=["queue"],
        )
        given_up = GaugeMetricFamily(
            "twinself_outbox_failed",
            "Rows given up on per queue: records MLflow kept rejecting, evaluation dead "
            "letters (`twinself evaluations retry`), suggestions that could not be attached.",
            labels=["queue"],
        )
        for queue, backlog in (
            ("records", self._requests.backlog()),
            ("feedback", self._feedback.backlog()),
        ):
            waiting.add_metric([queue], backlog.pending)
            oldest.add_metric([queue], backlog.oldest_pending_age_seconds or 0.0)
            given_up.add_metric([queue], backlog.failed)
        evaluations = self._evaluations.backlog()
        waiting.add_metric(["evaluations"], evaluations.waiting)
        oldest.add_metric(["evaluations"], evaluations.oldest_waiting_age_seconds or 0.0)
        given_up.add_metric(["evaluations"], evaluations.counts["dead"])
        yield from (waiting, oldest, given_up)

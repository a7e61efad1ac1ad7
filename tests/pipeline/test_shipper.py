"""The shipper drains a real outbox into a real MLflow: exactly one run and trace per request."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

import pytest
from mlflow import MlflowClient
from prometheus_client import CollectorRegistry

from tests.support.clock import FakeClock
from tests.support.factories import SettingsFactory, SinkFactory
from tests.support.mlflow_process import MlflowServer, runs_of
from tests.support.network import free_port
from tests.support.records import (
    METRIC_NAMES,
    PARAM_NAMES,
    RUN_TAG_NAMES,
    SPAN_NAMES,
    make_record,
    make_records,
)
from tests.support.waiting import wait_until
from twinself.monitoring.shipper_metrics import ShipperMetrics
from twinself.pipeline.feedback_queue import FeedbackQueue
from twinself.pipeline.mlflow_sink import MlflowRunSink
from twinself.pipeline.outbox import Outbox
from twinself.pipeline.rating_queue import RatingQueue
from twinself.pipeline.request_queue import RequestQueue
from twinself.pipeline.shipper import (
    IDLE_PROBE_SECONDS,
    PRUNE_EVERY_SECONDS,
    Shipper,
    ShipperObserver,
    build_shipper,
)
from twinself.pipeline.trace_ids import trace_id_for

ShipperFactory = Callable[..., Shipper]


@pytest.fixture
def make_shipper(outbox: Outbox, clock: FakeClock) -> ShipperFactory:
    def make(
        sink: MlflowRunSink, observer: ShipperObserver | None = None, **overrides: float
    ) -> Shipper:
        options: dict[str, float] = {"batch_size": 50, "poll_seconds": 0.05}
        options.update(overrides)
        return Shipper(outbox, sink, clock=clock, observer=observer, **options)  # type: ignore[arg-type]

    return make


def request_ids_of_runs(uri: str, experiment_name: str) -> Counter[str]:
    return Counter(run.data.tags["request_id"] for run in runs_of(uri, experiment_name))


def outage_passes(caplog: pytest.LogCaptureFixture) -> int:
    """Passes of `run_forever` that found MLflow unavailable (each logs its next try)."""
    return sum(r.getMessage().startswith("MLflow unavailable;") for r in list(caplog.records))


def test_every_record_becomes_exactly_one_complete_run_and_trace(
    tracking_uri: str,
    make_sink: SinkFactory,
    make_shipper: ShipperFactory,
    request_queue: RequestQueue,
    experiment_name: str,
) -> None:
    records = make_records(20)
    for record in records:
        request_queue.append(record)

    report = make_shipper(make_sink(tracking_uri), batch_size=8).drain()

    assert (report.shipped, report.outage) == (20, None)
    assert request_queue.backlog().pending == 0
    runs = runs_of(tracking_uri, experiment_name)
    assert Counter(r.data.tags["request_id"] for r in runs) == Counter(
        r.request_id for r in records
    )
    client = MlflowClient(tracking_uri)
    for run in runs:
        assert run.info.status == "FINISHED"
        assert set(PARAM_NAMES) <= set(run.data.params)
        assert set(METRIC_NAMES) <= set(run.data.metrics)
        assert set(RUN_TAG_NAMES) <= set(run.data.tags)
        request_id = run.data.tags["request_id"]
        state = request_queue.state(request_id)
        assert state is not None
        assert (state.status, state.run_id) == ("shipped", run.info.run_id)
        assert state.trace_id == run.data.tags["trace_id"] == trace_id_for(request_id)
        trace = client.get_trace(state.trace_id)
        assert trace.info.trace_metadata["mlflow.sourceRun"] == run.info.run_id
        assert trace.info.tags["request_id"] == request_id
        assert trace.info.token_usage is not None
        assert trace.info.token_usage["total_tokens"] == 150
        assert sorted(s.name for s in trace.data.spans) == sorted(["chat", *SPAN_NAMES])
    experiment_id = runs[0].info.experiment_id
    assert len(client.search_traces(locations=[experiment_id], max_results=100)) == 20


def test_a_record_whose_run_exists_is_not_shipped_twice(
    tracking_uri: str,
    make_sink: SinkFactory,
    make_shipper: ShipperFactory,
    request_queue: RequestQueue,
    experiment_name: str,
) -> None:
    """Crashes between MLflow accepting a write and the outbox remembering it."""
    sink = make_sink(tracking_uri)
    created_only, fully_written, fresh = make_records(3)
    for record in (created_only, fully_written, fresh):
        request_queue.append(record)

    class Crash(Exception):
        pass

    def crash(run_id: str) -> None:
        raise Crash

    with pytest.raises(Crash):  # the run exists, the outbox never heard of it
        sink.ship(created_only, None, crash)
    sink.ship(fully_written, None, lambda run_id: None)  # everything written, never marked

    assert make_shipper(sink).drain().shipped == 3
    assert make_shipper(sink).drain().shipped == 0

    assert request_ids_of_runs(tracking_uri, experiment_name) == Counter(
        r.request_id for r in (created_only, fully_written, fresh)
    )
    experiment = MlflowClient(tracking_uri).get_experiment_by_name(experiment_name)
    assert experiment is not None
    traces = MlflowClient(tracking_uri).search_traces(locations=[experiment.experiment_id])
    assert len(traces) == 3
    assert all(len(t.data.spans) == 1 + len(SPAN_NAMES) for t in traces)  # root + children


def test_a_rejected_record_backs_off_then_fails_without_blocking_others(
    sqlite_uri: str,
    make_sink: SinkFactory,
    make_shipper: ShipperFactory,
    request_queue: RequestQueue,
    clock: FakeClock,
) -> None:
    bad = replace(make_record(0), metrics={"no?such:metric!": 1.0})
    good = make_record(1)
    request_queue.append(bad)
    request_queue.append(good)
    shipper = make_shipper(make_sink(sqlite_uri), max_attempts_rejected=3)

    assert shipper.ship_pending_records() == 1  # the good one; the bad one does not block it
    rejected = request_queue.state(bad.request_id)
    assert rejected is not None and (rejected.status, rejected.attempts) == ("pending", 1)
    # Retry 1 waits 0.5-1 s, retry 2 waits 1-2 s (jittered): not before, and at the latest then.
    clock.advance(0.49)
    assert shipper.run_pass().claimed == 0
    clock.advance(0.51)
    assert shipper.run_pass().claimed == 1
    clock.advance(0.99)
    assert shipper.run_pass().claimed == 0
    clock.advance(1.01)
    assert shipper.run_pass().claimed == 1

    failed = request_queue.state(bad.request_id)
    assert failed is not None
    assert (failed.status, failed.attempts) == ("failed", 3)
    assert failed.last_error is not None and "rejected" in failed.last_error
    assert request_queue.backlog().failed == 1
    clock.advance(3600)
    assert shipper.run_pass().claimed == 0  # given up: never claimed again


def test_an_unreachable_mlflow_loses_nothing_and_counts_no_attempt(
    make_sink: SinkFactory, make_shipper: ShipperFactory, request_queue: RequestQueue
) -> None:
    for record in make_records(3):
        request_queue.append(record)
    shipper = make_shipper(make_sink(f"http://127.0.0.1:{free_port()}", http_max_retries=0))

    report = shipper.run_pass()

    assert report.shipped == 0 and report.outage is not None
    assert request_queue.backlog().pending == 3
    assert all(p.attempts == 0 for p in request_queue.due(10))


def test_the_metrics_count_runs_errors_by_kind_and_whether_mlflow_was_reached(
    sqlite_uri: str,
    make_sink: SinkFactory,
    make_shipper: ShipperFactory,
    request_queue: RequestQueue,
) -> None:
    metrics = ShipperMetrics(CollectorRegistry())
    sample = metrics.registry.get_sample_value
    unreachable = make_sink(f"http://127.0.0.1:{free_port()}", http_max_retries=0)
    down = make_shipper(unreachable, metrics)

    down.run_pass()  # nothing due: MLflow is not called, so nothing is known about it
    assert sample("twinself_mlflow_ship_errors_total", {"kind": "unavailable"}) == 0

    request_queue.append(replace(make_record(0), metrics={"no?such:metric!": 1.0}))
    for record in make_records(2):
        request_queue.append(record)
    assert down.run_pass().outage is not None
    assert sample("twinself_mlflow_ship_errors_total", {"kind": "unavailable"}) == 1
    assert sample("twinself_mlflow_reachable") == 0
    assert sample("twinself_mlflow_runs_shipped_total") == 0

    up = make_shipper(make_sink(sqlite_uri), metrics)
    assert up.run_pass().shipped == 2
    assert sample("twinself_mlflow_runs_shipped_total") == 2
    assert sample("twinself_mlflow_ship_errors_total", {"kind": "rejected"}) == 1
    assert sample("twinself_mlflow_ship_errors_total", {"kind": "unavailable"}) == 1
    assert sample("twinself_mlflow_reachable") == 1


def test_an_idle_shipper_asks_mlflow_now_and_then_whether_it_is_up(
    sqlite_uri: str, make_sink: SinkFactory, make_shipper: ShipperFactory, clock: FakeClock
) -> None:
    metrics = ShipperMetrics(CollectorRegistry())
    sample = metrics.registry.get_sample_value
    down = make_shipper(make_sink(f"http://127.0.0.1:{free_port()}", http_max_retries=0), metrics)
    metrics.mlflow_reached(True)  # as the worker's start-up check left it
    down.run_pass()
    assert sample("twinself_mlflow_reachable") == 1  # too soon to ask again
    clock.advance(IDLE_PROBE_SECONDS)
    down.run_pass()
    assert sample("twinself_mlflow_reachable") == 0
    # A probe is not a failed shipment.
    assert sample("twinself_mlflow_ship_errors_total", {"kind": "unavailable"}) == 0

    up = make_shipper(make_sink(sqlite_uri), metrics)
    clock.advance(IDLE_PROBE_SECONDS)
    up.run_pass()
    assert sample("twinself_mlflow_reachable") == 1


def test_the_shipper_prunes_finished_rows_at_start_then_hourly(
    sqlite_uri: str,
    make_sink: SinkFactory,
    make_shipper: ShipperFactory,
    request_queue: RequestQueue,
    outbox: Outbox,
    clock: FakeClock,
) -> None:
    def shipped_long_ago() -> str:
        record = make_record(created_at=clock() - 3 * 86_400)
        request_queue.append(record)
        request_queue.mark_shipped(record.request_id, "run", None)
        with outbox.transaction() as db:  # shipped two days ago
            db.execute("UPDATE requests SET shipped_at = ?", (clock() - 2 * 86_400,))
        return record.request_id

    def kept(request_id: str) -> bool:
        return request_queue.state(request_id) is not None

    first = shipped_long_ago()
    shipper = make_shipper(make_sink(sqlite_uri), retention_days=1.0)
    shipper.run_pass()
    assert not kept(first)
    second = shipped_long_ago()
    shipper.run_pass()
    assert kept(second)  # within the hour: not again
    clock.advance(PRUNE_EVERY_SECONDS)
    shipper.run_pass()
    assert not kept(second)


def test_feedback_attaches_to_the_trace_once_its_request_ships(
    sqlite_uri: str,
    make_sink: SinkFactory,
    make_shipper: ShipperFactory,
    request_queue: RequestQueue,
    feedback_queue: FeedbackQueue,
) -> None:
    record = make_record()
    early = feedback_queue.append(record.question, record.response, "Better answer", None)
    orphan = feedback_queue.append(record.question, record.response, "Python!", "unknown-id")
    shipper = make_shipper(make_sink(sqlite_uri))
    request_queue.append(record)
    attached = feedback_queue.append(
        record.question, record.response, "I write Python.", record.request_id
    )

    shipper.ship_pending_records()  # the requests first, then the feedback

    status = {f.feedback_id: f.status for f in feedback_queue.entries()}
    assert status == {early: "shipped", orphan: "failed", attached: "shipped"}
    trace = MlflowClient(sqlite_uri).get_trace(trace_id_for(record.request_id))
    assert [(a.name, a.value) for a in trace.info.assessments] == [
        ("suggested_response", "I write Python.")
    ]


def test_feedback_waits_while_its_request_is_pending(
    sqlite_uri: str,
    make_sink: SinkFactory,
    make_shipper: ShipperFactory,
    request_queue: RequestQueue,
    feedback_queue: FeedbackQueue,
    clock: FakeClock,
) -> None:
    record = make_record()
    request_queue.append(record)
    feedback_queue.append(record.question, record.response, "Better", record.request_id)
    # A pass of requests that ships nothing (the batch is empty: the record is not due yet).
    request_queue.mark_retry(record.request_id, "simulated", delay_seconds=3600)
    shipper = make_shipper(make_sink(sqlite_uri))

    shipper.ship_pending_records()

    [feedback] = feedback_queue.entries()
    assert (feedback.status, feedback.attempts) == ("pending", 1)
    clock.advance(3600)  # the record is due again, and so is its feedback
    assert shipper.ship_pending_records() == 1
    [feedback] = feedback_queue.entries()
    assert (feedback.status, feedback.attempts) == ("shipped", 1)


def test_a_rating_becomes_one_human_assessment_once_its_request_ships(
    sqlite_uri: str,
    make_sink: SinkFactory,
    make_shipper: ShipperFactory,
    request_queue: RequestQueue,
    outbox: Outbox,
    clock: FakeClock,
) -> None:
    ratings = RatingQueue(outbox, clock)
    record = make_record()
    request_queue.append(record)
    rating_id = ratings.append(record.request_id, "down")
    request_queue.mark_retry(record.request_id, "simulated", delay_seconds=3600)
    sink = make_sink(sqlite_uri)
    shipper = make_shipper(sink)

    shipper.ship_pending_records()  # the request is not shipped: the rating waits
    [waiting] = ratings.latest()
    assert (waiting.status, waiting.attempts) == ("pending", 1)
    clock.advance(3600)
    shipper.ship_pending_records()
    [shipped] = ratings.latest()
    assert shipped.status == "shipped"
    sink.log_rating(shipped, trace_id_for(record.request_id))  # a retry after a crash
    shipper.ship_pending_records()  # and nothing more to do

    trace = MlflowClient(sqlite_uri).get_trace(trace_id_for(record.request_id))
    [assessment] = trace.info.assessments
    assert (assessment.name, assessment.value) == ("user_rating", False)
    assert assessment.source.source_type == "HUMAN"
    assert assessment.metadata is not None
    assert assessment.metadata["rating_id"] == str(rating_id)


def test_build_shipper_uses_the_settings(make_settings: SettingsFactory) -> None:
    settings = make_settings()
    shipper = build_shipper(settings)
    try:
        assert shipper.outbox.path == settings.home / "outbox.sqlite3"
        assert isinstance(shipper.sink, MlflowRunSink)
        assert shipper.sink.tracking_uri.startswith("sqlite:///")
    finally:
        shipper.close()


@pytest.mark.slow
def test_an_mlflow_outage_mid_drain_loses_and_duplicates_nothing(
    mlflow_server: MlflowServer,
    make_sink: SinkFactory,
    make_shipper: ShipperFactory,
    request_queue: RequestQueue,
    experiment_name: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="twinself.pipeline.shipper")
    records = make_records(40)
    for record in records:
        request_queue.append(record)
    shipper = make_shipper(make_sink(mlflow_server.uri), batch_size=10, max_backoff_seconds=1.0)
    stop = threading.Event()
    worker = threading.Thread(target=shipper.run_forever, args=(stop,))
    worker.start()
    try:
        wait_until(lambda: request_queue.backlog().pending <= 30, 60, "the first runs")
        mlflow_server.stop()  # SIGKILL: requests in flight get no answer
        wait_until(lambda: outage_passes(caplog) >= 1, 60, "the shipper to see the outage")
        pending_during_outage = request_queue.backlog().pending
        wait_until(lambda: outage_passes(caplog) >= 2, 60, "another pass in the outage")
        assert request_queue.backlog().pending == pending_during_outage > 0
        mlflow_server.start()
        wait_until(lambda: request_queue.backlog().pending == 0, 120, "the drain to finish")
    finally:
        stop.set()
        worker.join(timeout=60)
    assert not worker.is_alive()
    assert request_queue.backlog().failed == 0
    assert request_ids_of_runs(mlflow_server.uri, experiment_name) == Counter(
        r.request_id for r in records
    )
    experiment = MlflowClient(mlflow_server.uri).get_experiment_by_name(experiment_name)
    assert experiment is not None
    traces = MlflowClient(mlflow_server.uri).search_traces(
        locations=[experiment.experiment_id], max_results=100, include_spans=False
    )
    assert sorted(t.info.trace_id for t in traces) == sorted(
        trace_id_for(r.request_id) for r in records
    )

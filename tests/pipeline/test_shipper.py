"""The shipper drains a real outbox into a real MLflow: exactly one run and trace per request."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

import pytest
from mlflow import MlflowClient

from tests.conftest import SettingsFactory
from tests.pipeline.conftest import MlflowServer, SinkFactory, free_port, runs_of
from tests.pipeline.records_factory import (
    METRIC_NAMES,
    PARAM_NAMES,
    RUN_TAG_NAMES,
    SPAN_NAMES,
    make_record,
    make_records,
)
from twinself.pipeline.mlflow_sink import MlflowRunSink
from twinself.pipeline.mlflow_trace import trace_id_for
from twinself.pipeline.outbox import Outbox
from twinself.pipeline.shipper import Shipper, build_shipper

ShipperFactory = Callable[..., Shipper]


@pytest.fixture
def make_shipper(outbox: Outbox) -> ShipperFactory:
    def make(sink: MlflowRunSink, **overrides: float) -> Shipper:
        options: dict[str, float] = {"batch_size": 50, "poll_seconds": 0.05}
        options.update(overrides)
        return Shipper(outbox, sink, **options)  # type: ignore[arg-type]

    return make


def request_ids_of_runs(uri: str, experiment_name: str) -> Counter[str]:
    return Counter(run.data.tags["request_id"] for run in runs_of(uri, experiment_name))


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


def test_every_record_becomes_exactly_one_complete_run_and_trace(
    tracking_uri: str,
    make_sink: SinkFactory,
    make_shipper: ShipperFactory,
    outbox: Outbox,
    experiment_name: str,
) -> None:
    records = make_records(20)
    for record in records:
        outbox.append_request(record)

    report = make_shipper(make_sink(tracking_uri), batch_size=8).drain()

    assert (report.shipped, report.outage) == (20, None)
    assert outbox.backlog().pending == 0
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
        state = outbox.request_state(request_id)
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
    outbox: Outbox,
    experiment_name: str,
) -> None:
    """Crashes between MLflow accepting a write and the outbox remembering it."""
    sink = make_sink(tracking_uri)
    created_only, fully_written, fresh = make_records(3)
    for record in (created_only, fully_written, fresh):
        outbox.append_request(record)

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
    assert all(len(t.data.spans) == 6 for t in traces)


def test_a_rejected_record_is_retried_then_failed_without_blocking_others(
    sqlite_uri: str, make_sink: SinkFactory, make_shipper: ShipperFactory, outbox: Outbox
) -> None:
    bad = replace(make_record(0), metrics={"no?such:metric!": 1.0})
    good = make_record(1)
    outbox.append_request(bad)
    outbox.append_request(good)
    shipper = make_shipper(make_sink(sqlite_uri), max_backoff_seconds=0.0, max_attempts_rejected=3)

    shipped = sum(shipper.ship_pending_records() for _ in range(4))

    assert shipped == 1
    failed = outbox.request_state(bad.request_id)
    assert failed is not None
    assert (failed.status, failed.attempts) == ("failed", 3)
    assert failed.last_error is not None and "rejected" in failed.last_error
    assert outbox.backlog().failed == 1


def test_an_unreachable_mlflow_loses_nothing_and_counts_no_attempt(
    make_sink: SinkFactory, make_shipper: ShipperFactory, outbox: Outbox
) -> None:
    for record in make_records(3):
        outbox.append_request(record)
    shipper = make_shipper(make_sink(f"http://127.0.0.1:{free_port()}", http_max_retries=0))

    report = shipper.run_pass()

    assert report.shipped == 0 and report.outage is not None
    assert outbox.backlog().pending == 3
    assert all(p.attempts == 0 for p in outbox.due_requests(10))


def test_feedback_attaches_to_the_trace_once_its_request_ships(
    sqlite_uri: str, make_sink: SinkFactory, make_shipper: ShipperFactory, outbox: Outbox
) -> None:
    record = make_record()
    early = outbox.append_feedback(record.question, record.response, "Better answer", None)
    orphan = outbox.append_feedback(record.question, record.response, "Python!", "unknown-id")
    shipper = make_shipper(make_sink(sqlite_uri), max_backoff_seconds=0.0)
    outbox.append_request(record)
    attached = outbox.append_feedback(
        record.question, record.response, "I write Python.", record.request_id
    )

    shipper.ship_pending_records()
    shipper.ship_pending_records()

    status = {f.feedback_id: f.status for f in outbox.feedback()}
    assert status == {early: "shipped", orphan: "failed", attached: "shipped"}
    trace = MlflowClient(sqlite_uri).get_trace(trace_id_for(record.request_id))
    assert [(a.name, a.value) for a in trace.info.assessments] == [
        ("suggested_response", "I write Python.")
    ]


def test_feedback_waits_while_its_request_is_pending(
    sqlite_uri: str, make_sink: SinkFactory, make_shipper: ShipperFactory, outbox: Outbox
) -> None:
    record = make_record()
    outbox.append_request(record)
    outbox.append_feedback(record.question, record.response, "Better", record.request_id)
    # A pass of requests that ships nothing (the batch is empty: the record is not due yet).
    outbox.mark_retry(record.request_id, "simulated", delay_seconds=3600)

    make_shipper(make_sink(sqlite_uri)).ship_pending_records()

    [feedback] = outbox.feedback()
    assert (feedback.status, feedback.attempts) == ("pending", 1)


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
    outbox: Outbox,
    experiment_name: str,
) -> None:
    records = make_records(40)
    for record in records:
        outbox.append_request(record)
    shipper = make_shipper(make_sink(mlflow_server.uri), batch_size=10, max_backoff_seconds=1.0)
    stop = threading.Event()
    worker = threading.Thread(target=shipper.run_forever, args=(stop,))
    worker.start()
    try:
        wait_until(lambda: outbox.backlog().pending <= 30, 60, "the first runs")
        mlflow_server.stop()  # SIGKILL: requests in flight get no answer
        pending_during_outage = outbox.backlog().pending
        time.sleep(3)
        assert outbox.backlog().pending == pending_during_outage > 0
        mlflow_server.start()
        wait_until(lambda: outbox.backlog().pending == 0, 120, "the drain to finish")
    finally:
        stop.set()
        worker.join(timeout=60)
    assert not worker.is_alive()
    assert outbox.backlog().failed == 0
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

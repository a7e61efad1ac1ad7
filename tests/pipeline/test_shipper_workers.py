"""Several shipper workers on one outbox: disjoint leased batches, leases that run out, and
every record shipped exactly once to an MLflow server on PostgreSQL with two workers."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.support.clock import FakeClock
from tests.support.factories import SinkFactory
from tests.support.mlflow_process import MlflowServer, runs_of
from tests.support.postgres_process import postgres_server
from tests.support.records import SPAN_NAMES, make_records
from twinself.pipeline.outbox import Outbox
from twinself.pipeline.request_queue import PendingRequest, RequestQueue
from twinself.pipeline.shipper import Shipper
from twinself.pipeline.trace_ids import trace_id_for


def ids(pending: list[PendingRequest]) -> set[str]:
    return {p.record.request_id for p in pending}


def test_two_workers_claim_disjoint_batches_until_the_lease_runs_out(
    request_queue: RequestQueue, clock: FakeClock
) -> None:
    records = make_records(5)
    for record in records:
        request_queue.append(record)

    first = request_queue.claim(3, "a", lease_seconds=60)
    second = request_queue.claim(3, "b", lease_seconds=60)

    assert [p.record.request_id for p in first] == [r.request_id for r in records[:3]]
    assert ids(second) == {r.request_id for r in records[3:]}
    assert request_queue.claim(3, "c", lease_seconds=60) == []  # all leased
    assert request_queue.backlog().pending == 5  # leased rows are still pending

    clock.advance(59)
    assert request_queue.renew(records[0].request_id, "a", lease_seconds=60)
    clock.advance(2)  # a's other rows and all of b's ran out; the renewed one did not
    taken = request_queue.claim(10, "c", lease_seconds=60)
    assert ids(taken) == {r.request_id for r in records[1:]}
    assert not request_queue.renew(records[1].request_id, "a", lease_seconds=60)  # lost to c
    assert request_queue.renew(records[0].request_id, "a", lease_seconds=60)


def test_marked_and_released_rows_hold_no_lease(
    request_queue: RequestQueue, clock: FakeClock
) -> None:
    shipped, retried, released = make_records(3)
    for record in (shipped, retried, released):
        request_queue.append(record)
    request_queue.claim(3, "a", lease_seconds=60)

    request_queue.mark_shipped(shipped.request_id, "run", "trace")
    request_queue.mark_retry(retried.request_id, "refused", delay_seconds=0)
    request_queue.release([released.request_id], "a")

    assert ids(request_queue.claim(3, "b", lease_seconds=60)) == {
        retried.request_id,
        released.request_id,
    }
    assert not request_queue.renew(shipped.request_id, "a", lease_seconds=60)
    assert request_queue.release_all() == 2  # b's, as a new shipper process would find them
    assert len(request_queue.claim(3, "c", lease_seconds=60)) == 2


@pytest.fixture(scope="module")
def postgres_mlflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """One PostgreSQL and one `mlflow server --workers 2` on it for the module (~15 s)."""
    root = tmp_path_factory.mktemp("postgres_mlflow")
    with postgres_server() as postgres:
        server = MlflowServer(root / "mlflow", postgres.database(), workers=2)
        (root / "mlflow").mkdir()
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.mark.slow
def test_two_shippers_with_two_threads_each_ship_every_record_once_to_postgres(
    postgres_mlflow: MlflowServer,
    make_sink: SinkFactory,
    tmp_path: Path,
    experiment_name: str,
) -> None:
    """Four lease owners (two processes' worth, two threads each) drain one outbox at once:
    one run and one complete trace per record, linked to each other."""
    outbox_path = tmp_path / "outbox.sqlite3"
    queue = RequestQueue(Outbox(outbox_path))
    records = make_records(60)
    for record in records:
        queue.append(record)
    shippers = [
        Shipper(
            Outbox(outbox_path),
            make_sink(postgres_mlflow.uri),
            batch_size=7,
            poll_seconds=0.05,
            workers=2,
        )
        for _ in range(2)
    ]
    reports = []

    def drain(shipper: Shipper) -> None:
        reports.append(shipper.drain(threading.Event()))

    threads = [threading.Thread(target=drain, args=(s,)) for s in shippers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)

    assert not any(t.is_alive() for t in threads)
    assert sum(r.shipped for r in reports) == 60
    assert all(r.outage is None for r in reports)
    assert queue.backlog().pending == 0
    runs = runs_of(postgres_mlflow.uri, experiment_name)
    assert Counter(r.data.tags["request_id"] for r in runs) == Counter(
        r.request_id for r in records
    )
    assert {r.info.status for r in runs} == {"FINISHED"}
    client = MlflowClient(postgres_mlflow.uri)
    traces = client.search_traces(locations=[runs[0].info.experiment_id], max_results=100)
    assert sorted(t.info.trace_id for t in traces) == sorted(
        trace_id_for(r.request_id) for r in records
    )
    run_of = {r.data.tags["request_id"]: r.info.run_id for r in runs}
    for trace in traces:
        request_id = trace.info.tags["request_id"]
        assert trace.info.trace_metadata["mlflow.sourceRun"] == run_of[request_id]
        assert len(trace.data.spans) == 1 + len(SPAN_NAMES)

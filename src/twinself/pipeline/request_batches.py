"""One shipper worker's turn at the request queue: claim a batch under a lease, ship it with as
few MLflow calls as the API allows, mark each record.

A batch costs one run search, then per record create_run (only if it has no run yet),
log_batch, start_trace and set_terminated, plus one call for the spans of the whole batch
(`RunSink.log_traces`). Every record's run is ended only after its spans are stored, so a
finished run always has its trace.

Exactly once: claimed rows are leased to this worker (`RequestQueue.claim`); the lease is
renewed right before a run is created (the one write MLflow cannot merge) and the record is
skipped if it was lost. Everything else is an upsert by id. Rows left over (an outage, a stop)
are released at the end of the turn, so no worker waits for their lease to run out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from twinself.pipeline.request_queue import PendingRequest, RequestQueue
from twinself.pipeline.run_sink import OpenedRun, RunSink, SinkRejected, SinkUnavailable

logger = logging.getLogger(__name__)

# How long a claimed row stays invisible to other workers without a renewal. Longer than the
# slowest single MLflow call can take (30 s timeout, 3 tries, backoff), short enough that the
# rows of a worker that died are taken over within minutes.
LEASE_SECONDS = 300.0
# Worker threads of one shipper, each with its own batch in flight. Two keep both cores busy
# against an MLflow server with two workers on PostgreSQL (benchmarks/tracking_throughput.py);
# more only queue at the server. `twinself worker --ship-workers N` overrides it.
SHIPPER_WORKERS = 2


@dataclass(frozen=True)
class BatchReport:
    claimed: int
    shipped: int
    outage: SinkUnavailable | None = None


class RequestBatches:
    """Ships one claimed batch per call of `ship_batch`; safe to call from several threads
    with different owners (each thread uses its own outbox connection)."""

    def __init__(
        self,
        requests: RequestQueue,
        sink: RunSink,
        batch_size: int,
        stop: threading.Event,
        on_rejected: Callable[[PendingRequest, SinkRejected], None],
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self._requests = requests
        self._sink = sink
        self._batch_size = batch_size
        self.stop = stop
        self._on_rejected = on_rejected
        self._lease_seconds = lease_seconds

    def ship_batch(self, owner: str) -> BatchReport:
        due = self._requests.claim(self._batch_size, owner, self._lease_seconds)
        if not due:
            return BatchReport(0, 0)
        try:
            return self._ship(due, owner)
        finally:  # marked rows hold no lease any more; this frees the rest for anyone
            self._requests.release([p.record.request_id for p in due], owner)

    def _ship(self, due: list[PendingRequest], owner: str) -> BatchReport:
        existing: dict[str, str] | None
        try:
            existing = self._sink.find_runs([p.record for p in due if p.run_id is None])
        except SinkUnavailable as exc:
            return BatchReport(len(due), 0, exc)
        except SinkRejected as exc:
            logger.warning("Batch lookup of runs failed (%s); looking them up one by one", exc)
            existing = None
        opened: list[tuple[PendingRequest, OpenedRun]] = []
        outage: SinkUnavailable | None = None
        for pending in due:
            if self.stop.is_set():
                break
            record = pending.record
            known = pending.run_id or (existing or {}).get(record.request_id)
            if known is None and not self._requests.renew(
                record.request_id, owner, self._lease_seconds
            ):
                logger.warning(
                    "Lost the lease on request %s; another worker has it", record.request_id
                )
                continue
            try:
                run = self._sink.open_run(
                    record,
                    known,
                    partial(self._requests.note_run_created, record.request_id),
                    look_up_run=existing is None,
                )
            except SinkUnavailable as exc:
                outage = exc  # not this row's fault: stop hammering a down server
                break
            except SinkRejected as exc:
                self._on_rejected(pending, exc)
                continue
            opened.append((pending, run))
        try:
            opened = self._log_traces(opened)
        except SinkUnavailable as exc:
            return BatchReport(len(due), 0, exc)
        shipped = 0
        for pending, run in opened:
            try:
                result = self._sink.close_run(run)
            except SinkUnavailable as exc:
                return BatchReport(len(due), shipped, exc)
            except SinkRejected as exc:
                self._on_rejected(pending, exc)
                continue
            self._requests.mark_shipped(run.record.request_id, result.run_id, result.trace_id)
            shipped += 1
        return BatchReport(len(due), shipped, outage)

    def _log_traces(
        self, opened: list[tuple[PendingRequest, OpenedRun]]
    ) -> list[tuple[PendingRequest, OpenedRun]]:
        """All spans in one call; if MLflow refuses the batch, record by record, so one bad
        record is retried alone. Returns the records whose spans are stored."""
        if not opened:
            return []
        try:
            self._sink.log_traces([run for _, run in opened])
            return opened
        except SinkRejected as exc:
            if len(opened) == 1:
                self._on_rejected(opened[0][0], exc)
                return []
            logger.warning("The batch's spans were rejected (%s); logging them one by one", exc)
        stored = []
        for pending, run in opened:
            try:
                self._sink.log_traces([run])
            except SinkRejected as exc:
                self._on_rejected(pending, exc)
                continue
            stored.append((pending, run))
        return stored

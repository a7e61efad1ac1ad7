"""Drain the outbox into MLflow: claim due rows, ship each, mark it only after MLflow accepted it.

Failures never lose a row. When MLflow is unreachable (SinkUnavailable) the pass stops, the row
is left as it is and the loop waits with exponential backoff; rows are retried for as long as it
takes. When MLflow rejects a row (SinkRejected) that row alone is retried with backoff and
marked failed after `max_attempts_rejected` attempts, with the error kept in the outbox.

One shipper process per outbox (the worker command holds a lock); inside it `workers` threads
each claim their own batch under a lease and ship it (`request_batches`), so MLflow's calls
overlap. Feedback and ratings are shipped by the calling thread after the requests.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from types import FrameType
from typing import Literal, Protocol

from twinself.backoff import backoff_delay
from twinself.config.settings import Settings
from twinself.pipeline.feedback_queue import FeedbackQueue
from twinself.pipeline.mlflow_sink import build_run_sink
from twinself.pipeline.outbox import Outbox, build_outbox
from twinself.pipeline.rating_queue import RatingQueue
from twinself.pipeline.request_batches import SHIPPER_WORKERS, BatchReport, RequestBatches
from twinself.pipeline.request_queue import PendingRequest, RequestQueue
from twinself.pipeline.retention import prune
from twinself.pipeline.run_sink import RunSink, SinkRejected, SinkUnavailable

logger = logging.getLogger(__name__)

# An idle shipper calls MLflow on no pass; it asks whether MLflow is up this often instead, so
# twinself_mlflow_reachable (and its alert) does not wait for the next visitor to go stale.
IDLE_PROBE_SECONDS = 30.0
# How often the shipper deletes finished rows older than the retention (pipeline.retention).
PRUNE_EVERY_SECONDS = 3600.0


@dataclass(frozen=True)
class PassReport:
    claimed: int
    shipped: int
    outage: SinkUnavailable | None = None


ShipErrorKind = Literal["unavailable", "rejected"]


@dataclass(frozen=True)
class _Attachment:
    """A suggestion or a rating: logged on its request's trace once the request has shipped."""

    name: str
    request_id: str | None
    attempts: int
    mark: Callable[..., None]  # the queue's mark(status, error, delay) for this row
    log: Callable[[str], None]  # the sink's call, given the trace id


class ShipperObserver(Protocol):
    """Told what each pass did (the shipper's Prometheus metrics)."""

    def runs_shipped(self, count: int) -> None: ...

    def ship_failed(self, kind: ShipErrorKind) -> None:
        """unavailable: a pass cut short by an outage; rejected: MLflow refused one row."""
        ...

    def mlflow_reached(self, reachable: bool) -> None:
        """After a pass that called MLflow (an idle pass calls nothing and tells nothing)."""
        ...


class Shipper:
    """Drains the request, feedback and rating queues of one outbox. `clock` dates every attempt."""

    def __init__(
        self,
        outbox: Outbox,
        sink: RunSink,
        batch_size: int,
        poll_seconds: float,
        max_backoff_seconds: float = 60.0,
        max_attempts_rejected: int = 5,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        observer: ShipperObserver | None = None,
        retention_days: float = 0.0,
        workers: int = 1,
    ) -> None:
        self.outbox = outbox
        self.requests = RequestQueue(outbox, clock)
        self.feedback = FeedbackQueue(outbox, clock)
        self.ratings = RatingQueue(outbox, clock)
        self.sink = sink
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._max_backoff = max_backoff_seconds
        self._max_attempts_rejected = max_attempts_rejected
        self._rng = rng or random.Random()
        self._observer = observer
        self._clock = clock
        self._last_contact = clock()  # the worker checks the connection as it starts
        self._retention_days = retention_days
        self._next_prune_at = clock()  # at start, then every PRUNE_EVERY_SECONDS
        self._stop = threading.Event()
        self._outage_passes = 0  # consecutive passes cut short by SinkUnavailable
        self._batches = RequestBatches(
            self.requests, sink, batch_size, self._stop, self._retry_rejected
        )
        # One lease owner per worker thread, unique across processes and restarts.
        me = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._owners = [f"{me}-{n}" for n in range(max(1, workers))]

    # --- one pass ---------------------------------------------------------------------

    def ship_pending_records(self) -> int:
        """Ship what is due now (one batch of requests, then due feedback and ratings); return
        runs shipped."""
        return self.run_pass().shipped

    def run_pass(self) -> PassReport:
        report = self._ship_due_requests()
        outage, feedback_called = report.outage, False
        if outage is None:
            outage, feedback_called = self._ship_due_feedback()
        called_mlflow = report.claimed > 0 or feedback_called or outage is not None
        self._tell(report, outage, called_mlflow)
        if called_mlflow:
            self._last_contact = self._clock()
        elif self._clock() - self._last_contact >= IDLE_PROBE_SECONDS:
            self._probe()
        if self._retention_days > 0 and self._clock() >= self._next_prune_at:
            self._prune()
        if outage is not None:
            self._outage_passes += 1
            if self._outage_passes == 1:
                logger.warning("%s", outage)
        elif self._outage_passes:
            logger.info("MLflow is reachable again after %d failed pass(es)", self._outage_passes)
            self._outage_passes = 0
        if report.shipped:
            logger.info(
                "Shipped %d request(s) to MLflow; %d pending",
                report.shipped,
                self.requests.backlog().pending,
            )
        return PassReport(report.claimed, report.shipped, outage)

    def _tell(
        self, report: PassReport, outage: SinkUnavailable | None, called_mlflow: bool
    ) -> None:
        if self._observer is None:
            return
        if report.shipped:
            self._observer.runs_shipped(report.shipped)
        if outage is not None:
            self._observer.ship_failed("unavailable")
        if called_mlflow:
            self._observer.mlflow_reached(outage is None)

    def _prune(self) -> None:
        self._next_prune_at = self._clock() + PRUNE_EVERY_SECONDS
        pruned = prune(self.outbox, self._retention_days, self._clock())
        if pruned.requests or pruned.evaluations or pruned.feedback or pruned.ratings:
            logger.info(
                "Deleted %d record(s), %d evaluation(s), %d suggestion(s), %d rating(s) "
                "finished more than %g days ago; the outbox went from %d to %d bytes",
                pruned.requests,
                pruned.evaluations,
                pruned.feedback,
                pruned.ratings,
                self._retention_days,
                pruned.bytes_before,
                pruned.bytes_after,
            )

    def _probe(self) -> None:
        self._last_contact = self._clock()
        if self._observer is None:
            return
        try:
            self.sink.check_connection()
        except SinkUnavailable:
            self._observer.mlflow_reached(False)  # logged by the next pass that has work
            return
        self._observer.mlflow_reached(True)

    def drain(self, stop: threading.Event | None = None) -> PassReport:
        """Pass after pass until nothing is due; stops at the first outage. Totals returned."""
        if stop is not None:
            self._stop = self._batches.stop = stop
        claimed = shipped = 0
        while not self._stop.is_set():
            report = self.run_pass()
            claimed += report.claimed
            shipped += report.shipped
            if report.outage is not None or not self._full_pass(report):
                return PassReport(claimed, shipped, report.outage)
        return PassReport(claimed, shipped)

    def _ship_due_requests(self) -> PassReport:
        """Each worker thread claims and ships its own batch; the totals of all of them."""
        if len(self._owners) == 1:
            reports = [self._batches.ship_batch(self._owners[0])]
        else:
            reports = [BatchReport(0, 0)] * len(self._owners)
            errors: list[BaseException] = []

            def work(n: int) -> None:
                try:
                    reports[n] = self._batches.ship_batch(self._owners[n])
                except BaseException as exc:  # raised below, as a single worker's would be
                    errors.append(exc)

            threads = [
                threading.Thread(target=work, args=(n,), name=f"shipper-{n}")
                for n in range(1, len(self._owners))
            ]
            for thread in threads:
                thread.start()
            work(0)
            for thread in threads:
                thread.join()
            if errors:
                raise errors[0]
        outage = next((r.outage for r in reports if r.outage is not None), None)
        return PassReport(sum(r.claimed for r in reports), sum(r.shipped for r in reports), outage)

    def _full_pass(self, report: PassReport) -> bool:
        """Every worker got a whole batch: there may be more waiting."""
        return report.claimed >= self._batch_size * len(self._owners)

    def _retry_rejected(self, pending: PendingRequest, error: SinkRejected) -> None:
        attempts = pending.attempts + 1
        give_up = attempts >= self._max_attempts_rejected
        request_id = pending.record.request_id
        self.requests.mark_retry(request_id, str(error), self.backoff_seconds(attempts), give_up)
        if self._observer is not None:
            self._observer.ship_failed("rejected")
        if give_up:
            logger.error("Gave up on request %s after %d attempts: %s", request_id, attempts, error)
        else:
            logger.warning("Request %s rejected (attempt %d): %s", request_id, attempts, error)

    def _ship_due_feedback(self) -> tuple[SinkUnavailable | None, bool]:
        """Due suggestions, then due ratings: the outage that cut it short, if any, and
        whether MLflow was called."""
        called = False
        for item in self._due_attachments():
            if self._stop.is_set():
                break
            try:
                called = self._attach(item) or called
            except SinkUnavailable as exc:
                return exc, True
        return None, called

    def _due_attachments(self) -> Iterator[_Attachment]:
        for f in self.feedback.due(self._batch_size):
            mark = partial(self.feedback.mark, f.feedback_id)
            log = partial(self.sink.log_feedback, f)
            yield _Attachment(f"Feedback {f.feedback_id}", f.request_id, f.attempts, mark, log)
        for r in self.ratings.due(self._batch_size):
            mark = partial(self.ratings.mark, r.rating_id)
            log = partial(self.sink.log_rating, r)
            yield _Attachment(f"Rating {r.rating_id}", r.request_id, r.attempts, mark, log)

    def _attach(self, item: _Attachment) -> bool:
        """Log one suggestion or rating on its request's trace; True when that called MLflow."""
        mark = item.mark
        if item.request_id is None:
            mark("shipped")  # nothing to attach it to; the outbox row is its durable copy
            return False
        state = self.requests.state(item.request_id)
        if state is None:
            mark("failed", f"request {item.request_id} is not in the outbox")
        elif state.status == "failed":
            mark("failed", f"request {item.request_id} failed to ship: {state.last_error}")
        elif state.status != "shipped" or state.trace_id is None:
            waiting = f"waiting for request {item.request_id} to ship"
            mark("pending", waiting, self.backoff_seconds(item.attempts + 1))
        else:
            try:
                item.log(state.trace_id)
            except SinkRejected as exc:
                give_up = item.attempts + 1 >= self._max_attempts_rejected
                delay = self.backoff_seconds(item.attempts + 1)
                mark("failed" if give_up else "pending", str(exc), delay)
                logger.warning("%s rejected: %s", item.name, exc)
                if self._observer is not None:
                    self._observer.ship_failed("rejected")
                return True
            mark("shipped")
            return True
        return False

    def backoff_seconds(self, attempt: int) -> float:
        """1, 2, 4, ... seconds up to the cap, jittered (`twinself.backoff`)."""
        return backoff_delay(attempt, 1.0, self._max_backoff, self._rng.random())

    # --- the loop ---------------------------------------------------------------------

    def run_forever(self, stop: threading.Event) -> None:
        """Ship until `stop` is set; SIGTERM/SIGINT set it (main thread only).

        The record being shipped when a signal arrives is finished and marked first.
        """
        self._stop = self._batches.stop = stop
        with stop_on_signals(stop):
            logger.info(
                "Shipping the outbox %s to MLflow every %.1fs", self.outbox.path, self._poll_seconds
            )
            while not stop.is_set():
                report = self.run_pass()
                if report.outage is not None:
                    wait = self.backoff_seconds(self._outage_passes)
                    logger.info("MLflow unavailable; next try in %.1fs", wait)
                elif self._full_pass(report):
                    wait = 0.0  # a backlog: keep draining
                else:
                    wait = self._poll_seconds
                stop.wait(wait)
        logger.info("Shipper stopped")

    def close(self) -> None:
        self.outbox.close()


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set `stop` while inside; the previous handlers come back after."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be installed from the main thread
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        logger.info("%s received; finishing the current record", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def build_shipper(
    settings: Settings, observer: ShipperObserver | None = None, workers: int = SHIPPER_WORKERS
) -> Shipper:
    return Shipper(
        outbox=build_outbox(settings.home),
        sink=build_run_sink(settings),
        batch_size=settings.shipper_batch_size,
        poll_seconds=settings.shipper_poll_seconds,
        observer=observer,
        retention_days=settings.retention_days,
        # A SQLite store written from this process has one writer: threads would only queue.
        workers=1 if settings.resolved_tracking_uri.startswith("sqlite:") else workers,
    )

"""The request records in the outbox database: appended by the server, shipped by the shipper.

    pending --shipped to MLflow--> shipped
       \\--rejected (attempts left)--> pending, later
       \\--rejected (no attempts left)--> failed

The run id is remembered as soon as the run exists, so a retry after a crash reuses it.

Several shipper workers drain one outbox side by side: each claims a batch with a lease
(`claim`), and a claimed row is invisible to the others until it is marked or its lease runs
out, so a worker that died mid-batch only delays its rows. A worker renews a row's lease
(`renew`) right before creating its run, the one write MLflow cannot merge; a row whose lease
was lost is skipped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from twinself.pipeline.evaluation_queue import insert_job
from twinself.pipeline.outbox import Outbox, QueueBacklog, RowStatus, queue_backlog
from twinself.pipeline.records import EvaluationJob, RequestRecord
from twinself.text.unicode_text import storable


@dataclass(frozen=True)
class PendingRequest:
    record: RequestRecord
    attempts: int
    run_id: str | None


@dataclass(frozen=True)
class RequestState:
    request_id: str
    status: RowStatus
    attempts: int
    run_id: str | None
    trace_id: str | None
    last_error: str | None
    created_at: float
    shipped_at: float | None


class RequestQueue:
    def __init__(self, outbox: Outbox, clock: Callable[[], float] = time.time) -> None:
        self._outbox = outbox
        self._clock = clock

    # --- the request path -------------------------------------------------------------

    def append(self, record: RequestRecord, evaluation: EvaluationJob | None = None) -> None:
        """The record and its evaluation job commit together, or neither does."""
        # storable(): a lone surrogate anywhere in the record (a conversation turn in the
        # prompt span, ...) would make SQLite refuse it, and the request go untracked.
        payload = storable(json.dumps(record.to_dict(), ensure_ascii=False, default=str))
        with self._outbox.transaction() as db:
            db.execute(
                "INSERT INTO requests (request_id, created_at, record) VALUES (?, ?, ?)",
                (record.request_id, record.created_at, payload),
            )
            if evaluation is not None:
                insert_job(db, evaluation, record.created_at)

    # --- reading ----------------------------------------------------------------------

    def state(self, request_id: str) -> RequestState | None:
        row = (
            self._outbox.connection()
            .execute(
                "SELECT request_id, status, attempts, run_id, trace_id, last_error, created_at, "
                "shipped_at FROM requests WHERE request_id = ?",
                (request_id,),
            )
            .fetchone()
        )
        return RequestState(**dict(row)) if row else None

    def spent_since(self, since: float) -> float:
        """USD the requests recorded since `since` (epoch seconds) cost, shipped or not."""
        row = (
            self._outbox.connection()
            .execute(
                "SELECT COALESCE(SUM(json_extract(record, '$.metrics.total_cost_usd')), 0) "
                "FROM requests WHERE created_at >= ?",
                (since,),
            )
            .fetchone()
        )
        return float(row[0])

    def backlog(self) -> QueueBacklog:
        return queue_backlog(self._outbox.connection(), "requests", self._clock())

    # --- the shipper ------------------------------------------------------------------

    def due(self, limit: int) -> list[PendingRequest]:
        """Pending records whose next attempt is due, oldest first."""
        rows = (
            self._outbox.connection()
            .execute(
                "SELECT record, attempts, run_id FROM requests WHERE status = 'pending' "
                "AND next_attempt_at <= ? ORDER BY created_at LIMIT ?",
                (self._clock(), limit),
            )
            .fetchall()
        )
        return [
            PendingRequest(
                RequestRecord.from_dict(json.loads(r["record"])), r["attempts"], r["run_id"]
            )
            for r in rows
        ]

    def claim(self, limit: int, owner: str, lease_seconds: float) -> list[PendingRequest]:
        """Like `due`, but each row is leased to `owner` for `lease_seconds`: rows leased to a
        live worker are skipped. One transaction, so two workers never claim the same row."""
        now = self._clock()
        with self._outbox.transaction() as db:
            rows = db.execute(
                "UPDATE requests SET lease_owner = ?, lease_until = ? WHERE request_id IN ("
                "SELECT request_id FROM requests WHERE status = 'pending' "
                "AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?) "
                "ORDER BY created_at LIMIT ?) RETURNING created_at, record, attempts, run_id",
                (owner, now + lease_seconds, now, now, limit),
            ).fetchall()
        rows.sort(key=lambda r: r["created_at"])  # RETURNING gives no order
        return [
            PendingRequest(
                RequestRecord.from_dict(json.loads(r["record"])), r["attempts"], r["run_id"]
            )
            for r in rows
        ]

    def renew(self, request_id: str, owner: str, lease_seconds: float) -> bool:
        """Extend `owner`'s lease on a pending row; False if the lease was lost (it ran out and
        another worker claimed the row, or the row is no longer pending)."""
        with self._outbox.transaction() as db:
            changed = db.execute(
                "UPDATE requests SET lease_until = ? WHERE request_id = ? AND lease_owner = ? "
                "AND status = 'pending'",
                (self._clock() + lease_seconds, request_id, owner),
            ).rowcount
        return changed == 1

    def release(self, request_ids: list[str], owner: str) -> None:
        """Give claimed rows back untouched (a pass cut short), so any worker can take them."""
        with self._outbox.transaction() as db:
            db.executemany(
                "UPDATE requests SET lease_owner = NULL, lease_until = NULL "
                "WHERE request_id = ? AND lease_owner = ?",
                [(request_id, owner) for request_id in request_ids],
            )

    def release_all(self) -> int:
        """Clear every lease: for a shipper that holds the worker lock, whose predecessors are
        therefore gone; their rows need not wait for the leases to run out."""
        with self._outbox.transaction() as db:
            return db.execute(
                "UPDATE requests SET lease_owner = NULL, lease_until = NULL "
                "WHERE lease_owner IS NOT NULL"
            ).rowcount

    def note_run_created(self, request_id: str, run_id: str) -> None:
        """Remember the run as soon as it exists, so a retry reuses it."""
        with self._outbox.transaction() as db:
            db.execute("UPDATE requests SET run_id = ? WHERE request_id = ?", (run_id, request_id))

    def mark_shipped(self, request_id: str, run_id: str, trace_id: str | None) -> None:
        with self._outbox.transaction() as db:
            db.execute(
                "UPDATE requests SET status = 'shipped', run_id = ?, trace_id = ?, "
                "shipped_at = ?, last_error = NULL, lease_owner = NULL, lease_until = NULL "
                "WHERE request_id = ?",
                (run_id, trace_id, self._clock(), request_id),
            )

    def mark_retry(
        self, request_id: str, error: str, delay_seconds: float, give_up: bool = False
    ) -> None:
        with self._outbox.transaction() as db:
            db.execute(
                "UPDATE requests SET attempts = attempts + 1, last_error = ?, "
                "next_attempt_at = ?, status = ?, lease_owner = NULL, lease_until = NULL "
                "WHERE request_id = ?",
                (
                    error[:2000],
                    self._clock() + delay_seconds,
                    "failed" if give_up else "pending",
                    request_id,
                ),
            )

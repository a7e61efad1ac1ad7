"""The request records in the outbox database: appended by the server, shipped by the shipper.

    pending --shipped to MLflow--> shipped
       \\--rejected (attempts left)--> pending, later
       \\--rejected (no attempts left)--> failed

The run id is remembered as soon as the run exists, so a retry after a crash reuses it.
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

    def note_run_created(self, request_id: str, run_id: str) -> None:
        """Remember the run as soon as it exists, so a retry reuses it."""
        with self._outbox.transaction() as db:
            db.execute("UPDATE requests SET run_id = ? WHERE request_id = ?", (run_id, request_id))

    def mark_shipped(self, request_id: str, run_id: str, trace_id: str | None) -> None:
        with self._outbox.transaction() as db:
            db.execute(
                "UPDATE requests SET status = 'shipped', run_id = ?, trace_id = ?, "
                "shipped_at = ?, last_error = NULL WHERE request_id = ?",
                (run_id, trace_id, self._clock(), request_id),
            )

    def mark_retry(
        self, request_id: str, error: str, delay_seconds: float, give_up: bool = False
    ) -> None:
        with self._outbox.transaction() as db:
            db.execute(
                "UPDATE requests SET attempts = attempts + 1, last_error = ?, "
                "next_attempt_at = ?, status = ? WHERE request_id = ?",
                (
                    error[:2000],
                    self._clock() + delay_seconds,
                    "failed" if give_up else "pending",
                    request_id,
                ),
            )

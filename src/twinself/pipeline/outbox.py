"""The durable local outbox: the only thing the request path writes.

SQLite in WAL mode under TWINSELF_HOME. The server appends one row per request (and per
feedback post) in one short transaction and returns; the shipper process claims pending rows,
ships them to MLflow and marks them done only after MLflow accepted them. Rows survive a crash
or restart of either process. Each process opens its own `Outbox`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from twinself.errors import TwinselfError
from twinself.pipeline.records import EvaluationJob, RequestRecord

RowStatus = Literal["pending", "shipped", "failed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    request_id      TEXT PRIMARY KEY,
    created_at      REAL NOT NULL,
    record          TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error      TEXT,
    run_id          TEXT,
    trace_id        TEXT,
    shipped_at      REAL
);
CREATE INDEX IF NOT EXISTS requests_pending ON requests (status, next_attempt_at);
CREATE TABLE IF NOT EXISTS feedback (
    feedback_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at      REAL NOT NULL,
    request_id      TEXT,
    original_question  TEXT NOT NULL,
    original_response  TEXT NOT NULL,
    suggested_response TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error      TEXT,
    shipped_at      REAL
);
CREATE INDEX IF NOT EXISTS feedback_pending ON feedback (status, next_attempt_at);
-- One quality evaluation per request: pending -> running -> scored (judged, result kept)
-- -> done (logged to MLflow), or dead (kept failing; `twinself evaluations retry`).
CREATE TABLE IF NOT EXISTS evaluation_jobs (
    request_id      TEXT PRIMARY KEY,
    created_at      REAL NOT NULL,
    question        TEXT NOT NULL,
    answer          TEXT NOT NULL,
    context         TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error      TEXT,
    result          TEXT,
    finished_at     REAL
);
CREATE INDEX IF NOT EXISTS evaluation_jobs_due ON evaluation_jobs (status, next_attempt_at);
"""


class OutboxCorrupt(TwinselfError):
    """The outbox database cannot be read."""


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


@dataclass(frozen=True)
class Feedback:
    feedback_id: int
    created_at: float
    request_id: str | None
    original_question: str
    original_response: str
    suggested_response: str
    status: RowStatus
    attempts: int


@dataclass(frozen=True)
class Backlog:
    pending: int
    failed: int
    oldest_pending_age_seconds: float | None


class Outbox:
    """Thread-safe: one connection per thread, all sharing the WAL database."""

    def __init__(self, path: Path, busy_timeout_ms: int = 10_000) -> None:
        self.path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # executescript manages its own transaction; the schema is idempotent.
            self._connection().executescript(_SCHEMA)
            self._add_column("feedback", "merged_at", "REAL")
        except sqlite3.DatabaseError as exc:
            raise OutboxCorrupt(
                f"The outbox {path} is unreadable ({exc}). Move it aside to start a new one; "
                "records still in it were not shipped."
            ) from exc

    def _add_column(self, table: str, column: str, kind: str) -> None:
        """Columns added after a table's first release (an outbox from an older twinself)."""
        db = self._connection()
        if column not in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (autocommit; use `transaction()` to write)."""
        return self._connection()

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
            connection.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            connection.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL mode survives any process crash; only an OS crash can lose the
            # last commits. FULL would add an fsync to every request.
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.row_factory = sqlite3.Row
            self._local.connection = connection
        return connection

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, taken at once (BEGIN IMMEDIATE) so it never deadlocks."""
        with self._transaction() as db:
            yield db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    # --- the request path -------------------------------------------------------------

    def append_request(
        self, record: RequestRecord, evaluation: EvaluationJob | None = None
    ) -> None:
        """The record and its evaluation job commit together, or neither does."""
        payload = json.dumps(record.to_dict(), ensure_ascii=False, default=str)
        with self._transaction() as db:
            db.execute(
                "INSERT INTO requests (request_id, created_at, record) VALUES (?, ?, ?)",
                (record.request_id, record.created_at, payload),
            )
            if evaluation is not None:
                db.execute(
                    "INSERT INTO evaluation_jobs (request_id, created_at, question, answer, "
                    "context) VALUES (?, ?, ?, ?, ?)",
                    (
                        evaluation.request_id,
                        record.created_at,
                        evaluation.question,
                        evaluation.answer,
                        json.dumps(evaluation.context, ensure_ascii=False),
                    ),
                )

    def append_feedback(
        self,
        original_question: str,
        original_response: str,
        suggested_response: str,
        request_id: str | None,
    ) -> int:
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO feedback (created_at, request_id, original_question, "
                "original_response, suggested_response) VALUES (?, ?, ?, ?, ?)",
                (time.time(), request_id, original_question, original_response, suggested_response),
            )
            return int(cursor.lastrowid or 0)

    # --- reading ----------------------------------------------------------------------

    def request_state(self, request_id: str) -> RequestState | None:
        row = (
            self._connection()
            .execute(
                "SELECT request_id, status, attempts, run_id, trace_id, last_error, created_at, "
                "shipped_at FROM requests WHERE request_id = ?",
                (request_id,),
            )
            .fetchone()
        )
        return RequestState(**dict(row)) if row else None

    def backlog(self, now: float | None = None) -> Backlog:
        db = self._connection()
        pending, oldest = db.execute(
            "SELECT COUNT(*), MIN(created_at) FROM requests WHERE status = 'pending'"
        ).fetchone()
        failed = db.execute("SELECT COUNT(*) FROM requests WHERE status = 'failed'").fetchone()[0]
        age = None if oldest is None else max(0.0, (now or time.time()) - oldest)
        return Backlog(int(pending), int(failed), age)

    def feedback(self, limit: int = 1000, include_merged: bool = True) -> list[Feedback]:
        where = "" if include_merged else "WHERE merged_at IS NULL "
        rows = (
            self._connection()
            .execute(
                "SELECT feedback_id, created_at, request_id, original_question, original_response,"
                f" suggested_response, status, attempts FROM feedback {where}"
                "ORDER BY feedback_id LIMIT ?",
                (limit,),
            )
            .fetchall()
        )
        return [Feedback(**dict(r)) for r in rows]

    def mark_feedback_merged(self, feedback_ids: list[int]) -> None:
        """Archived: merged into episodic memory, no longer listed as waiting."""
        with self._transaction() as db:
            db.executemany(
                "UPDATE feedback SET merged_at = ? WHERE feedback_id = ?",
                [(time.time(), i) for i in feedback_ids],
            )

    # --- the shipper ------------------------------------------------------------------

    def due_requests(self, limit: int, now: float | None = None) -> list[PendingRequest]:
        rows = (
            self._connection()
            .execute(
                "SELECT record, attempts, run_id FROM requests WHERE status = 'pending' "
                "AND next_attempt_at <= ? ORDER BY created_at LIMIT ?",
                (now or time.time(), limit),
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
        with self._transaction() as db:
            db.execute("UPDATE requests SET run_id = ? WHERE request_id = ?", (run_id, request_id))

    def mark_shipped(self, request_id: str, run_id: str, trace_id: str | None) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE requests SET status = 'shipped', run_id = ?, trace_id = ?, "
                "shipped_at = ?, last_error = NULL WHERE request_id = ?",
                (run_id, trace_id, time.time(), request_id),
            )

    def mark_retry(
        self, request_id: str, error: str, delay_seconds: float, give_up: bool = False
    ) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE requests SET attempts = attempts + 1, last_error = ?, "
                "next_attempt_at = ?, status = ? WHERE request_id = ?",
                (
                    error[:2000],
                    time.time() + delay_seconds,
                    "failed" if give_up else "pending",
                    request_id,
                ),
            )

    def due_feedback(self, limit: int, now: float | None = None) -> list[Feedback]:
        rows = (
            self._connection()
            .execute(
                "SELECT feedback_id, created_at, request_id, original_question, original_response,"
                " suggested_response, status, attempts FROM feedback WHERE status = 'pending' "
                "AND next_attempt_at <= ? ORDER BY feedback_id LIMIT ?",
                (now or time.time(), limit),
            )
            .fetchall()
        )
        return [Feedback(**dict(r)) for r in rows]

    def mark_feedback(
        self,
        feedback_id: int,
        status: RowStatus,
        error: str | None = None,
        delay_seconds: float = 0.0,
    ) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE feedback SET status = ?, last_error = ?, next_attempt_at = ?, "
                "attempts = attempts + ?, shipped_at = ? WHERE feedback_id = ?",
                (
                    status,
                    error,
                    time.time() + delay_seconds,
                    0 if status == "shipped" else 1,
                    time.time() if status == "shipped" else None,
                    feedback_id,
                ),
            )


def build_outbox(home: Path) -> Outbox:
    return Outbox(home / "outbox.sqlite3")

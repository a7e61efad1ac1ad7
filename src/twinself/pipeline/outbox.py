"""The durable local outbox: the SQLite database the request path writes and the workers drain.

SQLite in WAL mode under TWINSELF_HOME. It holds four queues, each its own module over this
database: requests (`request_queue`), feedback posts (`feedback_queue`), visitors' thumbs up
or down (`rating_queue`) and quality evaluations (`evaluation_queue`). The server appends in
one short transaction and returns; the workers claim due rows and mark them only after MLflow
accepted them. Rows survive a crash or restart of any process. Each process opens its own
`Outbox`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from twinself.errors import TwinselfError

# Where a request or feedback row is on its way to MLflow.
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
-- A visitor's thumbs up or down on an answer, one row per click (the newest counts), shipped
-- as a HUMAN assessment on the request's trace. New tables need no migration: an older
-- outbox gains this one when it is opened.
CREATE TABLE IF NOT EXISTS ratings (
    rating_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at      REAL NOT NULL,
    request_id      TEXT NOT NULL,
    rating          TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error      TEXT,
    shipped_at      REAL
);
CREATE INDEX IF NOT EXISTS ratings_pending ON ratings (status, next_attempt_at);
"""

# Columns added after a table's first release, so an outbox from an older twinself opens.
_ADDED_COLUMNS = (
    ("feedback", "merged_at", "REAL"),
    # The owner's decision on a suggestion: NULL (waiting), 'accepted' or 'rejected'.
    ("feedback", "review", "TEXT"),
    ("feedback", "reviewed_at", "REAL"),
    # A dead job's `quality_evaluation` tag still to set on its run (NULL: nothing owed).
    ("evaluation_jobs", "run_tag", "TEXT"),
    # Which shipper worker holds a pending request, and until when (request_queue.claim).
    ("requests", "lease_owner", "TEXT"),
    ("requests", "lease_until", "REAL"),
)


@dataclass(frozen=True)
class QueueBacklog:
    pending: int
    failed: int
    oldest_pending_age_seconds: float | None


def queue_backlog(db: sqlite3.Connection, table: str, now: float) -> QueueBacklog:
    """Pending and failed rows of a shipped queue (`requests` or `feedback`), and the age of
    the oldest pending one."""
    pending, oldest = db.execute(
        f"SELECT COUNT(*), MIN(created_at) FROM {table} WHERE status = 'pending'"
    ).fetchone()
    failed = db.execute(f"SELECT COUNT(*) FROM {table} WHERE status = 'failed'").fetchone()[0]
    age = None if oldest is None else max(0.0, now - oldest)
    return QueueBacklog(int(pending), int(failed), age)


def mark_row(
    db: sqlite3.Connection,
    table: str,
    key: tuple[str, object],
    status: RowStatus,
    now: float,
    error: str | None = None,
    delay_seconds: float = 0.0,
) -> None:
    """Where a row of a shipped queue (`feedback`, `ratings`) is now, inside the caller's
    transaction: an attempt counts unless it shipped; `key` is (id column, id)."""
    column, value = key
    db.execute(
        f"UPDATE {table} SET status = ?, last_error = ?, next_attempt_at = ?, "
        f"attempts = attempts + ?, shipped_at = ? WHERE {column} = ?",
        (
            status,
            error,
            now + delay_seconds,
            0 if status == "shipped" else 1,
            now if status == "shipped" else None,
            value,
        ),
    )


class OutboxCorrupt(TwinselfError):
    """The outbox database cannot be read."""


class Outbox:
    """Thread-safe: one connection per thread, all sharing the WAL database."""

    def __init__(
        self, path: Path, busy_timeout_ms: int = 10_000, max_pages: int | None = None
    ) -> None:
        self.path = path
        self._busy_timeout_ms = busy_timeout_ms
        # SQLite's max_page_count: past it a write fails as on a full disk (SQLITE_FULL). The
        # tests fill a database this way; it can change while the outbox is open.
        self.max_pages = max_pages
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # executescript manages its own transaction; the schema is idempotent.
            self.connection().executescript(_SCHEMA)
            for table, column, kind in _ADDED_COLUMNS:
                self._add_column(table, column, kind)
        except sqlite3.DatabaseError as exc:
            raise OutboxCorrupt(
                f"The outbox {path} is unreadable ({exc}). Move it aside to start a new one; "
                "records still in it were not shipped."
            ) from exc

    def _add_column(self, table: str, column: str, kind: str) -> None:
        db = self.connection()
        if column not in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (autocommit; use `transaction()` to write)."""
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
        db = self.connection()
        if self.max_pages is not None:
            db.execute(f"PRAGMA max_page_count = {int(self.max_pages)}")
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            if db.in_transaction:  # SQLite has already rolled back after some errors (FULL)
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None


def build_outbox(home: Path) -> Outbox:
    return Outbox(home / "outbox.sqlite3")

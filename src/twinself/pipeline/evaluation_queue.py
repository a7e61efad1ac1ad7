"""The evaluation jobs in the outbox database: claimed, judged, logged, or dead-lettered.

A job is inserted in the same transaction as its request record (`RequestQueue.append` calls
`insert_job`). One evaluation worker per TWINSELF_HOME (it holds a lock) moves jobs along:

    pending --claim--> running --judged--> scored --logged to MLflow--> done
                          \\--failed (attempts left)--> pending, later
                          \\--failed (no attempts left)--> dead --retry--> pending

The judge's result is stored with the job before anything is logged, so a job whose run is not
shipped yet (or an MLflow outage) waits as `scored` and is never judged twice. A dead job may
owe its run a final `quality_evaluation` tag (`run_tag`) until the worker has set it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from twinself.pipeline.outbox import Outbox
from twinself.pipeline.records import EvaluationJob, EvaluationOutcome

JobStatus = Literal["pending", "running", "scored", "done", "dead"]
JOB_STATUSES: tuple[JobStatus, ...] = ("pending", "running", "scored", "done", "dead")


@dataclass(frozen=True)
class QueuedJob:
    job: EvaluationJob
    status: JobStatus
    attempts: int
    created_at: float
    result: dict[str, Any] | None
    last_error: str | None


@dataclass(frozen=True)
class OwedRunTag:
    """A dead job's final `quality_evaluation` tag, not yet set on its run."""

    request_id: str
    outcome: EvaluationOutcome
    attempts: int


@dataclass(frozen=True)
class EvaluationBacklog:
    counts: dict[JobStatus, int]
    oldest_waiting_age_seconds: float | None

    @property
    def waiting(self) -> int:
        return self.counts["pending"] + self.counts["running"] + self.counts["scored"]


_COLUMNS = "request_id, question, answer, context, status, attempts, created_at, result, last_error"


def _queued(row: Any) -> QueuedJob:
    return QueuedJob(
        job=EvaluationJob(
            row["request_id"], row["question"], row["answer"], json.loads(row["context"])
        ),
        status=row["status"],
        attempts=row["attempts"],
        created_at=row["created_at"],
        result=json.loads(row["result"]) if row["result"] else None,
        last_error=row["last_error"],
    )


def insert_job(db: sqlite3.Connection, job: EvaluationJob, created_at: float) -> None:
    """Queue a job inside the caller's transaction (the one that writes its request record)."""
    db.execute(
        "INSERT INTO evaluation_jobs (request_id, created_at, question, answer, context) "
        "VALUES (?, ?, ?, ?, ?)",
        (
            job.request_id,
            created_at,
            job.question,
            job.answer,
            json.dumps(job.context, ensure_ascii=False),
        ),
    )


class EvaluationQueue:
    def __init__(self, outbox: Outbox, clock: Callable[[], float] = time.time) -> None:
        self._outbox = outbox
        self._clock = clock

    # --- the worker -------------------------------------------------------------------

    def release_orphans(self) -> int:
        """Jobs left `running` by a worker that died. Only call while holding the worker lock:
        then no other process can be running them."""
        with self._outbox.transaction() as db:
            return db.execute(
                "UPDATE evaluation_jobs SET status = 'pending' WHERE status = 'running'"
            ).rowcount

    def claim(self, limit: int) -> list[QueuedJob]:
        """Due pending and scored jobs, oldest first; the pending ones become `running`."""
        with self._outbox.transaction() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM evaluation_jobs WHERE status IN ('pending', 'scored') "
                "AND next_attempt_at <= ? ORDER BY created_at LIMIT ?",
                (self._clock(), limit),
            ).fetchall()
            db.executemany(
                "UPDATE evaluation_jobs SET status = 'running' WHERE request_id = ? "
                "AND status = 'pending'",
                [(r["request_id"],) for r in rows if r["status"] == "pending"],
            )
        return [_queued(r) for r in rows]

    def mark_scored(self, request_id: str, result: dict[str, Any]) -> None:
        """Judged: the result is kept, and logging it is due at once."""
        with self._outbox.transaction() as db:
            db.execute(
                "UPDATE evaluation_jobs SET status = 'scored', result = ?, last_error = NULL, "
                "next_attempt_at = ? WHERE request_id = ?",
                (json.dumps(result), self._clock(), request_id),
            )

    def postpone(self, request_id: str, reason: str, delay_seconds: float) -> None:
        """Not the job's fault (its run is not shipped, MLflow is down): no attempt counted."""
        with self._outbox.transaction() as db:
            db.execute(
                "UPDATE evaluation_jobs SET last_error = ?, next_attempt_at = ? "
                "WHERE request_id = ?",
                (reason[:2000], self._clock() + delay_seconds, request_id),
            )

    def mark_failed(
        self, request_id: str, error: str, delay_seconds: float, *, rescore: bool
    ) -> None:
        """Count a failed attempt, to try again later. `rescore` sends a scored job back to
        the judge."""
        with self._outbox.transaction() as db:
            db.execute(
                "UPDATE evaluation_jobs SET attempts = attempts + 1, last_error = ?, "
                "next_attempt_at = ?, status = CASE WHEN ? THEN 'pending' ELSE status END "
                "WHERE request_id = ?",
                (error[:2000], self._clock() + delay_seconds, rescore, request_id),
            )

    def mark_dead(self, request_id: str, error: str, run_tag: EvaluationOutcome | None) -> None:
        """Count the last attempt and stop: a dead letter until `twinself evaluations retry`.
        `run_tag` is the outcome its run still has to be tagged with (None: no run to tag)."""
        with self._outbox.transaction() as db:
            db.execute(
                "UPDATE evaluation_jobs SET attempts = attempts + 1, last_error = ?, "
                "status = 'dead', run_tag = ?, next_attempt_at = ? WHERE request_id = ?",
                (error[:2000], run_tag, self._clock(), request_id),
            )

    def mark_done(self, request_id: str) -> None:
        with self._outbox.transaction() as db:
            db.execute(
                "UPDATE evaluation_jobs SET status = 'done', last_error = NULL, finished_at = ? "
                "WHERE request_id = ?",
                (self._clock(), request_id),
            )

    def owed_run_tags(self, limit: int) -> list[OwedRunTag]:
        """Dead jobs whose run is due to get its final tag, oldest first."""
        rows = (
            self._outbox.connection()
            .execute(
                "SELECT request_id, run_tag, attempts FROM evaluation_jobs WHERE status = 'dead' "
                "AND run_tag IS NOT NULL AND next_attempt_at <= ? ORDER BY created_at LIMIT ?",
                (self._clock(), limit),
            )
            .fetchall()
        )
        return [OwedRunTag(r["request_id"], r["run_tag"], r["attempts"]) for r in rows]

    def postpone_run_tag(self, request_id: str, delay_seconds: float) -> None:
        """The run cannot be tagged yet; the dead job's error stays as it is."""
        with self._outbox.transaction() as db:
            db.execute(
                "UPDATE evaluation_jobs SET next_attempt_at = ? WHERE request_id = ?",
                (self._clock() + delay_seconds, request_id),
            )

    def settle_run_tag(self, request_id: str) -> None:
        """The run is tagged, or there is none to tag: nothing is owed any more."""
        with self._outbox.transaction() as db:
            db.execute(
                "UPDATE evaluation_jobs SET run_tag = NULL WHERE request_id = ? "
                "AND status = 'dead'",
                (request_id,),
            )

    # --- people -----------------------------------------------------------------------

    def retry_dead(self, request_id: str | None = None) -> int:
        """Dead jobs back to the queue with fresh attempts: one, or all when None. An owed
        tag is dropped: the retried evaluation ends with a tag of its own."""
        query = (
            "UPDATE evaluation_jobs SET status = CASE WHEN result IS NULL THEN 'pending' "
            "ELSE 'scored' END, attempts = 0, next_attempt_at = 0, run_tag = NULL "
            "WHERE status = 'dead'"
        )
        with self._outbox.transaction() as db:
            if request_id is None:
                return db.execute(query).rowcount
            return db.execute(query + " AND request_id = ?", (request_id,)).rowcount

    def get(self, request_id: str) -> QueuedJob | None:
        row = (
            self._outbox.connection()
            .execute(f"SELECT {_COLUMNS} FROM evaluation_jobs WHERE request_id = ?", (request_id,))
            .fetchone()
        )
        return _queued(row) if row else None

    def jobs(self, status: JobStatus, limit: int = 100) -> list[QueuedJob]:
        rows = (
            self._outbox.connection()
            .execute(
                f"SELECT {_COLUMNS} FROM evaluation_jobs WHERE status = ? "
                "ORDER BY created_at DESC LIMIT ?",
                (status, limit),
            )
            .fetchall()
        )
        return [_queued(r) for r in rows]

    def backlog(self) -> EvaluationBacklog:
        db = self._outbox.connection()
        counts: dict[JobStatus, int] = dict.fromkeys(JOB_STATUSES, 0)
        for status, count in db.execute(
            "SELECT status, COUNT(*) FROM evaluation_jobs GROUP BY status"
        ):
            counts[status] = int(count)
        oldest = db.execute(
            "SELECT MIN(created_at) FROM evaluation_jobs "
            "WHERE status IN ('pending', 'running', 'scored')"
        ).fetchone()[0]
        age = None if oldest is None else max(0.0, self._clock() - oldest)
        return EvaluationBacklog(counts, age)

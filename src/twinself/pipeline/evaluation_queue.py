"""The evaluation jobs in the outbox database: claimed, judged, logged, or dead-lettered.

The server inserts a job in the same transaction as its request record (`Outbox.append_request`).
One evaluation worker per TWINSELF_HOME (it holds a lock) moves jobs along:

    pending --claim--> running --judged--> scored --logged to MLflow--> done
                          \\--failed (attempts left)--> pending, later
                          \\--failed (no attempts left)--> dead --retry--> pending

The judge's result is stored with the job before anything is logged, so a job whose run is not
shipped yet (or an MLflow outage) waits as `scored` and is never judged twice.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Literal

from twinself.pipeline.outbox import Outbox
from twinself.pipeline.records import EvaluationJob

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


class EvaluationQueue:
    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    # --- the worker -------------------------------------------------------------------

    def release_orphans(self) -> int:
        """Jobs left `running` by a worker that died. Only call while holding the worker lock:
        then no other process can be running them."""
        with self.outbox.transaction() as db:
            return db.execute(
                "UPDATE evaluation_jobs SET status = 'pending' WHERE status = 'running'"
            ).rowcount

    def claim(self, limit: int, now: float | None = None) -> list[QueuedJob]:
        """Due pending and scored jobs, oldest first; the pending ones become `running`."""
        with self.outbox.transaction() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM evaluation_jobs WHERE status IN ('pending', 'scored') "
                "AND next_attempt_at <= ? ORDER BY created_at LIMIT ?",
                (now or time.time(), limit),
            ).fetchall()
            db.executemany(
                "UPDATE evaluation_jobs SET status = 'running' WHERE request_id = ? "
                "AND status = 'pending'",
                [(r["request_id"],) for r in rows if r["status"] == "pending"],
            )
        return [_queued(r) for r in rows]

    def mark_scored(self, request_id: str, result: dict[str, Any], delay_seconds: float) -> None:
        with self.outbox.transaction() as db:
            db.execute(
                "UPDATE evaluation_jobs SET status = 'scored', result = ?, last_error = NULL, "
                "next_attempt_at = ? WHERE request_id = ?",
                (json.dumps(result), time.time() + delay_seconds, request_id),
            )

    def postpone(self, request_id: str, reason: str, delay_seconds: float) -> None:
        """Not the job's fault (its run is not shipped, MLflow is down): no attempt counted."""
        with self.outbox.transaction() as db:
            db.execute(
                "UPDATE evaluation_jobs SET last_error = ?, next_attempt_at = ? "
                "WHERE request_id = ?",
                (reason[:2000], time.time() + delay_seconds, request_id),
            )

    def mark_failed(
        self, request_id: str, error: str, delay_seconds: float, dead: bool, rescore: bool
    ) -> None:
        """Count a failed attempt. `rescore` sends a scored job back to the judge."""
        status = "dead" if dead else ("pending" if rescore else None)
        with self.outbox.transaction() as db:
            db.execute(
                "UPDATE evaluation_jobs SET attempts = attempts + 1, last_error = ?, "
                "next_attempt_at = ?, status = CASE WHEN ? IS NULL THEN status ELSE ? END "
                "WHERE request_id = ?",
                (error[:2000], time.time() + delay_seconds, status, status, request_id),
            )

    def mark_done(self, request_id: str) -> None:
        with self.outbox.transaction() as db:
            db.execute(
                "UPDATE evaluation_jobs SET status = 'done', last_error = NULL, finished_at = ? "
                "WHERE request_id = ?",
                (time.time(), request_id),
            )

    # --- people -----------------------------------------------------------------------

    def retry_dead(self, request_id: str | None = None) -> int:
        """Dead jobs back to the queue with fresh attempts: one, or all when None."""
        query = (
            "UPDATE evaluation_jobs SET status = CASE WHEN result IS NULL THEN 'pending' "
            "ELSE 'scored' END, attempts = 0, next_attempt_at = 0 WHERE status = 'dead'"
        )
        with self.outbox.transaction() as db:
            if request_id is None:
                return db.execute(query).rowcount
            return db.execute(query + " AND request_id = ?", (request_id,)).rowcount

    def get(self, request_id: str) -> QueuedJob | None:
        row = (
            self.outbox.connection()
            .execute(f"SELECT {_COLUMNS} FROM evaluation_jobs WHERE request_id = ?", (request_id,))
            .fetchone()
        )
        return _queued(row) if row else None

    def jobs(self, status: JobStatus, limit: int = 100) -> list[QueuedJob]:
        rows = (
            self.outbox.connection()
            .execute(
                f"SELECT {_COLUMNS} FROM evaluation_jobs WHERE status = ? "
                "ORDER BY created_at DESC LIMIT ?",
                (status, limit),
            )
            .fetchall()
        )
        return [_queued(r) for r in rows]

    def backlog(self, now: float | None = None) -> EvaluationBacklog:
        db = self.outbox.connection()
        counts: dict[JobStatus, int] = dict.fromkeys(JOB_STATUSES, 0)
        for status, count in db.execute(
            "SELECT status, COUNT(*) FROM evaluation_jobs GROUP BY status"
        ):
            counts[status] = int(count)
        oldest = db.execute(
            "SELECT MIN(created_at) FROM evaluation_jobs "
            "WHERE status IN ('pending', 'running', 'scored')"
        ).fetchone()[0]
        age = None if oldest is None else max(0.0, (now or time.time()) - oldest)
        return EvaluationBacklog(counts, age)

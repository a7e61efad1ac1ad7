"""People's suggested answers in the outbox database, attached to their request's trace by the
shipper and merged into episodic memory by `twinself feedback merge`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from twinself.pipeline.outbox import Outbox, QueueBacklog, RowStatus, queue_backlog
from twinself.text.unicode_text import storable

_COLUMNS = (
    "feedback_id, created_at, request_id, original_question, original_response, "
    "suggested_response, status, attempts"
)


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


class FeedbackQueue:
    def __init__(self, outbox: Outbox, clock: Callable[[], float] = time.time) -> None:
        self._outbox = outbox
        self._clock = clock

    def append(
        self,
        original_question: str,
        original_response: str,
        suggested_response: str,
        request_id: str | None,
    ) -> int:
        with self._outbox.transaction() as db:
            cursor = db.execute(
                "INSERT INTO feedback (created_at, request_id, original_question, "
                "original_response, suggested_response) VALUES (?, ?, ?, ?, ?)",
                (
                    self._clock(),
                    request_id,
                    # A lone surrogate (valid JSON) would make SQLite refuse the row.
                    storable(original_question),
                    storable(original_response),
                    storable(suggested_response),
                ),
            )
            return int(cursor.lastrowid or 0)

    # --- people -----------------------------------------------------------------------

    def entries(self, limit: int = 1000, include_merged: bool = True) -> list[Feedback]:
        where = "" if include_merged else "WHERE merged_at IS NULL "
        rows = (
            self._outbox.connection()
            .execute(
                f"SELECT {_COLUMNS} FROM feedback {where}ORDER BY feedback_id LIMIT ?", (limit,)
            )
            .fetchall()
        )
        return [Feedback(**dict(r)) for r in rows]

    def mark_merged(self, feedback_ids: list[int]) -> None:
        """Archived: merged into episodic memory, no longer listed as waiting."""
        now = self._clock()
        with self._outbox.transaction() as db:
            db.executemany(
                "UPDATE feedback SET merged_at = ? WHERE feedback_id = ?",
                [(now, i) for i in feedback_ids],
            )

    def backlog(self) -> QueueBacklog:
        return queue_backlog(self._outbox.connection(), "feedback", self._clock())

    # --- the shipper ------------------------------------------------------------------

    def due(self, limit: int) -> list[Feedback]:
        rows = (
            self._outbox.connection()
            .execute(
                f"SELECT {_COLUMNS} FROM feedback WHERE status = 'pending' "
                "AND next_attempt_at <= ? ORDER BY feedback_id LIMIT ?",
                (self._clock(), limit),
            )
            .fetchall()
        )
        return [Feedback(**dict(r)) for r in rows]

    def mark(
        self,
        feedback_id: int,
        status: RowStatus,
        error: str | None = None,
        delay_seconds: float = 0.0,
    ) -> None:
        now = self._clock()
        with self._outbox.transaction() as db:
            db.execute(
                "UPDATE feedback SET status = ?, last_error = ?, next_attempt_at = ?, "
                "attempts = attempts + ?, shipped_at = ? WHERE feedback_id = ?",
                (
                    status,
                    error,
                    now + delay_seconds,
                    0 if status == "shipped" else 1,
                    now if status == "shipped" else None,
                    feedback_id,
                ),
            )

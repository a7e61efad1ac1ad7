"""People's suggested answers in the outbox database: attached to their request's trace by the
shipper, reviewed by the owner (accept or reject), and only the accepted ones merged into
episodic memory by `twinself feedback merge`. Nothing reaches memory unreviewed."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from twinself.errors import TwinselfError
from twinself.pipeline.outbox import Outbox, QueueBacklog, RowStatus, mark_row, queue_backlog
from twinself.text.unicode_text import storable

_COLUMNS = (
    "feedback_id, created_at, request_id, original_question, original_response, "
    "suggested_response, status, attempts, review, reviewed_at, merged_at"
)

# Where a suggestion is in the owner's review: waiting for a decision, accepted (to merge),
# rejected, or merged into episodic memory.
ReviewState = Literal["waiting", "accepted", "rejected", "merged"]
REVIEW_STATES: tuple[ReviewState, ...] = get_args(ReviewState)
Decision = Literal["accepted", "rejected"]

_STATE_WHERE: dict[ReviewState, str] = {
    "waiting": "review IS NULL AND merged_at IS NULL",
    "accepted": "review = 'accepted' AND merged_at IS NULL",
    "rejected": "review = 'rejected'",
    "merged": "merged_at IS NOT NULL",
}


class ReviewRefused(TwinselfError):
    """A decision that cannot be taken: the suggestion is unknown or already merged."""


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
    review: Decision | None = None
    reviewed_at: float | None = None
    merged_at: float | None = None

    @property
    def state(self) -> ReviewState:
        if self.merged_at is not None:
            return "merged"
        return self.review or "waiting"


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

    # --- the owner's review -------------------------------------------------------------

    def entries(
        self,
        states: Sequence[ReviewState] = REVIEW_STATES,
        contains: str = "",
        limit: int = 1000,
    ) -> list[Feedback]:
        """Suggestions in these review states, oldest first; `contains` matches the question
        or the suggested answer, ignoring case (ASCII)."""
        where = " OR ".join(f"({_STATE_WHERE[state]})" for state in states) or "0"
        params: list[object] = []
        if contains:
            where = (
                f"({where}) AND (instr(lower(original_question), lower(?)) > 0 OR "
                "instr(lower(suggested_response), lower(?)) > 0)"
            )
            params += [contains, contains]
        rows = (
            self._outbox.connection()
            .execute(
                f"SELECT {_COLUMNS} FROM feedback WHERE {where} ORDER BY feedback_id LIMIT ?",
                (*params, limit),
            )
            .fetchall()
        )
        return [Feedback(**dict(r)) for r in rows]

    def get(self, feedback_id: int) -> Feedback | None:
        row = (
            self._outbox.connection()
            .execute(f"SELECT {_COLUMNS} FROM feedback WHERE feedback_id = ?", (feedback_id,))
            .fetchone()
        )
        return Feedback(**dict(row)) if row is not None else None

    def review(self, feedback_ids: Sequence[int], decision: Decision) -> list[int]:
        """Accept or reject suggestions (a mind may change until one is merged); returns the
        ids decided. Unknown or merged ids are refused, and then nothing is changed."""
        ids = sorted(set(feedback_ids))
        with self._outbox.transaction() as db:
            marks = ",".join("?" * len(ids))
            open_ids = {
                row[0]
                for row in db.execute(
                    f"SELECT feedback_id FROM feedback WHERE feedback_id IN ({marks}) "
                    "AND merged_at IS NULL",
                    ids,
                )
            }
            refused = [i for i in ids if i not in open_ids]
            if refused:
                raise ReviewRefused(
                    f"Suggestion(s) {', '.join(map(str, refused))} are unknown or already "
                    "merged; `twinself feedback list --status all` shows them all."
                )
            now = self._clock()
            db.executemany(
                "UPDATE feedback SET review = ?, reviewed_at = ? WHERE feedback_id = ?",
                [(decision, now, i) for i in ids],
            )
        return ids

    def mark_merged(self, feedback_ids: Sequence[int]) -> None:
        """Archived: merged into episodic memory, no longer listed as accepted."""
        now = self._clock()
        with self._outbox.transaction() as db:
            db.executemany(
                "UPDATE feedback SET merged_at = ? WHERE feedback_id = ? AND review = 'accepted'",
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
        with self._outbox.transaction() as db:
            mark_row(
                db,
                "feedback",
                ("feedback_id", feedback_id),
                status,
                self._clock(),
                error,
                delay_seconds,
            )

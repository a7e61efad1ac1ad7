"""Visitors' thumbs up or down on answers, in the outbox database: appended by the server,
attached to the request's trace by the shipper, listed for the owner. One row per click;
the newest row of a request is its rating."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from twinself.pipeline.outbox import Outbox, RowStatus, mark_row

RatingValue = Literal["up", "down"]

_COLUMNS = "rating_id, created_at, request_id, rating, status, attempts"


@dataclass(frozen=True)
class Rating:
    rating_id: int
    created_at: float
    request_id: str
    rating: RatingValue
    status: RowStatus
    attempts: int


class RatingQueue:
    def __init__(self, outbox: Outbox, clock: Callable[[], float] = time.time) -> None:
        self._outbox = outbox
        self._clock = clock

    def append(self, request_id: str, rating: RatingValue) -> int:
        with self._outbox.transaction() as db:
            cursor = db.execute(
                "INSERT INTO ratings (created_at, request_id, rating) VALUES (?, ?, ?)",
                (self._clock(), request_id, rating),
            )
            return int(cursor.lastrowid or 0)

    def latest(self, limit: int = 100) -> list[Rating]:
        """Each rated request's newest rating, newest first: what the owner reads."""
        rows = (
            self._outbox.connection()
            .execute(
                f"SELECT {_COLUMNS} FROM ratings WHERE rating_id IN "
                "(SELECT MAX(rating_id) FROM ratings GROUP BY request_id) "
                "ORDER BY rating_id DESC LIMIT ?",
                (limit,),
            )
            .fetchall()
        )
        return [Rating(**dict(r)) for r in rows]

    # --- the shipper ------------------------------------------------------------------

    def due(self, limit: int) -> list[Rating]:
        rows = (
            self._outbox.connection()
            .execute(
                f"SELECT {_COLUMNS} FROM ratings WHERE status = 'pending' "
                "AND next_attempt_at <= ? ORDER BY rating_id LIMIT ?",
                (self._clock(), limit),
            )
            .fetchall()
        )
        return [Rating(**dict(r)) for r in rows]

    def mark(
        self,
        rating_id: int,
        status: RowStatus,
        error: str | None = None,
        delay_seconds: float = 0.0,
    ) -> None:
        with self._outbox.transaction() as db:
            key = ("rating_id", rating_id)
            mark_row(db, "ratings", key, status, self._clock(), error, delay_seconds)

"""State that does not grow for ever: rows whose work is finished are deleted once older than
TWINSELF_RETENTION_DAYS, and the outbox file is compacted when much of it is free.

Finished means nothing will read the row again:
- a request record shipped to MLflow (the run is its copy) whose evaluation, if any, is done:
  a waiting or dead evaluation still needs the record's run;
- an evaluation job logged to its run (done);
- a suggestion shipped (or given up) and merged into memory, or rejected by the owner;
- a visitor's rating shipped (or given up): the trace holds it.
Pending, failed-to-ship, waiting and accepted-unmerged rows are kept whatever their age.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass

from twinself.pipeline.outbox import Outbox

logger = logging.getLogger(__name__)

DAY_SECONDS = 86_400.0
# Rewriting the file (VACUUM) pays off once this share of its pages is free.
COMPACT_FREE_SHARE = 0.25


@dataclass(frozen=True)
class Pruned:
    requests: int
    evaluations: int
    feedback: int
    bytes_before: int
    bytes_after: int
    ratings: int = 0


def prune(outbox: Outbox, retention_days: float, now: float) -> Pruned:
    """Delete what is finished and older than `retention_days` (0 keeps everything)."""
    before = outbox_bytes(outbox)
    if retention_days <= 0:
        return Pruned(0, 0, 0, before, before)
    cutoff = now - retention_days * DAY_SECONDS
    with outbox.transaction() as db:
        requests = db.execute(
            "DELETE FROM requests WHERE status = 'shipped' AND shipped_at < ? AND request_id "
            "NOT IN (SELECT request_id FROM evaluation_jobs WHERE status != 'done')",
            (cutoff,),
        ).rowcount
        evaluations = db.execute(
            "DELETE FROM evaluation_jobs WHERE status = 'done' AND finished_at < ?", (cutoff,)
        ).rowcount
        feedback = db.execute(
            "DELETE FROM feedback WHERE status IN ('shipped', 'failed') AND (merged_at < ? "
            "OR (review = 'rejected' AND reviewed_at < ?))",
            (cutoff, cutoff),
        ).rowcount
        ratings = db.execute(
            "DELETE FROM ratings WHERE status IN ('shipped', 'failed') AND created_at < ?",
            (cutoff,),
        ).rowcount
    if requests or evaluations or feedback or ratings:
        _compact_if_worth_it(outbox)
    return Pruned(requests, evaluations, feedback, before, outbox_bytes(outbox), ratings)


def outbox_bytes(outbox: Outbox) -> int:
    """The database's size: its pages (the WAL file comes and goes with checkpoints)."""
    db = outbox.connection()
    return int(db.execute("PRAGMA page_count").fetchone()[0]) * int(
        db.execute("PRAGMA page_size").fetchone()[0]
    )


def _compact_if_worth_it(outbox: Outbox) -> None:
    db = outbox.connection()
    pages = int(db.execute("PRAGMA page_count").fetchone()[0])
    free = int(db.execute("PRAGMA freelist_count").fetchone()[0])
    if pages == 0 or free / pages < COMPACT_FREE_SHARE:
        return
    try:
        db.execute("VACUUM")
    except sqlite3.OperationalError as exc:  # another process holds the database: next time
        logger.info("Outbox not compacted now (%s); the next prune tries again", exc)

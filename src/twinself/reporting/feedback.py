"""What visitors said in the period, from the local outbox (where `twinself serve` keeps it):
the newest suggested answers, and the thumbs up and down with the newest thumbs-down answers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from twinself.pipeline.feedback_queue import FeedbackQueue
from twinself.pipeline.outbox import Outbox
from twinself.pipeline.rating_queue import RatingQueue
from twinself.pipeline.trace_ids import trace_id_for
from twinself.reporting.period import ReportPeriod

NEWEST_FEEDBACK = 10
_TEXT_CHARS = 600


def newest_feedback(
    outbox_path: Path,
    period: ReportPeriod,
    trace_url: Callable[[str], str],
    limit: int = NEWEST_FEEDBACK,
) -> list[dict[str, str]] | None:
    """None when there is no outbox here (the report runs away from the server)."""
    if not outbox_path.exists():
        return None
    outbox = Outbox(outbox_path)
    try:
        entries = FeedbackQueue(outbox).entries(limit=1_000_000)
    finally:
        outbox.close()
    start, end = period.start.timestamp(), period.end.timestamp()
    chosen = [f for f in entries if start <= f.created_at < end][-limit:][::-1]
    return [
        {
            "time": datetime.fromtimestamp(f.created_at, UTC).isoformat(timespec="seconds"),
            "state": f.state,
            "question": f.original_question[:_TEXT_CHARS],
            "answer": f.original_response[:_TEXT_CHARS],
            "suggestion": f.suggested_response[:_TEXT_CHARS],
            "trace_url": trace_url(trace_id_for(f.request_id)) if f.request_id else "",
        }
        for f in chosen
    ]


def ratings_of(
    outbox_path: Path,
    period: ReportPeriod,
    trace_url: Callable[[str], str],
    limit: int = NEWEST_FEEDBACK,
) -> dict[str, Any] | None:
    """Each rated answer's last thumb given in the period, counted; the newest thumbs down
    listed (the answers to look at). None when there is no outbox here."""
    if not outbox_path.exists():
        return None
    outbox = Outbox(outbox_path)
    try:
        latest = RatingQueue(outbox).latest(limit=1_000_000)
    finally:
        outbox.close()
    start, end = period.start.timestamp(), period.end.timestamp()
    chosen = [r for r in latest if start <= r.created_at < end]
    down = [r for r in chosen if r.rating == "down"]
    return {
        "up": len(chosen) - len(down),
        "down": len(down),
        "newest_down": [
            {
                "time": datetime.fromtimestamp(r.created_at, UTC).isoformat(timespec="seconds"),
                "request_id": r.request_id,
                "trace_url": trace_url(trace_id_for(r.request_id)),
            }
            for r in down[:limit]
        ],
    }

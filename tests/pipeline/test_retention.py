"""Finished outbox rows older than the retention are deleted, everything else is kept, and
the file shrinks; the shipper prunes at start and then hourly."""

from __future__ import annotations

from pathlib import Path

from tests.support.clock import FakeClock
from tests.support.records import make_record
from twinself.pipeline.evaluation_queue import EvaluationQueue
from twinself.pipeline.feedback_queue import FeedbackQueue
from twinself.pipeline.outbox import Outbox
from twinself.pipeline.records import EvaluationJob
from twinself.pipeline.request_queue import RequestQueue
from twinself.pipeline.retention import DAY_SECONDS, prune


def job(request_id: str) -> EvaluationJob:
    return EvaluationJob(request_id, "q", "a", ["c" * 2000])


def test_only_finished_rows_older_than_the_retention_go(tmp_path: Path) -> None:
    clock = FakeClock()
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    requests, evaluations = RequestQueue(outbox, clock), EvaluationQueue(outbox, clock)
    feedback = FeedbackQueue(outbox, clock)
    old = {name: make_record(created_at=clock()) for name in ("plain", "judged", "dead", "waiting")}
    unshipped = make_record(created_at=clock())
    for name, record in old.items():
        requests.append(record, None if name == "plain" else job(record.request_id))
        requests.mark_shipped(record.request_id, f"run-{name}", None)
    requests.append(unshipped)
    evaluations.mark_done(old["judged"].request_id)
    with outbox.transaction() as db:  # a dead letter: `twinself evaluations retry` needs it
        db.execute("UPDATE evaluation_jobs SET status = 'dead' WHERE request_id = ?",
                   (old["dead"].request_id,))  # fmt: skip
    merged = feedback.append("q", "a", "better", old["plain"].request_id)
    rejected, accepted, waiting = (feedback.append("q", "a", s, None) for s in "rjw")
    for feedback_id in (merged, rejected, accepted, waiting):
        feedback.mark(feedback_id, "shipped")
    feedback.review([merged, accepted], "accepted")
    feedback.review([rejected], "rejected")
    feedback.mark_merged([merged])
    clock.advance(15 * DAY_SECONDS)
    recent = make_record(created_at=clock())
    requests.append(recent)
    requests.mark_shipped(recent.request_id, "run-recent", None)

    assert prune(outbox, 0, clock()).requests == 0  # 0 keeps everything
    pruned = prune(outbox, 14, clock())

    assert (pruned.requests, pruned.evaluations, pruned.feedback) == (2, 1, 2)
    kept = {r["request_id"] for r in outbox.connection().execute("SELECT request_id FROM requests")}
    waiting_or_dead = {old["dead"].request_id, old["waiting"].request_id}
    assert kept == {unshipped.request_id, recent.request_id} | waiting_or_dead
    assert [f.feedback_id for f in feedback.entries()] == [accepted, waiting]
    outbox.close()


def test_pruning_many_rows_compacts_the_file(tmp_path: Path) -> None:
    clock = FakeClock()
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    requests = RequestQueue(outbox, clock)
    for index in range(300):
        record = make_record(index, created_at=clock())
        requests.append(record)
        requests.mark_shipped(record.request_id, f"run-{index}", None)
    clock.advance(2 * DAY_SECONDS)
    pruned = prune(outbox, 1, clock())
    assert pruned.requests == 300
    assert pruned.bytes_after < pruned.bytes_before / 4, pruned
    outbox.close()

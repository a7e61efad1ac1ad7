"""TWINSELF_DAILY_SPEND_CAP_USD: past the last 24 hours' cap, chat answers 503, tracked."""

from __future__ import annotations

from pathlib import Path

from tests.support.clock import FakeClock
from tests.support.factories import ClientFactory
from tests.support.records import make_record
from twinself.pipeline.outbox import Outbox
from twinself.pipeline.request_queue import RequestQueue
from twinself.pipeline.retention import DAY_SECONDS
from twinself.server.spend_cap import SpendCap

ASK = {"session_id": "s", "message": "Where do you work?"}


def test_the_cap_sums_the_outbox_last_day_and_this_processs_spend_since(tmp_path: Path) -> None:
    clock = FakeClock()
    outbox = Outbox(tmp_path / "outbox.sqlite3")
    requests = RequestQueue(outbox)
    requests.append(make_record(input_tokens=50_000_000, created_at=clock() - DAY_SECONDS - 60))
    requests.append(make_record(input_tokens=3_000_000, created_at=clock() - 3600))  # $0.30
    cap = SpendCap(0.5, requests, clock, refresh_seconds=30)
    assert round(cap.spent(), 4) == 0.3 and not cap.exhausted()

    answered = make_record(input_tokens=2_500_000, created_at=clock())  # $0.25, another process
    cap.observe(answered)  # this process's own answer: counted at once
    assert cap.exhausted()
    requests.append(answered)
    clock.advance(30)  # the outbox is read again: the answer is counted once, not twice
    assert round(cap.spent(), 4) == 0.55
    clock.advance(DAY_SECONDS)
    assert cap.spent() == 0 and not cap.exhausted()
    assert not SpendCap(0.0, requests, clock).exhausted()  # 0 = no cap
    outbox.close()


def test_past_the_cap_chat_is_a_tracked_503_and_suggestions_still_land(
    make_client: ClientFactory, request_queue: RequestQueue
) -> None:
    request_queue.append(make_record(input_tokens=10_000_000))  # $1.00 an hour ago
    client = make_client(daily_spend_cap_usd=0.5)
    for path in ("/chat", "/chat/stream"):
        refused = client.post(path, json=ASK)
        assert refused.status_code == 503 and "TWINSELF_DAILY_SPEND_CAP_USD" in refused.text
        assert refused.headers["retry-after"] == "3600"
        recorded = {p.record.request_id for p in request_queue.due(100)}
        assert refused.json()["request_id"] in recorded
    suggestion = {"original_question": "q", "original_response": "a", "suggested_response": "b"}
    assert client.post("/api/edit-message/suggestion", json=suggestion).status_code == 200
    assert make_client(daily_spend_cap_usd=5.0).post("/chat", json=ASK).status_code == 200

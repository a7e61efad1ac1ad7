"""Whatever its bytes or size, a chat request gets a clear 4xx and ends tracked, and a refused
request never stores more than its length and a bounded start."""

from __future__ import annotations

import json
from collections.abc import Iterator

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.support.factories import ClientFactory
from twinself.pipeline.feedback_queue import FeedbackQueue
from twinself.pipeline.records import RequestRecord
from twinself.pipeline.request_queue import RequestQueue
from twinself.pipeline.request_recorder import REFUSED_TEXT_CHARS

LONE_SURROGATE = '{"session_id": "s", "message": "Where do you work? \\ud800"}'


def recorded(requests: RequestQueue, request_id: str) -> RequestRecord:
    found = {p.record.request_id: p.record for p in requests.due(10_000)}
    assert request_id in found, "the refused request was not recorded"
    return found[request_id]


def post_raw(client: TestClient, path: str, body: bytes) -> dict[str, object]:
    response = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    payload: dict[str, object] = response.json()
    payload["status"] = response.status_code
    return payload


def test_a_lone_surrogate_is_a_tracked_400_on_both_chat_routes(
    client: TestClient, request_queue: RequestQueue
) -> None:
    for path in ("/chat", "/chat/stream"):
        refused = post_raw(client, path, LONE_SURROGATE.encode())
        assert refused["status"] == 400 and "lone surrogate" in str(refused["detail"])
        record = recorded(request_queue, str(refused["request_id"]))
        assert record.http_status == 400 and record.question == "Where do you work? \ufffd"
        assert client.get(f"/runs/{refused['request_id']}").status_code == 200
    turn = {"role": "user", "content": "hi \ud800"}
    body = {"session_id": "s", "message": "Where do you work?", "conversation": [turn]}
    refused = post_raw(client, "/chat", json.dumps(body).encode())
    assert refused["status"] == 400
    recorded(request_queue, str(refused["request_id"]))


def test_a_body_that_is_not_utf8_is_a_tracked_400(
    client: TestClient, request_queue: RequestQueue
) -> None:
    refused = post_raw(client, "/chat", b'{"session_id": "s", "message": "caf\xe9"}')
    assert refused["status"] == 400
    record = recorded(request_queue, str(refused["request_id"]))
    assert record.error_type == "InvalidBody"


def test_a_body_over_the_limit_is_refused_unparsed_and_recorded_with_its_start(
    make_client: ClientFactory, request_queue: RequestQueue
) -> None:
    client = make_client(max_body_bytes=4096)
    huge = json.dumps({"session_id": "s", "message": "word " * 100_000}).encode()
    refused = post_raw(client, "/chat", huge)  # Content-Length says it all
    assert refused["status"] == 413 and "TWINSELF_MAX_BODY_BYTES" in str(refused["detail"])
    record = recorded(request_queue, str(refused["request_id"]))
    assert record.error_type == "RequestTooLarge"
    assert len(record.question) <= REFUSED_TEXT_CHARS and record.question.startswith('{"session')

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for start in range(0, len(huge), 1000):
            yield huge[start : start + 1000]

    streamed = client.post("/chat/stream", content=chunks())
    assert streamed.status_code == 413
    recorded(request_queue, streamed.json()["request_id"])
    # Counted under its route, not as an unmatched path.
    scraped = text_string_to_metric_families(client.get("/metrics").text)
    refusals = {
        sample.labels["endpoint"]
        for family in scraped
        for sample in family.samples
        if sample.name == "twinself_http_requests_total" and sample.labels["status_class"] == "4xx"
    }
    assert {"/chat", "/chat/stream"} <= refusals


def test_a_refused_long_message_keeps_its_length_and_a_bounded_start(
    client: TestClient, request_queue: RequestQueue
) -> None:
    message = "x" * 200_000
    response = client.post("/chat", json={"session_id": "s", "message": message})
    assert response.status_code == 413
    record = recorded(request_queue, response.json()["request_id"])
    assert record.params["message_length"] == str(len(message))
    assert len(record.question) == REFUSED_TEXT_CHARS
    assert len(json.dumps(record.to_dict())) < 10 * REFUSED_TEXT_CHARS


def test_conversation_turns_are_limited_each_and_together(
    make_client: ClientFactory, request_queue: RequestQueue
) -> None:
    client = make_client(max_message_chars=100, max_conversation_chars=250)
    ask = {"session_id": "s", "message": "Where do you work?"}
    long_turn = [{"role": "user", "content": "y" * 101}]
    many_turns = [{"role": "user", "content": "z" * 90}] * 3
    for conversation, limit in ((long_turn, "MESSAGE_CHARS"), (many_turns, "CONVERSATION_CHARS")):
        response = client.post("/chat", json={**ask, "conversation": conversation})
        assert response.status_code == 413 and limit in response.json()["detail"]
        recorded(request_queue, response.json()["request_id"])


def test_a_suggestion_with_a_lone_surrogate_is_stored_not_lost(
    client: TestClient, feedback_queue: FeedbackQueue
) -> None:
    body = (
        '{"original_question": "q", "original_response": "a", '
        '"suggested_response": "better \\udfff answer"}'
    )
    response = client.post(
        "/api/edit-message/suggestion",
        content=body.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert [f.suggested_response for f in feedback_queue.entries()] == ["better \ufffd answer"]

"""The HTTP API with the real twin (offline provider), real store and a real SQLite outbox."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from tests.support.factories import ClientFactory
from tests.support.records import METRIC_NAMES, PARAM_NAMES, SPAN_NAMES
from twinself.pipeline.feedback_queue import FeedbackQueue
from twinself.pipeline.request_queue import RequestQueue

PARAMS = set(PARAM_NAMES)
METRICS = set(METRIC_NAMES)


def pending_records(requests: RequestQueue) -> dict[str, object]:
    return {p.record.request_id: p.record for p in requests.due(10_000)}


def test_chat_answers_with_sources_and_records_one_outbox_row(
    client: TestClient, request_queue: RequestQueue
) -> None:
    response = client.post(
        "/chat",
        json={
            "session_id": "s1",
            "message": "What do you do in your free time?",
            "conversation": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
            ],
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "session_id",
        "response",
        "bot_name",
        "request_id",
        "run_id",
        "sources",
        "metrics",
    }
    assert body["bot_name"] == "Maya Lindqvist" and body["run_id"] is None
    assert body["response"] and body["sources"][0]["memory"] == "semantic"
    assert body["metrics"]["quality_evaluation"] == "evaluating_in_background"
    assert body["metrics"]["cost_usd"] == 0.0 and body["metrics"]["total_tokens"] > 0

    [record] = request_queue.due(10)
    record = record.record
    assert record.request_id == body["request_id"]
    assert set(record.params) == PARAMS and set(record.metrics) == METRICS
    assert record.params["conversation_length"] == "2"
    assert record.params["data_version"].startswith("data-")
    assert record.tags["status"] == "success" and record.tags["tokens_estimated"] == "true"
    assert [s.name for s in record.spans] == list(SPAN_NAMES)
    assert record.root is not None
    for span in record.spans:
        assert record.root.start_ns <= span.start_ns <= span.end_ns <= record.root.end_ns
    assert request_queue.state(body["request_id"]).status == "pending"  # type: ignore[union-attr]
    assert client.get(f"/runs/{body['request_id']}").json()["status"] == "pending"


def test_concurrent_requests_each_get_their_own_record(
    client: TestClient, request_queue: RequestQueue
) -> None:
    questions = ["Where do you work?", "What are your hobbies?", "Where did you study?"] * 4

    def ask(i: int) -> str:
        reply = client.post("/chat", json={"session_id": f"s{i}", "message": questions[i]})
        assert reply.status_code == 200
        return str(reply.json()["request_id"])

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(ask, range(len(questions))))
    records = pending_records(request_queue)
    assert sorted(records) == sorted(ids) and len(set(ids)) == len(questions)


def test_errors_have_clear_statuses_and_are_tracked(
    client: TestClient, request_queue: RequestQueue
) -> None:
    cases = [
        ({"session_id": "s", "message": "   "}, 400),
        ({"session_id": "s", "message": "x" * 5000}, 413),
        (
            {
                "session_id": "s",
                "message": "hi",
                "conversation": [{"role": "user", "content": "a"}] * 51,
            },
            413,
        ),
        ({"message": "no session"}, 422),
        ({"session_id": "s", "message": "hi", "conversation": [{"role": "bot"}]}, 422),
    ]
    for payload, status in cases:
        response = client.post("/chat", json=payload)
        assert response.status_code == status, (payload, response.text)
        assert "Traceback" not in response.text
        assert response.json()["request_id"]
    records = list(pending_records(request_queue).values())
    assert sorted(r.http_status for r in records) == sorted(s for _, s in cases)  # type: ignore[attr-defined]
    assert all(r.tags["status"] == "error" for r in records)  # type: ignore[attr-defined]


def test_unbuilt_memory_is_503_with_retry_after(make_client: ClientFactory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    client = make_client(user_prefix="nothing_built_here")
    response = client.post("/chat", json={"session_id": "s", "message": "Hello?"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert "twinself rebuild" in response.json()["detail"]


def test_stream_sends_the_same_text_then_metadata_then_done(
    client: TestClient, request_queue: RequestQueue
) -> None:
    question = {"session_id": "s", "message": "What are your hobbies?"}
    plain = client.post("/chat", json=question).json()
    with client.stream("POST", "/chat/stream", json=question) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = "".join(response.iter_text())
    events = [e for e in raw.split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    metadata = events[-2]
    assert metadata.startswith("event: metadata\ndata: ")
    meta = json.loads(metadata.split("data: ", 1)[1])
    chunks = [e.removeprefix("data: ") for e in events[:-2]]
    assert len(chunks) > 3
    text = "".join(chunks).replace("\\n", "\n").replace("\\\\", "\\")
    assert text == plain["response"]
    assert meta["sources"] == plain["sources"] and meta["request_id"] != plain["request_id"]
    record = pending_records(request_queue)[meta["request_id"]]
    assert record.endpoint == "chat_stream" and record.response == text  # type: ignore[attr-defined]


def test_fifty_concurrent_suggestions_are_all_stored(
    client: TestClient, feedback_queue: FeedbackQueue
) -> None:
    def post(i: int) -> int:
        return client.post(
            "/api/edit-message/suggestion",
            json={
                "original_question": f"q{i}",
                "original_response": "old",
                "suggested_response": f"better {i}",
                "request_id": f"r{i}",
            },
        ).status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(post, range(50)))
    assert statuses == [200] * 50
    stored = feedback_queue.entries()
    assert sorted(f.suggested_response for f in stored) == sorted(f"better {i}" for i in range(50))
    bad = client.post(
        "/api/edit-message/suggestion",
        json={"original_question": "q", "original_response": "a", "suggested_response": " "},
    )
    assert bad.status_code == 400


def test_health_root_docs_and_unknown_run(client: TestClient) -> None:
    health = client.get("/health").json()
    assert health["status"] == "healthy" and health["mlflow_connected"] is True
    assert health["mlflow_uri"].startswith("sqlite:///")
    assert health["provider"] == "offline" and health["bot_name"] == "Maya Lindqvist"
    assert health["data_version"].startswith("data-")
    assert health["backlog"]["records_pending"] == 0
    assert health["outbox_bytes"] > 0 and health["retention_days"] == 14
    root = client.get("/").json()
    assert root["docs"] == "/docs" and "chat" in root["endpoints"]
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").json()["paths"]["/chat"]
    assert client.get("/runs/unknown").status_code == 404

"""Which answers the server queues for evaluation, and that the job commits with its record."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from tests.support.factories import ClientFactory
from twinself.pipeline.evaluation_queue import EvaluationQueue
from twinself.pipeline.request_queue import RequestQueue

QUESTION = {"session_id": "s1", "message": "Where did you study?"}


def stream_metadata(client: TestClient, body: dict[str, object]) -> dict[str, object]:
    with client.stream("POST", "/chat/stream", json=body) as response:
        text = "".join(response.iter_text())
    payload = text.split("event: metadata\ndata: ", 1)[1].split("\n", 1)[0]
    metadata: dict[str, object] = json.loads(payload)
    return metadata


def test_a_sampled_answer_is_queued_with_its_question_answer_and_context(
    client: TestClient, request_queue: RequestQueue, evaluation_queue: EvaluationQueue
) -> None:
    body = client.post("/chat", json=QUESTION).json()

    assert body["metrics"]["quality_evaluation"] == "evaluating_in_background"
    queued = evaluation_queue.get(body["request_id"])
    assert queued is not None and queued.status == "pending"
    assert queued.job.question == QUESTION["message"]
    assert queued.job.answer == body["response"]
    # The judge sees every passage the twin answered with; clients see all but its own rules.
    public = [s["text"] for s in body["sources"]]
    assert public and queued.job.context[: len(public)] == public
    assert len(queued.job.context) > len(public)
    [pending] = request_queue.due(10)
    assert pending.record.tags["quality_evaluation"] == "evaluating_in_background"

    streamed = stream_metadata(client, QUESTION)
    assert streamed["metrics"]["quality_evaluation"] == "evaluating_in_background"  # type: ignore[index]
    assert evaluation_queue.backlog().counts["pending"] == 2
    health = client.get("/health").json()
    assert health["deepeval_enabled"] is True and health["deepeval_judge"] == "local"
    assert health["backlog"]["evaluations_waiting"] == 2


def test_sample_rate_zero_and_track_quality_false_queue_nothing(
    make_client: ClientFactory, request_queue: RequestQueue, evaluation_queue: EvaluationQueue
) -> None:
    client = make_client(eval_sample_rate=0.0)

    unsampled = client.post("/chat", json=QUESTION).json()
    not_asked = client.post("/chat", json={**QUESTION, "track_quality": False}).json()

    assert unsampled["metrics"]["quality_evaluation"] == "not_sampled"
    assert not_asked["metrics"]["quality_evaluation"] == "disabled"
    assert evaluation_queue.backlog().counts["pending"] == 0
    assert len(request_queue.due(10)) == 2  # the requests themselves are still tracked


def test_a_tenth_is_sampled_at_rate_point_one(
    make_client: ClientFactory, evaluation_queue: EvaluationQueue
) -> None:
    client = make_client(eval_sample_rate=0.1)
    states = [
        client.post("/chat", json=QUESTION).json()["metrics"]["quality_evaluation"]
        for _ in range(60)
    ]
    sampled = states.count("evaluating_in_background")
    assert 1 <= sampled <= 15 and sampled + states.count("not_sampled") == 60
    assert evaluation_queue.backlog().counts["pending"] == sampled


def test_evaluation_off_reports_disabled(
    make_client: ClientFactory, evaluation_queue: EvaluationQueue
) -> None:
    client = make_client(eval_judge="none")
    body = client.post("/chat", json=QUESTION).json()
    assert body["metrics"]["quality_evaluation"] == "disabled"
    assert client.get("/health").json()["deepeval_enabled"] is False
    assert evaluation_queue.get(body["request_id"]) is None

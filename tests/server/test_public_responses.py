"""What an outside client sees: no twin instructions, no upstream text, no server paths."""

from __future__ import annotations

import json

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests.support.factories import ClientFactory
from twinself.config.settings import Settings
from twinself.pipeline.feedback_queue import FeedbackQueue
from twinself.pipeline.request_queue import RequestQueue

SUGGESTION = "/api/edit-message/suggestion"
QUESTION = {"session_id": "s1", "message": "What do you do in your free time?"}


def stream_metadata(client: TestClient) -> dict[str, object]:
    with client.stream("POST", "/chat/stream", json=QUESTION) as response:
        text = "".join(response.iter_text())
    payload = text.split("event: metadata\ndata: ", 1)[1].split("\n", 1)[0]
    metadata: dict[str, object] = json.loads(payload)
    return metadata


def test_procedural_rules_stay_out_of_public_sources_but_in_the_record(
    client: TestClient, request_queue: RequestQueue
) -> None:
    body = client.post("/chat", json=QUESTION).json()
    streamed = stream_metadata(client)

    assert body["sources"] and {s["memory"] for s in body["sources"]} <= {"semantic", "episodic"}
    assert streamed["sources"] == body["sources"]
    # The owner's record keeps the rules the twin answered with.
    record = {p.record.request_id: p.record for p in request_queue.due(10)}[body["request_id"]]
    procedural = next(s for s in record.spans if s.name == "retrieve_procedural")
    assert procedural.outputs


def test_the_owner_can_show_procedural_sources(make_client: ClientFactory) -> None:
    client = make_client(show_procedural_sources=True)

    body = client.post("/chat", json=QUESTION).json()

    assert "procedural" in {s["memory"] for s in body["sources"]}
    assert "procedural" in {s["memory"] for s in stream_metadata(client)["sources"]}  # type: ignore[attr-defined]


def test_a_suggestion_is_answered_with_a_reference_not_a_server_path(
    client: TestClient, feedback_queue: FeedbackQueue, server_settings: Settings
) -> None:
    response = client.post(
        "/api/edit-message/suggestion",
        json={
            "original_question": "Where do you work?",
            "original_response": "old",
            "suggested_response": "better",
        },
    )

    assert response.status_code == 200, response.text
    [stored] = feedback_queue.entries()
    assert response.json()["saved_to"] == f"feedback/{stored.feedback_id}"
    assert str(server_settings.home) not in response.text and "sqlite" not in response.text


def test_the_openapi_schema_lists_the_suggestion_endpoints_errors(
    make_client: ClientFactory,
) -> None:
    untracked_client = make_client(tracking_enabled=False, max_body_bytes=1000)
    keyed_client = make_client(api_keys=SecretStr("owner-key"))
    app = untracked_client.app
    assert isinstance(app, FastAPI)
    responses = app.openapi()["paths"][SUGGESTION]["post"]["responses"]
    suggestion = {"original_question": "q", "original_response": "a", "suggested_response": "b"}

    answered = [
        untracked_client.post(SUGGESTION, json={**suggestion, "original_question": " "}),
        untracked_client.post(SUGGESTION, json={**suggestion, "suggested_response": "b" * 2000}),
        untracked_client.post(SUGGESTION, json=suggestion),
        keyed_client.post(SUGGESTION, json=suggestion),
    ]

    assert [r.status_code for r in answered] == [400, 413, 503, 401]
    # Every status the endpoint answers with is in its schema, with the body it sends.
    for status in [*(str(r.status_code) for r in answered), "429"]:
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorBody"}, status
    assert all(set(r.json()) <= {"detail", "request_id"} for r in answered)

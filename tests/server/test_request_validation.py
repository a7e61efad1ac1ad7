"""What /chat accepts: a well-formed session id and a real boolean, nothing coerced."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from twinself.pipeline.request_queue import RequestQueue


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("track_quality", "yes"),
        ("track_quality", 0),
        ("track_quality", "false"),
        ("session_id", ""),
        ("session_id", "x" * 129),
        ("session_id", "has space"),
        ("session_id", "<script>"),
        ("session_id", "s\nfake-log-line"),
        ("session_id", 42),
    ],
)
@pytest.mark.parametrize("endpoint", ["/chat", "/chat/stream"])
def test_malformed_fields_are_422_and_tracked(
    client: TestClient, request_queue: RequestQueue, endpoint: str, field: str, value: object
) -> None:
    body = {"session_id": "s", "message": "Where do you work?", field: value}

    response = client.post(endpoint, json=body)

    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", field]
    [pending] = request_queue.due(10)
    assert pending.record.tags["error_type"] == "RequestValidationError"


@pytest.mark.parametrize(
    "session_id",
    [
        "e2e",
        "monitoring",
        "s1",
        "9f1c2b7e4d0a4c51a1f3e8b6d2c7a905",  # uuid4().hex
        "9f1c2b7e-4d0a-4c51-a1f3-e8b6d2c7a905",  # str(uuid4())
        "session_1700000000",
        "web:a_b.c",
    ],
)
def test_session_ids_that_clients_send_are_accepted(client: TestClient, session_id: str) -> None:
    body = {"session_id": session_id, "message": "Where do you work?", "track_quality": False}

    response = client.post("/chat", json=body)

    assert response.status_code == 200, response.text
    assert response.json()["session_id"] == session_id

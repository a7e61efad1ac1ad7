"""The owner's /admin/ routes: off until TWINSELF_ADMIN_KEY is set, then only with that key (a
chat key never opens them); suggestions are listed and reviewed there."""

from __future__ import annotations

from pydantic import SecretStr

from tests.support.factories import ClientFactory
from twinself.pipeline.feedback_queue import FeedbackQueue

ADMIN = {"Authorization": "Bearer owner-secret"}


def test_admin_is_off_until_a_key_is_set_and_then_needs_that_key(
    make_client: ClientFactory,
) -> None:
    off = make_client().get("/admin/feedback")
    assert off.status_code == 403 and "TWINSELF_ADMIN_KEY" in off.json()["detail"]

    client = make_client(admin_key=SecretStr("owner-secret"), api_keys=SecretStr("visitor"))
    assert client.get("/admin/feedback").status_code == 401
    assert client.get("/admin/versions", headers={"X-API-Key": "visitor"}).status_code == 401
    assert client.get("/admin/versions", headers={"X-API-Key": "owner-secre"}).status_code == 401
    assert client.get("/admin/versions", headers=ADMIN).status_code == 200
    # And the admin key is not a chat key.
    ask = {"session_id": "s", "message": "Hi"}
    assert client.post("/chat", json=ask, headers=ADMIN).status_code == 401


def test_the_owner_reviews_suggestions_over_http(
    make_client: ClientFactory, feedback_queue: FeedbackQueue
) -> None:
    client = make_client(admin_key=SecretStr("owner-secret"))
    for suggested in ("Two hives in Majorna.", "spam http://x.example", "Pencils."):
        posted = client.post(
            "/api/edit-message/suggestion",
            json={
                "original_question": "q",
                "original_response": "a",
                "suggested_response": suggested,
            },
        )
        assert posted.status_code == 200

    waiting = client.get("/admin/feedback", headers=ADMIN).json()
    assert [(f["feedback_id"], f["state"]) for f in waiting] == [
        (1, "waiting"), (2, "waiting"), (3, "waiting")
    ]  # fmt: skip
    spam = client.get("/admin/feedback?contains=HTTP://", headers=ADMIN).json()
    assert [f["feedback_id"] for f in spam] == [2]

    rejected = client.post(
        "/admin/feedback/review", json={"decision": "rejected", "ids": [2]}, headers=ADMIN
    )
    accepted = client.post(
        "/admin/feedback/review", json={"decision": "accepted", "ids": [1]}, headers=ADMIN
    )
    assert rejected.json() == {"decision": "rejected", "ids": [2]}
    assert accepted.status_code == 200
    feedback_queue.mark_merged([1])
    late = client.post(
        "/admin/feedback/review", json={"decision": "rejected", "ids": [1, 3]}, headers=ADMIN
    )
    assert late.status_code == 409 and "already merged" in late.json()["detail"]
    unknown = client.post(
        "/admin/feedback/review", json={"decision": "accepted", "ids": [42]}, headers=ADMIN
    )
    assert unknown.status_code == 409
    wrong = client.post(
        "/admin/feedback/review", json={"decision": "maybe", "ids": [3]}, headers=ADMIN
    )
    assert wrong.status_code == 422

    every = client.get("/admin/feedback?status=all", headers=ADMIN).json()
    assert {f["feedback_id"]: f["state"] for f in every} == {
        1: "merged", 2: "rejected", 3: "waiting"
    }  # fmt: skip


def test_version_operations_are_admin_routes(make_client: ClientFactory) -> None:
    client = make_client(admin_key=SecretStr("owner-secret"))
    assert client.post("/admin/versions/v9_20260101_000000/activate").status_code == 401
    refused = client.post("/admin/versions/v9_20260101_000000/activate", headers=ADMIN)
    assert refused.status_code == 409 and "No version" in refused.json()["detail"]

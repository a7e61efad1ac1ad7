"""API keys on the visitor-facing routes, and CORS for the owner's website only."""

from __future__ import annotations

from pydantic import SecretStr

from tests.support.factories import ClientFactory
from twinself.cli.serve_command import is_loopback
from twinself.pipeline.request_queue import RequestQueue

ASK = {"session_id": "s", "message": "Where do you work?"}
SUGGESTION = {"original_question": "q", "original_response": "a", "suggested_response": "b"}


def test_with_keys_set_visitors_need_one_and_a_refusal_is_tracked(
    make_client: ClientFactory, request_queue: RequestQueue
) -> None:
    client = make_client(api_keys=SecretStr("first-key, second-key"))
    refused = client.post("/chat", json=ASK)
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    wrong = client.post("/chat/stream", json=ASK, headers={"X-API-Key": "second-ke"})
    assert wrong.status_code == 401
    recorded = {p.record.request_id: p.record for p in request_queue.due(100)}
    for response in (refused, wrong):
        assert recorded[response.json()["request_id"]].http_status == 401
    assert "first-key" not in refused.text and "second-key" not in wrong.text

    bearer = client.post("/chat", json=ASK, headers={"Authorization": "Bearer first-key"})
    assert bearer.status_code == 200
    header = client.post("/chat", json=ASK, headers={"X-API-Key": "second-key"})
    assert header.status_code == 200
    run = f"/runs/{bearer.json()['request_id']}"
    assert client.get(run).status_code == 401
    assert client.get(run, headers={"X-API-Key": "first-key"}).status_code == 200
    assert client.post("/api/edit-message/suggestion", json=SUGGESTION).status_code == 401
    # What Prometheus and a load balancer read stays open.
    assert client.get("/health").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_without_keys_the_api_is_open_as_before(make_client: ClientFactory) -> None:
    assert make_client().post("/chat", json=ASK).status_code == 200


def test_only_the_listed_origins_may_call_from_a_browser(make_client: ClientFactory) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-api-key",
    }
    client = make_client(cors_origins="https://me.example/, https://blog.me.example")
    allowed = client.options("/chat", headers={**preflight, "Origin": "https://me.example"})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://me.example"
    assert "access-control-allow-credentials" not in allowed.headers
    other = client.options("/chat", headers={**preflight, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    answered = client.post("/chat", json=ASK, headers={"Origin": "https://blog.me.example"})
    assert answered.headers["access-control-allow-origin"] == "https://blog.me.example"

    same_origin_only = make_client()
    response = same_origin_only.post("/chat", json=ASK, headers={"Origin": "https://me.example"})
    assert "access-control-allow-origin" not in response.headers


def test_loopback_addresses_are_told_apart_from_public_ones() -> None:
    assert all(map(is_loopback, ("127.0.0.1", "::1", "[::1]", "localhost", "127.0.1.1")))
    assert not any(map(is_loopback, ("0.0.0.0", "::", "192.168.1.5", "me.example")))


def test_a_client_over_its_rate_limit_gets_a_tracked_429_and_others_do_not(
    make_client: ClientFactory, request_queue: RequestQueue
) -> None:
    client = make_client(rate_limit="2/minute", api_keys=SecretStr("owner-key"))
    for _ in range(2):
        assert client.post("/chat", json=ASK).status_code == 401  # counted: guessing is too
    limited = client.post("/chat", json=ASK)
    assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 60
    record = {p.record.request_id: p.record for p in request_queue.due(100)}
    assert record[limited.json()["request_id"]].http_status == 429
    # A client with a valid key is counted apart from the address it shares.
    owner = {"X-API-Key": "owner-key"}
    assert [client.post("/chat", json=ASK, headers=owner).status_code for _ in range(3)] == [
        200,
        200,
        429,
    ]


def test_forwarded_addresses_count_only_from_a_trusted_proxy(make_client: ClientFactory) -> None:
    def statuses(client_factory_options: dict[str, str]) -> list[int]:
        client = make_client(rate_limit="1/minute", **client_factory_options)
        return [
            client.post("/chat", json=ASK, headers={"X-Forwarded-For": visitor}).status_code
            for visitor in ("203.0.113.7", "198.51.100.9")
        ]

    # Behind the proxy (the test client's address): two visitors, one request each.
    assert statuses({"trusted_proxies": "testclient"}) == [200, 200]
    # From anyone else the header is ignored: one client, over its limit.
    assert statuses({}) == [200, 429]

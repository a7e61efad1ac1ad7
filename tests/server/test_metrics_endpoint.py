"""GET /metrics after real traffic through the API (offline twin, real store and outbox)."""

from __future__ import annotations

import hashlib

import pytest
from fastapi.testclient import TestClient
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.support.factories import ClientFactory
from twinself.pipeline.trace_ids import trace_id_for

SESSION = "visitor-7f3a"  # must never become a label


def samples(client: TestClient) -> list[Sample]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return [s for family in text_string_to_metric_families(response.text) for s in family.samples]


def value(found: list[Sample], name: str, **labels: str) -> float:
    matching = [s for s in found if s.name == name and labels.items() <= s.labels.items()]
    assert matching, f"no {name} with {labels}"
    return sum(s.value for s in matching)


@pytest.fixture
def traffic(make_client: ClientFactory) -> tuple[TestClient, list[str], str]:
    """The client after some traffic, the requests' ids, and its system prompt's hash."""
    client = make_client()
    ask = {"session_id": SESSION, "message": "Where do you work?"}
    request_ids = [client.post("/chat", json=ask).json()["request_id"]]
    with client.stream("POST", "/chat/stream", json=ask) as stream:
        assert stream.status_code == 200
        assert "event: metadata" in "".join(stream.iter_text())
    assert client.post("/chat", json={**ask, "message": "  "}).status_code == 400
    assert client.get(f"/runs/{request_ids[0]}").status_code == 200
    assert client.get("/runs/not-a-request").status_code == 404
    assert client.get("/no/such/path").status_code == 404
    suggestion = {"original_question": "q", "original_response": "a", "suggested_response": "b"}
    assert client.post("/api/edit-message/suggestion", json=suggestion).status_code == 200
    data_dir = client.app.state.services.settings.data_dir  # type: ignore[attr-defined]
    prompt = (data_dir / "system_prompts" / "system_prompt.md").read_text().strip()
    return client, request_ids, hashlib.sha256(prompt.encode()).hexdigest()[:12]


def test_http_requests_are_counted_by_route_template_and_status_class(
    traffic: tuple[TestClient, list[str], str],
) -> None:
    found = samples(traffic[0])
    http = "twinself_http_requests_total"
    assert value(found, http, endpoint="/chat", method="POST", status_class="2xx") == 1
    assert value(found, http, endpoint="/chat", method="POST", status_class="4xx") == 1
    assert value(found, http, endpoint="/chat/stream", status_class="2xx") == 1
    assert value(found, http, endpoint="/runs/{request_id}", status_class="2xx") == 1
    assert value(found, http, endpoint="/runs/{request_id}", status_class="4xx") == 1
    assert value(found, http, endpoint="unmatched", status_class="4xx") == 1
    duration = "twinself_http_request_duration_seconds_count"
    assert value(found, duration, endpoint="/chat/stream", method="POST") == 1


def test_answers_feed_the_gen_ai_and_twin_metrics(
    traffic: tuple[TestClient, list[str], str],
) -> None:
    found = samples(traffic[0])
    offline = {"gen_ai_operation_name": "chat", "gen_ai_provider_name": "twinself.offline"}
    # Two answers (one streamed); the empty message never reached the model.
    assert value(found, "gen_ai_client_operation_duration_seconds_count", **offline) == 2
    for token_type in ("input", "output"):
        tokens = "gen_ai_client_token_usage_count"
        assert value(found, tokens, gen_ai_token_type=token_type, estimated="true") == 2
    for memory in ("semantic", "episodic", "procedural"):
        assert value(found, "twinself_retrieval_duration_seconds_count", memory=memory) == 2
    # One query embedding per answer, by the bundled model, in process.
    embeddings = {
        "gen_ai_operation_name": "embeddings",
        "gen_ai_provider_name": "sentence_transformers",
        "gen_ai_request_model": "all-MiniLM-L6-v2",
        "error_type": "",
    }
    assert value(found, "gen_ai_client_operation_duration_seconds_count", **embeddings) == 2
    assert value(found, "twinself_time_to_first_token_seconds_count") == 1
    assert value(found, "twinself_feedback_received_total") == 1
    [info] = [s for s in found if s.name == "twinself_build_info"]
    assert info.labels["provider"] == "offline" and info.labels["data_version"].startswith("data-")
    assert info.labels["prompt_version"] == traffic[2]
    assert value(found, "twinself_daily_budget_usd") == 0  # none set


def test_the_daily_budget_is_a_gauge_from_the_settings(make_client: ClientFactory) -> None:
    found = samples(make_client(daily_budget_usd=2.5))
    assert value(found, "twinself_daily_budget_usd") == 2.5


def test_no_label_carries_a_session_or_request_id(
    traffic: tuple[TestClient, list[str], str],
) -> None:
    client, request_ids, _ = traffic
    labels = {v for s in samples(client) for v in s.labels.values()}
    assert not {SESSION, *request_ids} & labels
    assert not any("Where do you work" in v for v in labels)


def test_the_outbox_queues_are_read_at_scrape_time(
    traffic: tuple[TestClient, list[str], str],
) -> None:
    found = samples(traffic[0])
    # No shipper or evaluator runs here: everything the traffic left is still waiting.
    assert value(found, "twinself_outbox_backlog", queue="records") == 3  # 2 answers, 1 error
    assert value(found, "twinself_outbox_backlog", queue="evaluations") == 2
    assert value(found, "twinself_outbox_backlog", queue="feedback") == 1
    for queue in ("records", "evaluations", "feedback"):
        assert value(found, "twinself_outbox_oldest_age_seconds", queue=queue) > 0
        assert value(found, "twinself_outbox_failed", queue=queue) == 0


def test_an_openmetrics_scrape_links_gen_ai_durations_to_their_requests_traces(
    traffic: tuple[TestClient, list[str], str],
) -> None:
    client, request_ids, _ = traffic
    response = client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    found = [s for family in openmetrics_families(response.text) for s in family.samples]
    exemplars = {
        (s.labels["gen_ai_operation_name"], s.exemplar.labels["trace_id"])
        for s in found
        if s.name == "gen_ai_client_operation_duration_seconds_bucket" and s.exemplar
    }
    # Each bucket keeps its latest request: every exemplar names a recorded request's trace.
    requests = client.app.state.services.requests  # type: ignore[attr-defined]
    recorded = {trace_id_for(pending.record.request_id) for pending in requests.due(10)}
    assert trace_id_for(request_ids[0]) in recorded
    assert {operation for operation, _ in exemplars} == {"chat", "embeddings"}
    assert {trace for _, trace in exemplars} <= recorded


def test_a_chat_requests_duration_names_its_trace_and_a_scrapes_names_none(
    traffic: tuple[TestClient, list[str], str],
) -> None:
    client, request_ids, _ = traffic
    response = client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    found = [s for family in openmetrics_families(response.text) for s in family.samples]
    exemplars = {
        s.labels["endpoint"]: s.exemplar.labels["trace_id"]
        for s in found
        if s.name == "twinself_http_request_duration_seconds_bucket" and s.exemplar
    }
    # The middleware's request id is the one the record (and so the run and trace) carries.
    requests = client.app.state.services.requests  # type: ignore[attr-defined]
    recorded = {trace_id_for(pending.record.request_id) for pending in requests.due(10)}
    assert {trace_id_for(request_id) for request_id in request_ids} <= recorded
    assert exemplars.keys() == {"/chat", "/chat/stream"}  # no exemplar on /metrics, /runs, ...
    assert set(exemplars.values()) <= recorded

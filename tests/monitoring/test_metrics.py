"""The API's metric families: error kinds, cost, and the GenAI conventions' buckets."""

from __future__ import annotations

from dataclasses import replace

import pytest
from prometheus_client import CollectorRegistry

from tests.support.records import make_record
from twinself.monitoring.metrics import (
    OPERATION_DURATION_BUCKETS,
    TOKEN_USAGE_BUCKETS,
    TwinMetrics,
)


def test_provider_failures_count_by_kind_and_costs_by_model() -> None:
    metrics = TwinMetrics(CollectorRegistry())
    quota = replace(make_record(status="error"), error_type="ProviderQuotaExceeded", metrics={})
    answered = make_record(input_tokens=1000, output_tokens=10)
    for record in (quota, quota, answered):
        metrics.observe_request(record)
    registry = metrics.registry
    gemini = {"gen_ai_provider_name": "gcp.gemini"}
    assert (
        registry.get_sample_value("twinself_provider_errors_total", {"kind": "quota", **gemini})
        == 2
    )
    cost = registry.get_sample_value(
        "twinself_cost_usd_total",
        {"purpose": "chat", "gen_ai_request_model": "gemini-2.5-flash-lite"},
    )
    assert cost == pytest.approx(answered.metrics["total_cost_usd"])
    durations = "gen_ai_client_operation_duration_seconds_count"
    failed = {
        "error_type": "ProviderQuotaExceeded",
        "gen_ai_request_model": "gemini-2.5-flash-lite",
    }
    assert (
        registry.get_sample_value(durations, {"gen_ai_operation_name": "chat", **gemini, **failed})
        == 2
    )


def test_gen_ai_histograms_use_the_semantic_conventions_buckets() -> None:
    metrics = TwinMetrics(CollectorRegistry())
    metrics.observe_request(make_record())
    found = [s for family in metrics.registry.collect() for s in family.samples]
    bounds = {  # the same bounds for every label set (chat and embeddings, input and output)
        name: sorted(
            {float(s.labels["le"]) for s in found if s.name == name and s.labels["le"] != "+Inf"}
        )
        for name in (
            "gen_ai_client_operation_duration_seconds_bucket",
            "gen_ai_client_token_usage_bucket",
        )
    }
    assert bounds["gen_ai_client_operation_duration_seconds_bucket"] == list(
        OPERATION_DURATION_BUCKETS
    )
    token_bounds = bounds["gen_ai_client_token_usage_bucket"]
    assert token_bounds == [float(b) for b in TOKEN_USAGE_BUCKETS]


def test_the_query_embedding_is_a_gen_ai_embeddings_operation_named_by_its_model() -> None:
    metrics = TwinMetrics(CollectorRegistry())
    bundled = make_record()
    # EMBEDDING_MODEL may be a folder: the label is its name, not where it lives.
    folder = replace(
        bundled,
        spans=[
            replace(s, attributes={"model": "/srv/models/mini-v3"})
            if s.span_type == "EMBEDDING"
            else s
            for s in bundled.spans
        ],
    )
    for record in (bundled, folder):
        metrics.observe_request(record)

    def embeddings(model: str, sample: str) -> float | None:
        labels = {
            "gen_ai_operation_name": "embeddings",
            "gen_ai_provider_name": "sentence_transformers",
            "gen_ai_request_model": model,
            "error_type": "",
        }
        name = f"gen_ai_client_operation_duration_seconds_{sample}"
        return metrics.registry.get_sample_value(name, labels)

    assert embeddings("all-MiniLM-L6-v2", "count") == 1
    assert embeddings("all-MiniLM-L6-v2", "sum") == pytest.approx(0.001)  # the span's 1 ms
    assert embeddings("mini-v3", "count") == 1


def test_the_providers_error_and_spend_series_start_at_zero() -> None:
    metrics = TwinMetrics(CollectorRegistry())
    metrics.expect_provider("gemini", "gemini-2.5-flash")
    value = metrics.registry.get_sample_value
    for kind in ("quota", "timeout", "auth", "unavailable", "other"):
        labels = {"kind": kind, "gen_ai_provider_name": "gcp.gemini"}
        assert value("twinself_provider_errors_total", labels) == 0.0
    spend = {"purpose": "chat", "gen_ai_request_model": "gemini-2.5-flash"}
    assert value("twinself_cost_usd_total", spend) == 0.0

"""The API process's Prometheus metrics, on a registry passed in (each test gets its own).

Names follow the OpenTelemetry GenAI semantic conventions where they have one
(`gen_ai.client.operation.duration`, `gen_ai.client.token.usage`, with the bucket boundaries
the conventions give), with dots as underscores and the unit as a suffix, as Prometheus names
them; ours carry the `twinself_` prefix. Every label is bounded: route templates, providers,
models, memories, error kinds; never a session or request id, user text or an error message.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import PurePath

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from twinself.pipeline.records import RequestRecord
from twinself.pipeline.trace_ids import trace_id_for

# The conventions' ExplicitBucketBoundaries for the two GenAI client histograms.
OPERATION_DURATION_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
TOKEN_USAGE_BUCKETS = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
# Request and retrieval latencies of a twin: from a cached retrieval to a slow model.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

# gen_ai.provider.name: the conventions' well-known values where one applies.
PROVIDER_NAMES = {"gemini": "gcp.gemini", "openai": "openai", "offline": "twinself.offline"}
# twinself_provider_errors_total{kind}: how the seed's "Monitor Quota" becomes visible.
PROVIDER_ERROR_KINDS = {
    "ProviderQuotaExceeded": "quota",
    "ProviderTimeout": "timeout",
    "ProviderAuthError": "auth",
    "ProviderUnavailable": "unavailable",
    "ProviderBadResponse": "other",
    "ProviderRequestRejected": "other",
    "ProviderError": "other",
}
MEMORIES = ("semantic", "episodic", "procedural")
# The query embedding runs in process: the library is the provider.
EMBEDDING_PROVIDER = "sentence_transformers"


BUILD_LABELS = ("version", "data_version", "prompt_version", "provider", "model", "judge")


def multiprocess_directory() -> str | None:
    """prometheus-client's own switch (read when it is first imported): with
    PROMETHEUS_MULTIPROC_DIR set, every metric value lives in a file there, one per process,
    and a scrape sums the files; `twinself serve --workers N` sets it for N > 1."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def cost_counter(registry: CollectorRegistry) -> Counter:
    """`twinself_cost_usd_total{purpose, gen_ai_request_model}`: the API counts chat, the
    evaluator its judge; one name, so a query sums them, and Prometheus tells them by job."""
    return Counter(
        "twinself_cost_usd",
        "Spend in USD by purpose (chat: the answers; judge: the evaluator's LLM judge, as "
        "DeepEval prices it) and model.",
        ["purpose", "gen_ai_request_model"],
        registry=registry,
    )


class BuildInfoCollector(Collector):
    """`twinself_build_info{...} 1`, read at scrape time from what the answering process
    serves. Not an Info (multiprocess mode has none) nor a file-backed gauge, whose every past
    data version would stay in the files: one series, as this process describes it now."""

    def __init__(self) -> None:
        self.labels: dict[str, str] = dict.fromkeys(BUILD_LABELS, "")

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "twinself_build_info",
            "What is serving: twinself version, data version, prompt version (a hash of the "
            "system prompt), provider, model, judge.",
            labels=BUILD_LABELS,
        )
        family.add_metric([self.labels[name] for name in BUILD_LABELS], 1)
        yield family


class TwinMetrics:
    """What the API observes. `observe_request` takes every request record the recorder
    builds (answered, failed or cut off), so the metrics and MLflow count the same requests."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        # Served beside the metric objects' values: the build, the outbox gauges.
        self._collectors: list[Collector] = []
        gen_ai = ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model"]
        self.operation_duration = Histogram(
            "gen_ai_client_operation_duration_seconds",
            "GenAI operation duration.",
            [*gen_ai, "error_type"],
            buckets=OPERATION_DURATION_BUCKETS,
            registry=registry,
        )
        self.token_usage = Histogram(
            "gen_ai_client_token_usage",
            "Number of input and output tokens used (estimated=true: counted by twinself, "
            "the provider reported none).",
            [*gen_ai, "gen_ai_token_type", "estimated"],
            buckets=TOKEN_USAGE_BUCKETS,
            registry=registry,
        )
        self.http_requests = Counter(
            "twinself_http_requests",
            "HTTP requests by route and status class.",
            ["endpoint", "method", "status_class"],
            registry=registry,
        )
        self.http_duration = Histogram(
            "twinself_http_request_duration_seconds",
            "Time from a request's arrival to its response (streams: to the last byte).",
            ["endpoint", "method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.time_to_first_token = Histogram(
            "twinself_time_to_first_token_seconds",
            "Streamed answers: time from the request to the first text chunk.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.retrieval_duration = Histogram(
            "twinself_retrieval_duration_seconds",
            "Vector search time per memory.",
            ["memory"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.provider_errors = Counter(
            "twinself_provider_errors",
            "Model provider failures by kind (quota, timeout, auth, unavailable, other).",
            ["kind", "gen_ai_provider_name"],
            registry=registry,
        )
        self.cost = cost_counter(registry)
        self.feedback_received = Counter(
            "twinself_feedback_received",
            "Suggested answers received.",
            registry=registry,
        )
        self.outbox_write_errors = Counter(
            "twinself_outbox_write_errors",
            "Request records the outbox refused (disk full, read-only); chat answers 503 then.",
            registry=registry,
        )
        self.build_info = BuildInfoCollector()
        self.add_collector(self.build_info)
        self.daily_budget = Gauge(
            "twinself_daily_budget_usd",
            "The owner's daily spend budget in USD (TWINSELF_DAILY_BUDGET_USD; 0 = none set).",
            registry=registry,
            # Every worker process sets the same value: one series, not one per process.
            multiprocess_mode="max",
        )

    def observe_request(self, record: RequestRecord) -> None:
        provider, model = record.params.get("provider", ""), record.params.get("model", "")
        gen_ai = {
            "gen_ai_operation_name": "chat",
            "gen_ai_provider_name": PROVIDER_NAMES.get(provider, provider or "_OTHER"),
            "gen_ai_request_model": model,
        }
        kind = PROVIDER_ERROR_KINDS.get(record.error_type)
        metrics = record.metrics
        # The request's MLflow trace (its id follows from the request id): shown as an
        # exemplar in OpenMetrics scrapes, never a label.
        exemplar = {"trace_id": trace_id_for(record.request_id)}
        if "response_time_seconds" in metrics or kind is not None:
            # A provider call happened: it answered, or it failed in a way that is its own.
            seconds = metrics.get("response_time_seconds", metrics.get("total_time_seconds", 0))
            error = record.error_type if record.status != "success" else ""
            self.operation_duration.labels(**gen_ai, error_type=error).observe(seconds, exemplar)
        if kind is not None:
            self.provider_errors.labels(kind, gen_ai["gen_ai_provider_name"]).inc()
        estimated = record.tags.get("tokens_estimated", "false")
        for token_type in ("input", "output"):
            count = metrics.get(f"{token_type}_tokens")
            if count is not None:
                self.token_usage.labels(
                    **gen_ai, gen_ai_token_type=token_type, estimated=estimated
                ).observe(count)
        cost = metrics.get("total_cost_usd", 0.0)
        if cost > 0:
            self.cost.labels("chat", model).inc(cost)
        for span in record.spans:
            seconds = (span.end_ns - span.start_ns) / 1e9
            memory = span.name.removeprefix("retrieve_")
            if span.span_type == "RETRIEVER" and memory in MEMORIES:
                self.retrieval_duration.labels(memory).observe(seconds)
            elif span.span_type == "EMBEDDING":
                self.operation_duration.labels(
                    gen_ai_operation_name="embeddings",
                    gen_ai_provider_name=EMBEDDING_PROVIDER,
                    # EMBEDDING_MODEL may be a folder: its name, not where it lives.
                    gen_ai_request_model=PurePath(str(span.attributes.get("model", ""))).name,
                    error_type="",
                ).observe(seconds, exemplar)

    def expect_provider(self, provider: str, model: str) -> None:
        """The provider's error and spend series at zero from the start: rate() and increase()
        cannot see the first increment of a series that is born at 1 (a first quota error)."""
        provider_name = PROVIDER_NAMES.get(provider, provider or "_OTHER")
        for kind in sorted(set(PROVIDER_ERROR_KINDS.values())):
            self.provider_errors.labels(kind, provider_name)
        self.cost.labels("chat", model)  # the offline answerer's stays at 0: shown, not "no data"

    def observe_http(
        self, endpoint: str, method: str, status: int, seconds: float, trace_id: str | None = None
    ) -> None:
        self.http_requests.labels(endpoint, method, f"{status // 100}xx").inc()
        exemplar = {"trace_id": trace_id} if trace_id else None
        self.http_duration.labels(endpoint, method).observe(seconds, exemplar)

    def describe_build(self, **values: str) -> None:
        self.build_info.labels = {name: values.get(name, "") for name in BUILD_LABELS}

    def add_collector(self, collector: Collector) -> None:
        """A collector read at scrape time, served once whatever the number of processes."""
        self._collectors.append(collector)
        self.registry.register(collector)

    def exposition_registry(self) -> CollectorRegistry:
        """What GET /metrics encodes. One process: its own registry. Several API processes
        (multiprocess mode): the sum over every process's files, plus the scrape-time
        collectors once. That mode keeps no exemplars (prometheus-client drops them)."""
        directory = multiprocess_directory()
        if directory is None:
            return self.registry
        registry = CollectorRegistry()
        MultiProcessCollector(registry, directory)  # type: ignore[no-untyped-call]
        for collector in self._collectors:
            registry.register(collector)
        return registry

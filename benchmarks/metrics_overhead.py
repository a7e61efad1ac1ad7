"""What do the Prometheus metrics cost? Per request, and per scrape once traffic has built up.

- per request: the work the API adds to every answer (`observe_request` on its record, and
  `observe_http` from the middleware), timed one request at a time over 10,000 requests with
  a mix of providers, models and errors, against the same loop with nothing observed;
- per scrape: `GET /metrics`'s exposition after those 10,000 requests, with an outbox of 10,000
  waiting records read at scrape time: the classic text format, and OpenMetrics (what
  Prometheus asks for; it carries the trace-id exemplars).

Targets (issue 11): < 0.2 ms added per request at p50; a scrape < 50 ms after 10,000 requests.

    .venv/bin/python benchmarks/metrics_overhead.py [REQUESTS]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from twinself.monitoring.metrics import TwinMetrics
from twinself.monitoring.outbox_metrics import OutboxCollector
from twinself.pipeline.evaluation_queue import EvaluationQueue
from twinself.pipeline.feedback_queue import FeedbackQueue
from twinself.pipeline.outbox import Outbox
from twinself.pipeline.records import RequestRecord, SpanRecord
from twinself.pipeline.request_queue import RequestQueue
from twinself.pipeline.trace_ids import trace_id_for

MODELS = [("gemini", "gemini-2.5-flash-lite"), ("openai", "llama3.2"), ("offline", "extractive-v1")]
ERRORS = ["", "", "", "", "ProviderQuotaExceeded", "ProviderTimeout"]


def record(index: int) -> RequestRecord:
    provider, model = MODELS[index % len(MODELS)]
    error = ERRORS[index % len(ERRORS)]
    start = time.time_ns()
    embedding = SpanRecord(
        "embed_query", "EMBEDDING", start, start + 900_000, attributes={"model": "all-MiniLM-L6-v2"}
    )
    spans = [embedding] + [
        SpanRecord(f"retrieve_{m}", "RETRIEVER", start + i * 1_000_000, start + (i + 1) * 1_000_000)
        for i, m in enumerate(("semantic", "episodic", "procedural"))
    ]
    metrics = {"total_time_seconds": 0.4}
    if not error:
        metrics |= {
            "input_tokens": 800.0 + index % 50,
            "output_tokens": 40.0 + index % 7,
            "response_time_seconds": 0.35,
            "total_cost_usd": 0.0001,
        }
    return RequestRecord(
        request_id=uuid.uuid4().hex,
        session_id="bench",
        created_at=time.time(),
        status="error" if error else "success",
        endpoint="chat",
        http_status=503 if error else 200,
        params={"provider": provider, "model": model, "data_version": "v1"},
        metrics=metrics,
        tags={"tokens_estimated": str(provider == "offline").lower()},
        spans=[] if error else spans,
        error_type=error,
    )


def per_request_microseconds(requests: int) -> tuple[list[float], list[float]]:
    metrics = TwinMetrics(CollectorRegistry())
    records = [record(i) for i in range(requests)]
    observed, baseline = [], []
    for index, item in enumerate(records):  # interleaved, so drift hits both alike
        started = time.perf_counter_ns()
        metrics.observe_request(item)
        trace_id = trace_id_for(item.request_id)  # what the middleware adds for a chat route
        metrics.observe_http("/chat", "POST", item.http_status, 0.4, trace_id)
        observed.append((time.perf_counter_ns() - started) / 1000)
        started = time.perf_counter_ns()
        _ = (records[index - 1], item.http_status // 100)  # the loop's own cost, observed nothing
        baseline.append((time.perf_counter_ns() - started) / 1000)
    return observed, baseline


def scrape_milliseconds(
    requests: int, encode: Callable[[CollectorRegistry], bytes], scrapes: int = 20
) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as folder:
        outbox = Outbox(Path(folder) / "outbox.sqlite3")
        queue = RequestQueue(outbox)
        for index in range(requests):
            queue.append(record(index))
        metrics = TwinMetrics(CollectorRegistry())
        for index in range(requests):
            metrics.observe_request(record(index))
        metrics.add_collector(
            OutboxCollector(queue, FeedbackQueue(outbox), EvaluationQueue(outbox))
        )
        times = []
        for _ in range(scrapes):
            started = time.perf_counter()
            body = encode(metrics.exposition_registry())
            times.append((time.perf_counter() - started) * 1000)
        outbox.close()
    return statistics.median(times), len(body)


def main() -> int:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    observed, baseline = per_request_microseconds(requests)
    p50 = statistics.median(observed) - statistics.median(baseline)
    p99 = sorted(observed)[int(len(observed) * 0.99)] - statistics.median(baseline)
    print(f"requests: {requests}")
    print(f"added per request: p50 {p50:.1f} us, p99 {p99:.1f} us (target p50 < 200 us)")
    slowest = 0.0
    for name, encode in (("text", generate_latest), ("OpenMetrics", generate_openmetrics)):
        scrape, size = scrape_milliseconds(requests, encode)
        slowest = max(slowest, scrape)
        print(f"{name} scrape after {requests} requests and outbox rows: {scrape:.2f} ms, {size} B")
    print("target: < 50 ms")
    return 0 if p50 < 200 and slowest < 50 else 1


if __name__ == "__main__":
    sys.exit(main())

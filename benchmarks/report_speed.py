"""How long does `twinself report` take over a busy week? 10,000 request runs in a local
`mlflow server` on SQLite (as `twinself serve --mlflow-ui` runs it), then the report end to end
(search + figures + plots + HTML), over HTTP and straight on the SQLite store (the default when
MLFLOW_TRACKING_URI is unset). Target: < 10 s for 10,000 runs. Also: the search alone per page
size (MLflow's max_results), and the size of the page.

The runs are written straight into MLflow's tables for the set-up only (10,000 runs through the
API would take minutes); their tags, params and metrics are the shipper's and the evaluator's
own (`run_tags`, the record's params and metrics, `EvaluationResult.mlflow_*`).

    .venv/bin/python benchmarks/report_speed.py [RUNS]
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _sample_twin import benchmark_settings, free_port, wait_for
from mlflow import MlflowClient
from mlflow.store.tracking.dbmodels.models import (
    SqlLatestMetric,
    SqlMetric,
    SqlParam,
    SqlRun,
    SqlTag,
)
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

from twinself.evaluation.results import EvaluationResult, MetricResult
from twinself.mlflow_server.local_server import mlflow_server_command, use_wal_journal
from twinself.pipeline.mlflow_run import millis, run_tags
from twinself.pipeline.records import QUALITY_EVALUATION_TAG, RequestRecord
from twinself.pipeline.trace_ids import trace_id_for
from twinself.reporting.mlflow_source import SEARCH_WINDOWS, ReportSource
from twinself.reporting.period import ReportPeriod
from twinself.reporting.run_rows import search_rows
from twinself.reporting.weekly_review import build_review

EXPERIMENT = "twinself_production"
TARGET_SECONDS = 10.0
END = datetime(2026, 11, 30, tzinfo=UTC)
PERIOD = ReportPeriod(END - timedelta(days=7), END)


def request_run(index: int, rng: random.Random) -> tuple[RequestRecord, EvaluationResult | None]:
    created = PERIOD.start.timestamp() + rng.uniform(0, 7 * 86400)
    failed = rng.random() < 0.05
    tokens_in, tokens_out = rng.randint(300, 1500), rng.randint(20, 300)
    record = RequestRecord(
        request_id=uuid.uuid4().hex,
        session_id=f"session-{index % 500}",
        created_at=created,
        status="error" if failed else "success",
        endpoint="/chat/stream",
        http_status=502 if failed else 200,
        params={
            "session_id": f"session-{index % 500}",
            "message_length": str(rng.randint(10, 300)),
            "conversation_length": str(rng.randint(0, 12)),
            "provider": "gemini",
            "model": "gemini-2.5-flash-lite",
            "data_version": "v1_20261110" if created < PERIOD.start.timestamp() + 4 * 86400
            else "v2_20261127",
        },
        metrics={"total_time_seconds": rng.uniform(0.2, 1.0)} if failed else {
            "input_tokens": tokens_in, "output_tokens": tokens_out,
            "total_tokens": tokens_in + tokens_out,
            "response_time_seconds": rng.uniform(0.3, 2.5), "retrieval_time_seconds": 0.02,
            "input_cost_usd": tokens_in * 1e-7, "output_cost_usd": tokens_out * 4e-7,
            "total_cost_usd": tokens_in * 1e-7 + tokens_out * 4e-7,
            "total_time_seconds": rng.uniform(0.4, 3.0),
        },
        tags={"status": "error" if failed else "success",
              "error_type": "ProviderUnavailable" if failed else "",
              QUALITY_EVALUATION_TAG: "disabled" if failed else "not_sampled"},
        error_type="ProviderUnavailable" if failed else "",
    )  # fmt: skip
    if failed or rng.random() < 0.4:
        return record, None
    reason = "The answer addresses the question with one specific fact. " * 6  # ~350 chars
    return record, EvaluationResult(
        "gemini-2.5-flash",
        MetricResult(rng.betavariate(5, 1.5), 0.7, reason),
        MetricResult(rng.betavariate(6, 1.2), 0.7, reason),
        seconds=rng.uniform(1, 4),
        cost_usd=0.0004,
    )


def fill(database: Path, runs: int) -> None:
    """Runs as the shipper and the evaluator leave them, inserted in bulk."""
    uri = f"sqlite:///{database}"
    store = SqlAlchemyStore(uri, (database.parent / "artifacts").as_uri())
    experiment_id = MlflowClient(uri).create_experiment(EXPERIMENT)
    rng = random.Random(7)
    tables: dict[type, list[dict[str, object]]] = {
        SqlRun: [],
        SqlMetric: [],
        SqlLatestMetric: [],
        SqlParam: [],
        SqlTag: [],
    }
    for index in range(runs):
        record, result = request_run(index, rng)
        run_id = uuid.uuid4().hex
        start = millis(record.created_at)
        tags = run_tags(record, trace_id_for(record.request_id))
        metrics = dict(record.metrics)
        if result is not None:
            tags |= {**result.mlflow_tags(), QUALITY_EVALUATION_TAG: "evaluated"}
            metrics |= result.mlflow_metrics()
        tables[SqlRun].append({
            "run_uuid": run_id, "name": f"chat-{record.request_id[:8]}", "source_type": "LOCAL",
            "source_name": "", "entry_point_name": "", "user_id": "twinself",
            "status": "FINISHED" if record.status == "success" else "FAILED",
            "start_time": start, "end_time": start + 2000, "source_version": "",
            "lifecycle_stage": "active", "artifact_uri": "", "experiment_id": int(experiment_id),
        })  # fmt: skip
        for key, value in metrics.items():
            row = {"key": key, "value": float(value), "timestamp": start, "step": 0,
                   "is_nan": False, "run_uuid": run_id}  # fmt: skip
            tables[SqlMetric].append(row)
            tables[SqlLatestMetric].append(row)
        tables[SqlParam] += [
            {"key": k, "value": v, "run_uuid": run_id} for k, v in record.params.items()
        ]
        tables[SqlTag] += [{"key": k, "value": v, "run_uuid": run_id} for k, v in tags.items()]
    with store.ManagedSessionMaker() as session:
        for model, rows in tables.items():
            session.bulk_insert_mappings(model, rows)
    store.engine.dispose()


def timed_review(uri: str, page_size: int) -> tuple[float, int, int, dict[str, float]]:
    started = time.perf_counter()
    review = build_review(
        ReportSource(uri, EXPERIMENT), PERIOD, now=END, outbox_path=None, page_size=page_size
    )
    seconds = time.perf_counter() - started
    assert review.html is not None
    return seconds, review.figures.runs_read, len(review.html.encode()), review.seconds


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    home = Path(tempfile.mkdtemp(prefix="twinself-report-bench-"))
    database = home / "mlflow.db"
    use_wal_journal(database)
    started = time.perf_counter()
    fill(database, runs)
    print(f"set-up: {runs} runs written in {time.perf_counter() - started:.1f} s")
    port = free_port()
    # The server `twinself serve --mlflow-ui` starts, on this store.
    command = mlflow_server_command(benchmark_settings(home), port)
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{uri}/health", 120)
        client = MlflowClient(uri)
        experiment = client.get_experiment_by_name(EXPERIMENT)
        assert experiment is not None
        print("search alone over HTTP, by page size (max_results):")
        for page_size in (1000, 10_000, 50_000):
            began = time.perf_counter()
            found = sum(1 for _ in search_rows(
                client, experiment.experiment_id, PERIOD.start_ms, PERIOD.end_ms, page_size
            ))  # fmt: skip
            print(f"  {page_size:>6}: {time.perf_counter() - began:5.2f} s ({found} runs)")
        began = time.perf_counter()
        found = len(ReportSource(uri, EXPERIMENT).rows(PERIOD))
        print(f"search in {SEARCH_WINDOWS} parallel time windows: "
              f"{time.perf_counter() - began:5.2f} s ({found} runs)")  # fmt: skip
        worst = 0.0
        for name, target in (
            ("HTTP (mlflow server)", uri),
            ("SQLite store", f"sqlite:///{database}"),
        ):
            seconds, read, size, parts = timed_review(target, 5000)
            worst = max(worst, seconds)
            split = ", ".join(f"{k} {v:.2f} s" for k, v in parts.items())
            print(f"report end to end, {name}: {seconds:.2f} s for {read} runs ({split}); "
                  f"HTML {size / 1024:.0f} KiB")  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)
    verdict = "PASS" if worst < TARGET_SECONDS else "FAIL"
    print(f"{verdict}: slowest report {worst:.2f} s (target < {TARGET_SECONDS:.0f} s)")
    if worst >= TARGET_SECONDS:
        sys.exit(1)


if __name__ == "__main__":
    main()

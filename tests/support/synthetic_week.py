"""A synthetic week of request runs for the report's tests: records shaped by the shipper's
own code over six days and two data versions (a second model on the later one), and one day of
errors only; what each run should count for (`Expected`), made or read back."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Metric, Param

from tests.support.records import make_record
from twinself.evaluation.results import EvaluationResult, MetricResult
from twinself.pipeline.mlflow_run import millis, run_tags
from twinself.pipeline.mlflow_sink import MlflowRunSink
from twinself.pipeline.outbox import Outbox
from twinself.pipeline.records import QUALITY_EVALUATION_TAG, RequestRecord
from twinself.pipeline.request_queue import RequestQueue
from twinself.pipeline.shipper import Shipper
from twinself.pipeline.trace_ids import trace_id_for

# The worst answer of the week, with markup a page must show as text.
EVIL = "<script>alert('owned')</script> What is your salary?"


@dataclass(frozen=True)
class Expected:
    """One request run as this test made it."""

    day: date
    data_version: str
    model: str
    status: str
    error_type: str
    total_seconds: float | None
    relevancy: float | None
    faithfulness: float | None
    cost_usd: float
    input_tokens: float
    output_tokens: float
    judge_usd: float


def synthetic_records(today: date, rng: random.Random) -> list[tuple[RequestRecord, Any]]:
    """Six days before today, v1 then v2 (and a second model on v2); one day of errors only."""
    made: list[tuple[RequestRecord, Any]] = []
    for k in range(6):
        day = today - timedelta(days=6 - k)
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
        version = "v1_20261101" if k < 3 else "v2_20261120"
        for j in range(30 + 3 * k):
            openai = k >= 4 and j % 3 == 0
            status = "error" if rng.random() < 0.1 else "success"
            record = make_record(
                j,
                status=status,  # type: ignore[arg-type]
                created_at=midnight + 3600 + j * 13 * 60,
                input_tokens=rng.randint(200, 900),
                output_tokens=rng.randint(20, 200),
                quality_evaluation="evaluating_in_background"
                if status == "success"
                else "disabled",
            )
            params = {
                **record.params,
                "data_version": version,
                **({"provider": "openai", "model": "gpt-4o-mini"} if openai else {}),
            }
            seconds = rng.uniform(0.3, 3.0) * (0.6 if k >= 3 else 1.0)
            if status == "error":
                error_type = rng.choice(["ProviderUnavailable", "ProviderQuotaExceeded"])
                record = replace(
                    record,
                    params=params,
                    metrics={"total_time_seconds": seconds},
                    error_type=error_type,
                    tags={**record.tags, "error_type": error_type},
                )
                made.append((record, None))
                continue
            record = replace(
                record, params=params, metrics={**record.metrics, "total_time_seconds": seconds}
            )
            draw = rng.random()
            outcome: Any
            if draw < 0.6:
                lift = 0.15 if k >= 3 else 0.0
                outcome = (
                    min(1.0, rng.uniform(0.3, 0.9) + lift),
                    min(1.0, rng.uniform(0.4, 0.9) + lift),
                )
            elif draw < 0.8:
                record = replace(record, tags={**record.tags, "quality_evaluation": "not_sampled"})
                outcome = None
            else:
                outcome = "dead_letter" if draw < 0.9 else "failed"
            made.append((record, outcome))
    # The worst answer of all, with markup a page must not run.
    evil = next(i for i, (r, o) in enumerate(made) if isinstance(o, tuple))
    record = made[evil][0]
    assert record.root is not None
    made[evil] = (
        replace(
            record,
            question=EVIL,
            root=replace(record.root, inputs={"message": EVIL, "session_id": "s"}),
        ),
        (0.01, 0.02),
    )
    errors_day = today - timedelta(days=8)
    midnight = datetime(errors_day.year, errors_day.month, errors_day.day, tzinfo=UTC).timestamp()
    for j in range(3):
        record = make_record(j, status="error", created_at=midnight + 7200 + j * 60)
        made.append((replace(record, metrics={"total_time_seconds": 0.2}), None))
    return made


def expected_of(record: RequestRecord, scores: tuple[float, float] | None) -> Expected:
    metrics = record.metrics
    return Expected(
        day=datetime.fromtimestamp(record.created_at, UTC).date(),
        data_version=record.params["data_version"],
        model=f"{record.params['provider']}/{record.params['model']}",
        status=record.status,
        error_type=record.error_type,
        total_seconds=metrics.get("total_time_seconds"),
        relevancy=scores[0] if scores else None,
        faithfulness=scores[1] if scores else None,
        cost_usd=metrics.get("total_cost_usd", 0.0),
        input_tokens=metrics.get("input_tokens", 0.0),
        output_tokens=metrics.get("output_tokens", 0.0),
        judge_usd=0.0002 if scores else 0.0,
    )


def _result(scores: tuple[float, float]) -> EvaluationResult:
    return EvaluationResult(
        "local-embedding",
        MetricResult(scores[0], 0.7, "The answer <b>misses</b> the question."),
        MetricResult(scores[1], 0.7, "ok"),
        seconds=0.5,
        cost_usd=0.0002,
    )


def ship_synthetic(
    root: Path, sink: MlflowRunSink, experiment_name: str, made: list[tuple[RequestRecord, Any]]
) -> None:
    """The answers that can rank among the worst go the whole way (shipper: run and trace;
    evaluator's sink: scores on run and trace); the others get the same run (the shipper's own
    tags, params and metrics, the evaluation's metrics and tags) in two calls, 10x faster."""
    judged = sorted((min(o), r.request_id) for r, o in made if isinstance(o, tuple))
    whole_way = {request_id for _, request_id in judged[:20]}
    outbox = Outbox(root / "synthetic" / "outbox.sqlite3")
    try:
        queue = RequestQueue(outbox)
        for record, _ in made:
            if record.request_id in whole_way:
                queue.append(record)
        assert Shipper(outbox, sink, batch_size=50, poll_seconds=0.01).drain().shipped == 20
        client = MlflowClient(sink.tracking_uri)
        sink.check_connection()
        experiment = client.get_experiment_by_name(experiment_name)
        assert experiment is not None
        for record, outcome in made:
            if record.request_id in whole_way:
                state = queue.state(record.request_id)
                assert state is not None and state.run_id is not None
                sink.log_evaluation(state.run_id, state.trace_id, _result(outcome))
                continue
            _create_run(client, experiment.experiment_id, record, outcome)
    finally:
        outbox.close()


def _create_run(
    client: MlflowClient, experiment_id: str, record: RequestRecord, outcome: Any
) -> None:
    tags = run_tags(record, trace_id_for(record.request_id))
    metrics = dict(record.metrics)
    if isinstance(outcome, tuple):
        result = _result(outcome)
        tags |= {**result.mlflow_tags(), QUALITY_EVALUATION_TAG: "evaluated"}
        metrics |= result.mlflow_metrics()
    elif outcome is not None:
        tags[QUALITY_EVALUATION_TAG] = outcome
    run = client.create_run(experiment_id, start_time=millis(record.created_at), tags=tags)
    client.log_batch(
        run.info.run_id,
        metrics=[Metric(k, v, millis(record.created_at), 0) for k, v in metrics.items()],
        params=[Param(k, v) for k, v in record.params.items()],
    )


def read_back(uri: str, home: Path) -> list[Expected]:
    """The real requests as their runs hold them (latency and scores are the app's own)."""
    client = MlflowClient(uri)
    outbox = Outbox(home / "outbox.sqlite3")
    try:  # the answered requests and the refused one
        run_ids = [r[0] for r in outbox.connection().execute("SELECT run_id FROM requests")]
    finally:
        outbox.close()
    assert len(run_ids) == 6
    rows = []
    for run_id in run_ids:
        run = client.get_run(run_id)
        m, p, t = run.data.metrics, run.data.params, run.data.tags
        rows.append(
            Expected(
                day=datetime.fromtimestamp(run.info.start_time / 1000, UTC).date(),
                data_version=p["data_version"],
                model=f"{p['provider']}/{p['model']}",
                status=t["status"],
                error_type=t["error_type"],
                total_seconds=m.get("total_time_seconds"),
                relevancy=m.get("deepeval_answer_relevancy"),
                faithfulness=m.get("deepeval_faithfulness"),
                cost_usd=m.get("total_cost_usd", 0.0),
                input_tokens=m.get("input_tokens", 0.0),
                output_tokens=m.get("output_tokens", 0.0),
                judge_usd=m.get("evaluation_cost_usd", 0.0),
            )
        )
    return rows

"""Queued evaluations are judged once and logged once to their request's real MLflow run."""

from __future__ import annotations

import asyncio
import random

import pytest
from mlflow import MlflowClient
from mlflow.entities import AssessmentSourceType
from prometheus_client import CollectorRegistry

from tests.support.clock import FakeClock
from tests.support.factories import SinkFactory
from tests.support.records import make_record
from twinself.embedding.sentence_transformer import SentenceTransformerEmbedder
from twinself.evaluation.judges import Judge
from twinself.evaluation.local_judge import JUDGE_NAME, LocalJudge
from twinself.evaluation.local_metrics import LocalAnswerRelevancyMetric, LocalFaithfulnessMetric
from twinself.evaluation.results import EvaluationResult
from twinself.monitoring.worker_metrics import EvaluatorMetrics
from twinself.pipeline.evaluation_worker import EvaluationWorker
from twinself.pipeline.mlflow_sink import MlflowRunSink
from twinself.pipeline.outbox import Outbox
from twinself.pipeline.records import EvaluationJob, RequestRecord
from twinself.pipeline.request_queue import RequestQueue
from twinself.pipeline.shipper import Shipper
from twinself.pipeline.trace_ids import trace_id_for

CONTEXT = [
    "Maya works at Solvik, a logistics company in Gothenburg, as a senior data engineer.",
    "She joined Solvik in 2019 after four years at a bank.",
]
FAITHFUL = "I work at Solvik in Gothenburg as a senior data engineer. I joined Solvik in 2019."
UNFAITHFUL = "I work at Solvik in Oslo as a senior data engineer. I joined Solvik in 2021."


@pytest.fixture
def local_judge(embedder: SentenceTransformerEmbedder) -> Judge:
    judge = LocalJudge(embedder)
    return Judge(
        JUDGE_NAME,
        lambda: (LocalAnswerRelevancyMetric(judge, 0.7), LocalFaithfulnessMetric(judge, 0.7)),
    )


def enqueue(
    requests: RequestQueue, answer: str, question: str = "Where do you work?"
) -> RequestRecord:
    """A sampled answer, recorded as the server records it: with its evaluation job."""
    record = make_record(quality_evaluation="evaluating_in_background")
    requests.append(record, EvaluationJob(record.request_id, question, answer, CONTEXT))
    return record


def ship(outbox: Outbox, sink: MlflowRunSink) -> None:
    Shipper(outbox, sink, batch_size=10, poll_seconds=0.1).drain()


def worker_for(
    outbox: Outbox,
    sink: MlflowRunSink,
    judge: Judge,
    clock: FakeClock,
    observer: EvaluatorMetrics | None = None,
    **options: float,
) -> EvaluationWorker:
    settings: dict[str, float] = {"concurrency": 2, "timeout_seconds": 30, "max_attempts": 3}
    settings.update(options)
    return EvaluationWorker(
        outbox,
        sink,
        judge,
        rng=random.Random(1),
        clock=clock,
        observer=observer,
        **settings,  # type: ignore[arg-type]
    )


def test_scores_land_on_the_run_and_the_trace_exactly_once(
    outbox: Outbox,
    request_queue: RequestQueue,
    make_sink: SinkFactory,
    tracking_uri: str,
    local_judge: Judge,
    clock: FakeClock,
) -> None:
    sink = make_sink(tracking_uri)
    good, bad = enqueue(request_queue, FAITHFUL), enqueue(request_queue, UNFAITHFUL)
    ship(outbox, sink)
    client = MlflowClient(tracking_uri)
    shipped = request_queue.state(good.request_id)
    assert shipped is not None and shipped.run_id is not None
    assert client.get_run(shipped.run_id).data.tags["quality_evaluation"] == (
        "evaluating_in_background"
    )
    worker = worker_for(outbox, sink, local_judge, clock)

    counts = asyncio.run(worker.drain())

    assert counts.done == 2
    runs = {}
    for record in (good, bad):
        state = request_queue.state(record.request_id)
        assert state is not None and state.run_id is not None
        runs[record.request_id] = client.get_run(state.run_id)
    good_run, bad_run = runs[good.request_id], runs[bad.request_id]
    assert good_run.data.metrics["deepeval_faithfulness"] == 1.0
    assert good_run.data.metrics["deepeval_faithfulness_passed"] == 1.0
    assert bad_run.data.metrics["deepeval_faithfulness"] < 0.5  # graded: two wrong facts
    assert bad_run.data.metrics["deepeval_faithfulness_passed"] == 0.0
    assert "oslo" in bad_run.data.tags["deepeval_faithfulness_reason"].lower()
    for run in (good_run, bad_run):
        assert run.data.tags["deepeval_judge"] == JUDGE_NAME
        assert run.data.tags["quality_evaluation"] == "evaluated"
        assert 0.0 <= run.data.metrics["deepeval_answer_relevancy"] <= 1.0
        assert run.data.metrics["evaluation_time_seconds"] > 0
    trace = client.get_trace(trace_id_for(good.request_id))
    assessments = {a.name: a for a in trace.info.assessments}
    assert set(assessments) == {"answer_relevancy", "faithfulness"}
    assert assessments["faithfulness"].feedback.value == 1.0
    assert assessments["faithfulness"].source.source_type == AssessmentSourceType.LLM_JUDGE
    assert assessments["faithfulness"].source.source_id == JUDGE_NAME

    # Logging again (as after a crash before mark_done) adds nothing.
    job = worker.queue.get(good.request_id)
    assert job is not None and job.status == "done" and job.result is not None
    assert not sink.log_evaluation(
        good_run.info.run_id, None, EvaluationResult.from_dict(job.result)
    )
    history = client.get_metric_history(good_run.info.run_id, "deepeval_faithfulness")
    assert len(history) == 1
    assert len(client.get_trace(trace_id_for(good.request_id)).info.assessments) == 2
    # A late dead-letter tag cannot undo scores that are there.
    sink.end_quality_evaluation(good_run.info.run_id, "dead_letter")
    assert client.get_run(good_run.info.run_id).data.tags["quality_evaluation"] == "evaluated"


def test_an_evaluation_waits_for_its_run_then_logs(
    outbox: Outbox,
    request_queue: RequestQueue,
    make_sink: SinkFactory,
    sqlite_uri: str,
    local_judge: Judge,
    clock: FakeClock,
) -> None:
    sink = make_sink(sqlite_uri)
    record = enqueue(request_queue, FAITHFUL)
    worker = worker_for(outbox, sink, local_judge, clock)

    first = asyncio.run(worker.run_pass())

    assert (first.claimed, first.waiting, first.done) == (1, 1, 0)
    job = worker.queue.get(record.request_id)
    assert job is not None and job.status == "scored" and job.result is not None
    assert job.last_error == "waiting for the request's run to ship"

    ship(outbox, sink)
    assert asyncio.run(worker.run_pass()).claimed == 0  # it looks again after a second
    clock.advance(1.0)
    second = asyncio.run(worker.run_pass())

    assert (second.claimed, second.done) == (1, 1)
    state = request_queue.state(record.request_id)
    assert state is not None and state.run_id is not None
    run = MlflowClient(sqlite_uri).get_run(state.run_id)
    assert run.data.metrics["deepeval_faithfulness"] == 1.0
    assert worker.queue.backlog().counts["done"] == 1


def test_a_request_that_never_ships_makes_a_dead_letter_with_no_run_to_tag(
    outbox: Outbox,
    request_queue: RequestQueue,
    make_sink: SinkFactory,
    sqlite_uri: str,
    local_judge: Judge,
    clock: FakeClock,
) -> None:
    record = enqueue(request_queue, FAITHFUL)
    request_queue.mark_retry(record.request_id, "MLflow said no", 0, give_up=True)
    worker = worker_for(outbox, make_sink(sqlite_uri), local_judge, clock)

    counts = asyncio.run(worker.drain())

    assert (counts.dead, counts.tagged) == (1, 0)
    dead = worker.queue.jobs("dead")
    assert [j.job.request_id for j in dead] == [record.request_id]
    assert dead[0].last_error is not None and "MLflow said no" in dead[0].last_error
    assert worker.queue.owed_run_tags(10) == []


def test_the_evaluator_metrics_count_verdicts_scores_and_lag(
    outbox: Outbox,
    request_queue: RequestQueue,
    make_sink: SinkFactory,
    sqlite_uri: str,
    local_judge: Judge,
    clock: FakeClock,
) -> None:
    sink = make_sink(sqlite_uri)
    metrics = EvaluatorMetrics(CollectorRegistry())
    records = [enqueue(request_queue, FAITHFUL), enqueue(request_queue, UNFAITHFUL)]
    ship(outbox, sink)
    clock.advance(42.0)
    worker = worker_for(outbox, sink, local_judge, clock, metrics)

    assert asyncio.run(worker.run_pass()).done == 2

    sample = metrics.registry.get_sample_value
    faithfulness = {"metric": "faithfulness"}
    assert sample("twinself_evaluations_total", {**faithfulness, "verdict": "pass"}) == 1
    assert sample("twinself_evaluations_total", {**faithfulness, "verdict": "fail"}) == 1
    scores = {**faithfulness, "judge": JUDGE_NAME}
    assert sample("twinself_evaluation_score_count", scores) == 2
    # The unfaithful answer scores under the 0.7 mark, an edge of the 0.1-wide buckets.
    assert sample("twinself_evaluation_score_bucket", {**scores, "le": "0.6"}) == 1
    # Lag: from each answer (its record's time) to its scores, on the worker's clock.
    lags = [clock() - record.created_at for record in records]
    assert sample("twinself_evaluation_lag_seconds_count") == 2
    assert sample("twinself_evaluation_lag_seconds_sum") == pytest.approx(sum(lags))
    assert min(lags) > 42.0
    # The local judge calls no paid model: no judge spend, not even a zero series.
    judge_cost = {"purpose": "judge", "gen_ai_request_model": JUDGE_NAME}
    assert sample("twinself_cost_usd_total", judge_cost) is None

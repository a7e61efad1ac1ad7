"""Queued evaluations are judged once and logged once to their request's real MLflow run."""

from __future__ import annotations

import asyncio
import random

import pytest
from mlflow import MlflowClient
from mlflow.entities import AssessmentSourceType

from tests.pipeline.conftest import SinkFactory
from tests.pipeline.records_factory import make_record
from twinself.embedding.sentence_transformer import SentenceTransformerEmbedder
from twinself.evaluation.judges import Judge
from twinself.evaluation.local_judge import JUDGE_NAME, LocalJudge
from twinself.evaluation.local_metrics import LocalAnswerRelevancyMetric, LocalFaithfulnessMetric
from twinself.pipeline.evaluation_queue import EvaluationQueue
from twinself.pipeline.evaluation_worker import EvaluationWorker
from twinself.pipeline.mlflow_sink import MlflowRunSink
from twinself.pipeline.mlflow_trace import trace_id_for
from twinself.pipeline.outbox import Outbox
from twinself.pipeline.records import EvaluationJob, RequestRecord
from twinself.pipeline.shipper import Shipper

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


def enqueue(outbox: Outbox, answer: str, question: str = "Where do you work?") -> RequestRecord:
    record = make_record()
    outbox.append_request(record, EvaluationJob(record.request_id, question, answer, CONTEXT))
    return record


def worker_for(
    outbox: Outbox, sink: MlflowRunSink, judge: Judge, **options: float
) -> EvaluationWorker:
    settings: dict[str, float] = {"concurrency": 2, "timeout_seconds": 30, "max_attempts": 3}
    settings.update(options)
    return EvaluationWorker(
        EvaluationQueue(outbox),
        sink,
        judge,
        rng=random.Random(1),
        **settings,  # type: ignore[arg-type]
    )


def test_scores_land_on_the_run_and_the_trace_exactly_once(
    outbox: Outbox, make_sink: SinkFactory, tracking_uri: str, local_judge: Judge
) -> None:
    sink = make_sink(tracking_uri)
    good, bad = enqueue(outbox, FAITHFUL), enqueue(outbox, UNFAITHFUL)
    Shipper(outbox, sink, batch_size=10, poll_seconds=0.1).drain()
    worker = worker_for(outbox, sink, local_judge)

    counts = asyncio.run(worker.drain())

    assert counts.done == 2
    client = MlflowClient(tracking_uri)
    runs = {}
    for record in (good, bad):
        state = outbox.request_state(record.request_id)
        assert state is not None and state.run_id is not None
        runs[record.request_id] = client.get_run(state.run_id)
    good_run, bad_run = runs[good.request_id], runs[bad.request_id]
    assert good_run.data.metrics["deepeval_faithfulness"] == 1.0
    assert good_run.data.metrics["deepeval_faithfulness_passed"] == 1.0
    assert bad_run.data.metrics["deepeval_faithfulness"] == 0.0
    assert bad_run.data.metrics["deepeval_faithfulness_passed"] == 0.0
    assert "oslo" in bad_run.data.tags["deepeval_faithfulness_reason"].lower()
    for run in (good_run, bad_run):
        assert run.data.tags["deepeval_judge"] == JUDGE_NAME
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
    from twinself.evaluation.results import EvaluationResult

    assert not sink.log_evaluation(
        good_run.info.run_id, None, EvaluationResult.from_dict(job.result)
    )
    history = client.get_metric_history(good_run.info.run_id, "deepeval_faithfulness")
    assert len(history) == 1
    assert len(client.get_trace(trace_id_for(good.request_id)).info.assessments) == 2


def test_an_evaluation_waits_for_its_run_then_logs(
    outbox: Outbox, make_sink: SinkFactory, sqlite_uri: str, local_judge: Judge
) -> None:
    sink = make_sink(sqlite_uri)
    record = enqueue(outbox, FAITHFUL)
    worker = worker_for(outbox, sink, local_judge)

    first = asyncio.run(worker.run_pass())

    assert (first.claimed, first.waiting, first.done) == (1, 1, 0)
    job = worker.queue.get(record.request_id)
    assert job is not None and job.status == "scored" and job.result is not None
    assert job.last_error == "waiting for the request's run to ship"

    Shipper(outbox, sink, batch_size=10, poll_seconds=0.1).drain()
    asyncio.run(asyncio.sleep(1.1))  # the job looks again after a second
    second = asyncio.run(worker.run_pass())

    assert second.done == 1
    state = outbox.request_state(record.request_id)
    assert state is not None and state.run_id is not None
    run = MlflowClient(sqlite_uri).get_run(state.run_id)
    assert run.data.metrics["deepeval_faithfulness"] == 1.0
    assert worker.queue.backlog().counts["done"] == 1


def test_a_request_that_never_ships_makes_a_dead_letter(
    outbox: Outbox, make_sink: SinkFactory, sqlite_uri: str, local_judge: Judge
) -> None:
    record = enqueue(outbox, FAITHFUL)
    outbox.mark_retry(record.request_id, "MLflow said no", 0, give_up=True)
    worker = worker_for(outbox, make_sink(sqlite_uri), local_judge)

    counts = asyncio.run(worker.drain())

    assert counts.dead == 1
    dead = worker.queue.jobs("dead")
    assert [j.job.request_id for j in dead] == [record.request_id]
    assert dead[0].last_error is not None and "MLflow said no" in dead[0].last_error

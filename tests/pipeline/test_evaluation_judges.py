"""The Gemini judge end to end: DeepEval's real metrics and GeminiModel against a fake Gemini,
through the evaluation worker, into a real MLflow run. Rate limits, outages and a bad key."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from tests.fakes.gemini_judge import FakeGeminiJudge, JudgeStep, small_ca_bundle
from tests.fakes.openai_judge import FakeOpenAIJudge
from tests.support.clock import FakeClock
from tests.support.factories import SettingsFactory, SinkFactory
from tests.support.records import make_record
from twinself.cli.app import app
from twinself.embedding.sentence_transformer import SentenceTransformerEmbedder
from twinself.evaluation.judges import build_judge
from twinself.monitoring.worker_metrics import EvaluatorMetrics
from twinself.pipeline.evaluation_worker import EvaluationWorker
from twinself.pipeline.outbox import Outbox
from twinself.pipeline.records import EvaluationJob, RequestRecord
from twinself.pipeline.request_queue import RequestQueue
from twinself.pipeline.shipper import Shipper

JUDGE_KEY = "AIza-judge-secret-0123456789"
# What each call to the fake costs as DeepEval prices gemini-2.0-flash (USD 0.15 / 0.60 per
# million input / output tokens): the fake reports 120 input and 30 output tokens.
FAKE_CALL_USD = 120 * 0.15e-6 + 30 * 0.60e-6
WRONG_KEY = "AIza-wrong-key-9876543210"
CONTEXT = ["I studied Engineering Physics at Chalmers from 2010 to 2015."]


@pytest.fixture(autouse=True)
def _fast_tls(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    # Speed only: DeepEval builds a client per call, each loading the CA bundle (see the fake).
    monkeypatch.setenv("SSL_CERT_FILE", str(small_ca_bundle(tmp_path_factory.mktemp("tls"))))


@pytest.fixture
def fake_judge() -> Iterator[FakeGeminiJudge]:
    judge = FakeGeminiJudge(
        api_key=JUDGE_KEY,
        statements=["I studied at Chalmers.", "It was in Gothenburg.", "Hi!", "I like jazz."],
        relevancy_verdicts=["yes", "yes", "yes", "no"],
        relevancy_reason="Fake: one statement is off topic.",
        claims=["I studied at Chalmers.", "I studied there until 2016."],
        faithfulness_verdicts=["yes", "no"],
        faithfulness_reason="Fake: the end year contradicts the context.",
    ).start()
    yield judge
    judge.stop()


def make_worker(
    outbox: Outbox,
    sink: Any,
    settings: Any,
    embedder: SentenceTransformerEmbedder,
    clock: FakeClock,
    **options: Any,
) -> EvaluationWorker:
    values: dict[str, Any] = {
        "concurrency": 2,
        "timeout_seconds": 20,
        "max_attempts": 3,
        "backoff_base_seconds": 0.05,
        "rate_limit_base_seconds": 0.4,
    }
    values.update(options)
    judge = build_judge(settings, lambda: embedder)
    return EvaluationWorker(outbox, sink, judge, rng=random.Random(3), clock=clock, **values)


def recorded(outbox: Outbox) -> RequestRecord:
    """A sampled answer and its evaluation job, as the server records them."""
    record = make_record(quality_evaluation="evaluating_in_background")
    answer = "I studied at Chalmers, in Gothenburg. Hi! I like jazz."
    job = EvaluationJob(record.request_id, "Where did you study?", answer, CONTEXT)
    RequestQueue(outbox).append(record, job)
    return record


def ship(outbox: Outbox, sink: Any) -> None:
    Shipper(outbox, sink, batch_size=10, poll_seconds=0.1).drain()


def shipped(outbox: Outbox, sink: Any) -> RequestRecord:
    record = recorded(outbox)
    ship(outbox, sink)
    return record


def run_tags(outbox: Outbox, uri: str, record: RequestRecord) -> dict[str, str]:
    state = RequestQueue(outbox).state(record.request_id)
    assert state is not None and state.run_id is not None
    tags: dict[str, str] = MlflowClient(uri).get_run(state.run_id).data.tags
    return tags


@pytest.fixture
def gemini_settings(make_settings: SettingsFactory, fake_judge: FakeGeminiJudge) -> Any:
    return make_settings(
        eval_judge="auto",  # a judge key present -> gemini
        eval_google_api_key=JUDGE_KEY,
        eval_gemini_base_url=fake_judge.base_url,
    )


def test_gemini_scores_and_reasons_reach_the_run_and_the_key_does_not(
    outbox: Outbox,
    make_sink: SinkFactory,
    sqlite_uri: str,
    fake_judge: FakeGeminiJudge,
    gemini_settings: Any,
    embedder: SentenceTransformerEmbedder,
    clock: FakeClock,
) -> None:
    sink = make_sink(sqlite_uri)
    record = shipped(outbox, sink)
    metrics = EvaluatorMetrics(CollectorRegistry())
    worker = make_worker(outbox, sink, gemini_settings, embedder, clock, observer=metrics)

    assert asyncio.run(worker.drain()).done == 1

    state = RequestQueue(outbox).state(record.request_id)
    assert state is not None and state.run_id is not None
    run = MlflowClient(sqlite_uri).get_run(state.run_id)
    assert run.data.metrics["deepeval_answer_relevancy"] == 0.75  # 3 of 4 statements
    assert run.data.metrics["deepeval_faithfulness"] == 0.5  # 1 of 2 claims contradicted
    assert run.data.metrics["deepeval_answer_relevancy_passed"] == 1.0
    assert run.data.metrics["deepeval_faithfulness_passed"] == 0.0
    assert run.data.tags["deepeval_judge"] == "gemini-2.0-flash"
    assert run.data.tags["deepeval_faithfulness_reason"] == fake_judge.faithfulness_reason
    # The judge's spend: every call DeepEval made, priced by DeepEval, in the run and counted.
    spent = fake_judge.request_count * FAKE_CALL_USD
    assert fake_judge.request_count >= 2
    assert run.data.metrics["evaluation_cost_usd"] == pytest.approx(spent)
    judge_cost = {"purpose": "judge", "gen_ai_request_model": "gemini-2.0-flash"}
    assert metrics.registry.get_sample_value("twinself_cost_usd_total", judge_cost) == (
        pytest.approx(spent)
    )
    stored = json.dumps([run.data.tags, run.data.params])
    assert JUDGE_KEY not in stored
    assert all(r.headers.get("x-goog-api-key") == JUDGE_KEY for r in fake_judge.model_requests())


def test_a_rate_limited_judge_backs_off_then_succeeds(
    outbox: Outbox,
    make_sink: SinkFactory,
    sqlite_uri: str,
    fake_judge: FakeGeminiJudge,
    gemini_settings: Any,
    embedder: SentenceTransformerEmbedder,
    clock: FakeClock,
) -> None:
    sink = make_sink(sqlite_uri)
    record = shipped(outbox, sink)
    worker = make_worker(outbox, sink, gemini_settings, embedder, clock)
    fake_judge.retry_delay_seconds = 1  # Gemini's RetryInfo hint, longer than the backoff
    fake_judge.fail_next(429)

    first = asyncio.run(worker.run_pass())

    assert first.failed == 1
    job = worker.queue.get(record.request_id)
    assert job is not None and (job.status, job.attempts) == ("pending", 1)
    assert job.last_error is not None and "quota" in job.last_error and "429" in job.last_error
    # The backoff alone (0.2-0.4 s) would be over by now; the server's 1 s hint is not.
    clock.advance(0.5)
    assert asyncio.run(worker.run_pass()).claimed == 0
    clock.advance(0.5)
    assert asyncio.run(worker.run_pass()).done == 1
    assert run_tags(outbox, sqlite_uri, record)["quality_evaluation"] == "evaluated"


def test_a_failing_judge_ends_as_a_dead_letter_and_retry_requeues_it(
    outbox: Outbox,
    make_sink: SinkFactory,
    sqlite_uri: str,
    fake_judge: FakeGeminiJudge,
    gemini_settings: Any,
    embedder: SentenceTransformerEmbedder,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sink = make_sink(sqlite_uri)
    record = shipped(outbox, sink)
    worker = make_worker(outbox, sink, gemini_settings, embedder, clock, max_attempts=2)
    fake_judge.fail_always = 500

    first = asyncio.run(worker.run_pass())
    assert (first.claimed, first.failed) == (1, 1)
    assert run_tags(outbox, sqlite_uri, record)["quality_evaluation"] == (
        "evaluating_in_background"
    )
    clock.advance(0.05)  # past the first retry's backoff (0.025-0.05 s)
    second = asyncio.run(worker.run_pass())
    assert (second.claimed, second.dead, second.tagged) == (1, 1, 1)
    assert run_tags(outbox, sqlite_uri, record)["quality_evaluation"] == "dead_letter"

    monkeypatch.setenv("TWINSELF_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    status = runner.invoke(app, ["evaluations", "status", "--json"])
    assert status.exit_code == 0, status.output
    report = json.loads(status.stdout)
    assert report["counts"]["dead"] == 1
    assert report["dead"][0]["request_id"] == record.request_id
    assert "500" in report["dead"][0]["error"]

    fake_judge.fail_always = None
    retried = runner.invoke(app, ["evaluations", "retry", "--all"])
    assert retried.exit_code == 0 and "Queued 1" in retried.stdout
    assert asyncio.run(worker.drain()).done == 1
    assert run_tags(outbox, sqlite_uri, record)["quality_evaluation"] == "evaluated"
    nothing = runner.invoke(app, ["evaluations", "retry", record.request_id])
    assert nothing.exit_code == 1
    assert "evaluation that is done, not dead" in " ".join(nothing.output.split())


@pytest.fixture
def wrong_key_settings(make_settings: SettingsFactory, fake_judge: FakeGeminiJudge) -> Any:
    return make_settings(
        eval_judge="gemini",
        eval_google_api_key=WRONG_KEY,
        eval_gemini_base_url=fake_judge.base_url,
    )


def test_a_refused_key_is_a_dead_letter_at_once_without_the_key_in_the_error(
    outbox: Outbox,
    make_sink: SinkFactory,
    sqlite_uri: str,
    wrong_key_settings: Any,
    embedder: SentenceTransformerEmbedder,
    clock: FakeClock,
) -> None:
    sink = make_sink(sqlite_uri)
    record = shipped(outbox, sink)
    worker = make_worker(outbox, sink, wrong_key_settings, embedder, clock, max_attempts=5)

    counts = asyncio.run(worker.run_pass())

    assert (counts.dead, counts.tagged) == (1, 1)
    job = worker.queue.get(record.request_id)
    assert job is not None and job.status == "dead" and job.attempts == 1
    assert job.last_error is not None
    assert "GOOGLE_API_KEY_4DEEPEVAL" in job.last_error
    assert WRONG_KEY not in job.last_error
    assert run_tags(outbox, sqlite_uri, record)["quality_evaluation"] == "failed"


def test_a_dead_letter_tags_its_run_once_the_run_ships(
    outbox: Outbox,
    make_sink: SinkFactory,
    sqlite_uri: str,
    wrong_key_settings: Any,
    embedder: SentenceTransformerEmbedder,
    clock: FakeClock,
) -> None:
    sink = make_sink(sqlite_uri)
    record = recorded(outbox)  # the evaluator is faster than the shipper
    worker = make_worker(outbox, sink, wrong_key_settings, embedder, clock)

    first = asyncio.run(worker.run_pass())

    assert (first.dead, first.tagged) == (1, 0)
    ship(outbox, sink)
    assert run_tags(outbox, sqlite_uri, record)["quality_evaluation"] == (
        "evaluating_in_background"
    )
    assert asyncio.run(worker.run_pass()).tagged == 0  # it looks again after a second
    clock.advance(1.0)
    [owed] = worker.queue.owed_run_tags(10)
    assert (owed.request_id, owed.outcome) == (record.request_id, "failed")
    assert asyncio.run(worker.run_pass()).tagged == 1
    assert run_tags(outbox, sqlite_uri, record)["quality_evaluation"] == "failed"
    clock.advance(3600)
    assert worker.queue.owed_run_tags(10) == []  # settled, not postponed


def test_an_openai_compatible_judge_scores_through_deepeval_local_model(
    make_settings: SettingsFactory, embedder: SentenceTransformerEmbedder
) -> None:
    fake = FakeOpenAIJudge(
        statements=["I studied at Chalmers.", "I like jazz."],
        relevancy_verdicts=["yes", "no"],
        claims=["I studied at Chalmers."],
        faithfulness_verdicts=["yes"],
    ).start()
    try:
        settings = make_settings(
            eval_judge="openai", eval_openai_base_url=fake.api_base_url, eval_llm_model="qwen3"
        )
        judge = build_judge(settings, lambda: embedder)
        result = asyncio.run(judge.evaluate("Where did you study?", "At Chalmers.", CONTEXT))
    finally:
        fake.stop()
    assert result.judge == "qwen3"
    assert (result.answer_relevancy.score, result.faithfulness.score) == (0.5, 1.0)
    assert set(fake.served) >= {JudgeStep.STATEMENTS, JudgeStep.CLAIMS, JudgeStep.TRUTHS}
    assert all(r.body["model"] == "qwen3" for r in fake.requests)  # type: ignore[index]

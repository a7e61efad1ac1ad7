"""The Gemini judge end to end: DeepEval's real metrics and GeminiModel against a fake Gemini,
through the evaluation worker, into a real MLflow run. Rate limits, outages and a bad key."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from tests.conftest import SettingsFactory
from tests.fakes.gemini_judge import FakeGeminiJudge, JudgeStep, small_ca_bundle
from tests.fakes.openai_judge import FakeOpenAIJudge
from tests.pipeline.conftest import SinkFactory
from tests.pipeline.records_factory import make_record
from twinself.cli.app import app
from twinself.embedding.sentence_transformer import SentenceTransformerEmbedder
from twinself.evaluation.judges import build_judge
from twinself.pipeline.evaluation_queue import EvaluationQueue
from twinself.pipeline.evaluation_worker import EvaluationWorker
from twinself.pipeline.outbox import Outbox
from twinself.pipeline.records import EvaluationJob, RequestRecord
from twinself.pipeline.shipper import Shipper

JUDGE_KEY = "AIza-judge-secret-0123456789"
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
    return EvaluationWorker(EvaluationQueue(outbox), sink, judge, rng=random.Random(3), **values)


def shipped(outbox: Outbox, sink: Any) -> RequestRecord:
    record = make_record()
    answer = "I studied at Chalmers, in Gothenburg. Hi! I like jazz."
    job = EvaluationJob(record.request_id, "Where did you study?", answer, CONTEXT)
    outbox.append_request(record, job)
    Shipper(outbox, sink, batch_size=10, poll_seconds=0.1).drain()
    return record


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
) -> None:
    sink = make_sink(sqlite_uri)
    record = shipped(outbox, sink)
    worker = make_worker(outbox, sink, gemini_settings, embedder)

    assert asyncio.run(worker.drain()).done == 1

    state = outbox.request_state(record.request_id)
    assert state is not None and state.run_id is not None
    run = MlflowClient(sqlite_uri).get_run(state.run_id)
    assert run.data.metrics["deepeval_answer_relevancy"] == 0.75  # 3 of 4 statements
    assert run.data.metrics["deepeval_faithfulness"] == 0.5  # 1 of 2 claims contradicted
    assert run.data.metrics["deepeval_answer_relevancy_passed"] == 1.0
    assert run.data.metrics["deepeval_faithfulness_passed"] == 0.0
    assert run.data.tags["deepeval_judge"] == "gemini-2.0-flash"
    assert run.data.tags["deepeval_faithfulness_reason"] == fake_judge.faithfulness_reason
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
) -> None:
    sink = make_sink(sqlite_uri)
    record = shipped(outbox, sink)
    worker = make_worker(outbox, sink, gemini_settings, embedder)
    fake_judge.retry_delay_seconds = 1  # Gemini's RetryInfo hint, longer than the backoff
    fake_judge.fail_next(429)

    first = asyncio.run(worker.run_pass())

    assert first.failed == 1
    job = worker.queue.get(record.request_id)
    assert job is not None and (job.status, job.attempts) == ("pending", 1)
    assert job.last_error is not None and "quota" in job.last_error and "429" in job.last_error
    # The backoff alone (0.2-0.4 s) would be over by now; the server's 1 s hint is not.
    time.sleep(0.5)
    assert asyncio.run(worker.run_pass()).claimed == 0
    time.sleep(0.6)
    assert asyncio.run(worker.run_pass()).done == 1


def test_a_failing_judge_ends_as_a_dead_letter_and_retry_requeues_it(
    outbox: Outbox,
    make_sink: SinkFactory,
    sqlite_uri: str,
    fake_judge: FakeGeminiJudge,
    gemini_settings: Any,
    embedder: SentenceTransformerEmbedder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sink = make_sink(sqlite_uri)
    record = shipped(outbox, sink)
    worker = make_worker(outbox, sink, gemini_settings, embedder, max_attempts=2)
    fake_judge.fail_always = 500

    outcomes = []
    for _ in range(20):
        counts = asyncio.run(worker.run_pass())
        if counts.claimed:
            outcomes.append("dead" if counts.dead else "failed")
        if "dead" in outcomes:
            break
        time.sleep(0.05)
    assert outcomes == ["failed", "dead"]

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
    nothing = runner.invoke(app, ["evaluations", "retry", record.request_id])
    assert nothing.exit_code == 1
    assert "evaluation that is done, not dead" in " ".join(nothing.output.split())


def test_a_refused_key_is_a_dead_letter_at_once_without_the_key_in_the_error(
    outbox: Outbox,
    make_sink: SinkFactory,
    sqlite_uri: str,
    fake_judge: FakeGeminiJudge,
    make_settings: SettingsFactory,
    embedder: SentenceTransformerEmbedder,
) -> None:
    sink = make_sink(sqlite_uri)
    record = shipped(outbox, sink)
    wrong_key = "AIza-wrong-key-9876543210"
    settings = make_settings(
        eval_judge="gemini",
        eval_google_api_key=wrong_key,
        eval_gemini_base_url=fake_judge.base_url,
    )
    worker = make_worker(outbox, sink, settings, embedder, max_attempts=5)

    assert asyncio.run(worker.run_pass()).dead == 1

    job = worker.queue.get(record.request_id)
    assert job is not None and job.status == "dead" and job.attempts == 1
    assert job.last_error is not None
    assert "GOOGLE_API_KEY_4DEEPEVAL" in job.last_error
    assert wrong_key not in job.last_error


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

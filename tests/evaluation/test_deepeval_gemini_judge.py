"""DeepEval's real LLM-judge metrics, through its real GeminiModel, against a fake Gemini.

These pin what the evaluation worker relies on: how DeepEval turns the judge's verdicts into
scores, and which exceptions a rate limit or an outage becomes after `metric.a_measure`.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from google.genai import errors as genai_errors

from tests.fakes.gemini_judge import FakeGeminiJudge, JudgeStep, prompt_text, small_ca_bundle
from twinself.evaluation.deepeval_env import import_deepeval

import_deepeval()  # sets DeepEval's hygiene variables; they must precede its first import

from deepeval.metrics import AnswerRelevancyMetric, FaithfulnessMetric  # noqa: E402
from deepeval.models import GeminiModel  # noqa: E402
from deepeval.test_case import LLMTestCase  # noqa: E402

API_KEY = "fake-key"
TEST_CASE = LLMTestCase(
    input="Where did you study?",
    actual_output="I studied Engineering Physics at Chalmers. I also like hiking.",
    retrieval_context=["I studied Engineering Physics at Chalmers from 2010 to 2015."],
)

StartJudge = Callable[..., FakeGeminiJudge]


@pytest.fixture(scope="module")
def ca_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_ca_bundle(tmp_path_factory.mktemp("tls"))


@pytest.fixture(autouse=True)
def _environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ca_bundle: Path
) -> Iterator[None]:
    """DeepEval must not write `.deepeval*` into the working folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_bundle))  # see small_ca_bundle: speed only
    yield
    assert not list(tmp_path.glob(".deepeval*"))


@pytest.fixture
def start_judge() -> Iterator[StartJudge]:
    started: list[FakeGeminiJudge] = []

    def start(**config: Any) -> FakeGeminiJudge:
        judge = FakeGeminiJudge(api_key=API_KEY, **config).start()
        started.append(judge)
        return judge

    yield start
    for judge in started:
        judge.stop()


def gemini(judge: FakeGeminiJudge, api_key: str = API_KEY) -> GeminiModel:
    return GeminiModel(
        model="gemini-2.0-flash",
        api_key=api_key,
        http_options={"base_url": judge.base_url, "api_version": "v1beta"},
    )


def relevancy(judge: FakeGeminiJudge, **kwargs: Any) -> AnswerRelevancyMetric:
    return AnswerRelevancyMetric(model=gemini(judge, **kwargs), threshold=0.7, async_mode=True)


def faithfulness(judge: FakeGeminiJudge, **kwargs: Any) -> FaithfulnessMetric:
    return FaithfulnessMetric(model=gemini(judge), threshold=0.7, async_mode=True, **kwargs)


def measure(metric: AnswerRelevancyMetric | FaithfulnessMetric) -> float:
    return asyncio.run(metric.a_measure(TEST_CASE, _show_indicator=False))


def test_answer_relevancy_scores_the_share_of_relevant_statements(
    start_judge: StartJudge,
) -> None:
    statements = ["I studied at Chalmers.", "It was physics.", "It was 2010.", "I like hiking."]
    judge = start_judge(
        statements=statements,
        relevancy_verdicts=["yes", "yes", "yes", "no"],
        relevancy_reason="0.75: hiking is off topic.",
    )
    metric = relevancy(judge)

    assert measure(metric) == 0.75
    assert metric.reason == "0.75: hiking is off topic."
    assert metric.success is True
    assert judge.served == [
        JudgeStep.STATEMENTS,
        JudgeStep.RELEVANCY_VERDICTS,
        JudgeStep.RELEVANCY_REASON,
    ]
    requests = judge.model_requests()
    assert {r.headers["x-goog-api-key"] for r in requests} == {API_KEY}
    assert all(r.path == "/v1beta/models/gemini-2.0-flash:generateContent" for r in requests)
    # Each step builds on the fake's previous answer, so the prompts carry it on.
    assert all(s in prompt_text(requests[1]) for s in statements)
    assert "Fake judge: statement 4 is no." in prompt_text(requests[2])
    # usageMetadata reaches DeepEval's accounting.
    assert metric.input_tokens == 3 * judge.prompt_tokens
    assert metric.output_tokens == 3 * judge.output_tokens
    assert metric.evaluation_cost is not None and metric.evaluation_cost > 0


@pytest.mark.parametrize(
    ("verdicts", "score"),
    [
        (["yes", "borderline", "no", "no"], 0.5),  # borderline counts as relevant
        (["no", "no", "no", "no"], 0.0),
        (["borderline"] * 4, 1.0),
    ],
)
def test_answer_relevancy_counts_borderline_as_relevant(
    start_judge: StartJudge, verdicts: list[str], score: float
) -> None:
    judge = start_judge(statements=["a", "b", "c", "d"], relevancy_verdicts=verdicts)
    assert measure(relevancy(judge)) == score


def test_answer_relevancy_without_statements_is_perfect(start_judge: StartJudge) -> None:
    judge = start_judge(statements=[])
    assert measure(relevancy(judge)) == 1.0
    assert judge.served == [JudgeStep.STATEMENTS, JudgeStep.RELEVANCY_REASON]


def test_faithfulness_scores_the_share_of_uncontradicted_claims(
    start_judge: StartJudge,
) -> None:
    judge = start_judge(
        truths=["The person studied Engineering Physics at Chalmers."],
        claims=["I studied Engineering Physics at Chalmers.", "I studied in Lund."],
        faithfulness_verdicts=["yes", ("no", "The context says Chalmers, not Lund.")],
        faithfulness_reason="0.50: the answer moves the degree to Lund.",
    )
    metric = faithfulness(judge)

    assert measure(metric) == 0.5
    assert metric.reason == "0.50: the answer moves the degree to Lund."
    assert metric.success is False
    # Truths and claims are asked concurrently, then verdicts, then the reason.
    assert set(judge.served[:2]) == {JudgeStep.TRUTHS, JudgeStep.CLAIMS}
    assert judge.served[2:] == [JudgeStep.FAITHFULNESS_VERDICTS, JudgeStep.FAITHFULNESS_REASON]
    steps = {judge.step_of(r): prompt_text(r) for r in judge.model_requests()}
    assert "Engineering Physics at Chalmers from 2010" in steps[JudgeStep.TRUTHS]
    assert "I studied in Lund." in steps[JudgeStep.FAITHFULNESS_VERDICTS]
    assert "The context says Chalmers, not Lund." in steps[JudgeStep.FAITHFULNESS_REASON]
    assert {r.headers["x-goog-api-key"] for r in judge.model_requests()} == {API_KEY}


@pytest.mark.parametrize(("penalize", "score"), [(False, 1.0), (True, 0.5)])
def test_faithfulness_penalizes_borderline_claims_only_when_asked(
    start_judge: StartJudge, penalize: bool, score: float
) -> None:
    judge = start_judge(claims=["a", "b"], faithfulness_verdicts=["yes", "borderline"])
    assert measure(faithfulness(judge, penalize_ambiguous_claims=penalize)) == score


def test_rate_limit_surfaces_as_client_error_429_without_retrying(
    start_judge: StartJudge,
) -> None:
    judge = start_judge(errors=[429], retry_delay_seconds=31)
    metric = relevancy(judge)

    with pytest.raises(genai_errors.ClientError) as raised:
        measure(metric)

    error = raised.value
    assert (error.code, error.status) == (429, "RESOURCE_EXHAUSTED")
    assert error.__cause__ is None
    retry_info = [d for d in error.details["error"]["details"] if "retryDelay" in d]
    assert retry_info == [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "31s"}
    ]
    assert judge.request_count == 1  # neither DeepEval nor google-genai retried

    # The error was queued once: the next measurement goes through.
    judge.statements, judge.relevancy_verdicts = ["a", "b"], ["yes", "no"]
    assert measure(metric) == 0.5
    assert judge.request_count == 4


@pytest.mark.parametrize(("code", "status"), [(500, "INTERNAL"), (503, "UNAVAILABLE")])
def test_server_errors_surface_as_server_error_without_retrying(
    start_judge: StartJudge, code: int, status: str
) -> None:
    judge = start_judge(fail_always=code)

    with pytest.raises(genai_errors.ServerError) as raised:
        measure(relevancy(judge))

    assert (raised.value.code, raised.value.status) == (code, status)
    assert judge.request_count == 1


def test_wrong_api_key_is_rejected_like_gemini_does(start_judge: StartJudge) -> None:
    judge = start_judge()

    with pytest.raises(genai_errors.ClientError) as raised:
        measure(relevancy(judge, api_key="wrong-key"))

    assert (raised.value.code, raised.value.status) == (400, "INVALID_ARGUMENT")
    assert "API_KEY_INVALID" in str(raised.value.details)
    assert judge.served == []


def test_off_schema_verdict_fails_the_measurement(start_judge: StartJudge) -> None:
    # The schema's enum is yes/no/borderline; DeepEval maps the legacy "idk" only on its
    # loose-JSON path, which a Gemini judge with a response schema never takes.
    judge = start_judge(statements=["a"], relevancy_verdicts=["idk"])

    with pytest.raises(ValueError, match="invalid JSON"):
        measure(relevancy(judge))


def test_a_hung_request_holds_the_measurement_until_released(start_judge: StartJudge) -> None:
    judge = start_judge(hang_seconds=math.inf)
    scores: list[float] = []
    worker = threading.Thread(target=lambda: scores.append(measure(relevancy(judge))))
    worker.start()

    assert judge.hanging.wait(5)
    worker.join(0.2)
    assert worker.is_alive() and judge.served == []

    judge.release.set()
    worker.join(5)
    assert scores == [1.0]

"""The judge: DeepEval's answer relevancy and faithfulness, through the configured model.

- `local` (the default without keys): `LocalJudge` as DeepEval custom metrics, offline.
- `gemini`: DeepEval's GeminiModel with GOOGLE_API_KEY_4DEEPEVAL, its own quota.
- `openai`: DeepEval's LocalModel on any OpenAI-compatible endpoint (Ollama's /v1, vLLM, ...).

Fresh metric instances for every evaluation: DeepEval metrics keep their last score, reason
and verdicts on the instance, so sharing one between concurrent jobs would mix them up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from twinself.config.settings import Settings
from twinself.embedding.embedder import CachedEmbedder, Embedder
from twinself.embedding.pair_scorer import open_pair_scorer
from twinself.errors import ConfigurationError, TwinselfError
from twinself.evaluation.deepeval_env import import_deepeval
from twinself.evaluation.judge_errors import classify
from twinself.evaluation.local_judge import JUDGE_NAME, LocalJudge
from twinself.evaluation.results import EvaluationResult, MetricResult
from twinself.llm.answer_match import ANSWER_MATCH

NO_CONTEXT = "(No passages were retrieved for this question.)"

MetricPair = tuple[Any, Any]  # (answer relevancy, faithfulness): DeepEval BaseMetric instances


@dataclass
class Judge:
    name: str  # tagged on every run as deepeval_judge
    make_metrics: Callable[[], MetricPair]
    secret: str | None = None  # redacted from error messages

    async def evaluate(
        self, question: str, answer: str, context: Sequence[str]
    ) -> EvaluationResult:
        from deepeval.test_case import LLMTestCase

        case = LLMTestCase(
            input=question, actual_output=answer, retrieval_context=list(context) or [NO_CONTEXT]
        )
        relevancy, faithfulness = self.make_metrics()
        started = time.perf_counter()
        # A TaskGroup cancels the other metric's calls as soon as one fails.
        async with asyncio.TaskGroup() as group:
            group.create_task(relevancy.a_measure(case, _show_indicator=False))
            group.create_task(faithfulness.a_measure(case, _show_indicator=False))
        return EvaluationResult(
            judge=self.name,
            answer_relevancy=_result(relevancy),
            faithfulness=_result(faithfulness),
            seconds=time.perf_counter() - started,
            cost_usd=_cost(relevancy, faithfulness),
        )


class JudgeFailed(TwinselfError):
    """The judge could not evaluate; the message says why (quota, key, unreachable, ...)."""


def evaluate_now(
    judge: Judge, question: str, answer: str, context: Sequence[str]
) -> EvaluationResult:
    """One evaluation, outside any event loop (the CLI); failures become `JudgeFailed`."""
    try:
        return asyncio.run(judge.evaluate(question, answer, context))
    except Exception as exc:
        raise JudgeFailed(classify(exc, judge.secret).message) from None


def _result(metric: Any) -> MetricResult:
    if metric.score is None:
        raise RuntimeError(f"{metric.__name__} produced no score: {metric.error or 'no reason'}")
    return MetricResult(
        score=float(metric.score), threshold=float(metric.threshold), reason=metric.reason or ""
    )


def _cost(*metrics: Any) -> float | None:
    """The metrics' `evaluation_cost` summed; None unless DeepEval priced every one (a local
    metric has none; a model without a known price leaves it None)."""
    total = 0.0
    for metric in metrics:
        cost = getattr(metric, "evaluation_cost", None)
        if cost is None:
            return None
        total += float(cost)
    return total


def build_judge(settings: Settings, load_embedder: Callable[[], Embedder]) -> Judge:
    """`load_embedder` is only called for the local judge (it loads the embedding model)."""
    kind = settings.resolved_judge
    if kind == "none":
        raise ConfigurationError("Evaluation is off (EVAL_JUDGE=none); set EVAL_JUDGE=auto.")
    import_deepeval()
    thresholds = (settings.eval_relevancy_threshold, settings.eval_faithfulness_threshold)
    if kind == "local":
        from twinself.evaluation.local_metrics import (
            LocalAnswerRelevancyMetric,
            LocalFaithfulnessMetric,
        )

        # Retrieved passages recur across requests: their sentences are embedded once.
        local = LocalJudge(
            CachedEmbedder(load_embedder()), open_pair_scorer(settings, ANSWER_MATCH)
        )
        return Judge(
            JUDGE_NAME,
            lambda: (
                LocalAnswerRelevancyMetric(local, thresholds[0]),
                LocalFaithfulnessMetric(local, thresholds[1]),
            ),
        )
    model, secret = _gemini_model(settings) if kind == "gemini" else _openai_model(settings)
    return Judge(settings.eval_llm_model, lambda: _llm_metrics(model, thresholds), secret)


def _llm_metrics(model: Any, thresholds: tuple[float, float]) -> MetricPair:
    from deepeval.metrics import AnswerRelevancyMetric, FaithfulnessMetric

    options = {"model": model, "async_mode": True, "verbose_mode": False}
    return (
        AnswerRelevancyMetric(threshold=thresholds[0], **options),
        FaithfulnessMetric(threshold=thresholds[1], **options),
    )


def _gemini_model(settings: Settings) -> tuple[Any, str]:
    from deepeval.models import GeminiModel

    key = settings.eval_google_api_key
    if key is None and settings.eval_allow_chat_key:
        key = settings.google_api_key
    if key is None:
        raise ConfigurationError(
            "EVAL_JUDGE=gemini needs GOOGLE_API_KEY_4DEEPEVAL, a key with its own quota "
            "(https://aistudio.google.com/apikey). To share the chat key instead, set "
            "EVAL_ALLOW_CHAT_KEY=true; to judge offline, set EVAL_JUDGE=local."
        )
    secret = key.get_secret_value()
    client_options: dict[str, Any] = {}
    if settings.eval_gemini_base_url:
        client_options["http_options"] = {
            "base_url": settings.eval_gemini_base_url,
            "api_version": "v1beta",
        }
    model = GeminiModel(
        model=settings.eval_llm_model, api_key=secret, temperature=0.0, **client_options
    )
    return model, secret


def _openai_model(settings: Settings) -> tuple[Any, str | None]:
    from deepeval.models import LocalModel

    key = settings.eval_openai_api_key or settings.openai_api_key
    secret = key.get_secret_value() if key else None
    model = LocalModel(
        model=settings.eval_llm_model,
        base_url=settings.eval_openai_base_url or settings.openai_base_url,
        # Ollama and llama.cpp ignore the key, but the OpenAI client insists on one.
        api_key=secret or "not-needed",
        temperature=0.0,
    )
    return model, secret

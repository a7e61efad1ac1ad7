"""The offline judge packaged as DeepEval custom metrics, so every judge runs the same way.

Same names, inputs and 0-1 scores as DeepEval's AnswerRelevancyMetric and FaithfulnessMetric,
computed by `LocalJudge` with the bundled embedding model: no LLM, no network. Runs are tagged
`deepeval_judge=local-embedding` so these scores are never mixed up with an LLM judge's.
"""

from __future__ import annotations

import asyncio
from typing import Any

from twinself.evaluation.deepeval_env import import_deepeval
from twinself.evaluation.local_judge import JUDGE_NAME, JudgeScore, LocalJudge

import_deepeval()
from deepeval.metrics import BaseMetric  # noqa: E402
from deepeval.test_case import LLMTestCase  # noqa: E402


class _LocalMetric(BaseMetric):  # type: ignore[no-untyped-call]  # (DeepEval's hook)
    def __init__(self, judge: LocalJudge, threshold: float = 0.7) -> None:
        self.judge = judge
        self.threshold = self._threshold = threshold
        self.evaluation_model = JUDGE_NAME
        self.include_reason = True
        self.async_mode = True
        self.strict_mode = False
        self.verbose_mode = False

    def _score(self, test_case: LLMTestCase) -> JudgeScore:
        raise NotImplementedError

    def measure(self, test_case: LLMTestCase, *args: Any, **kwargs: Any) -> float:
        result = self._score(test_case)
        self.score = result.score
        self.reason = result.reason
        self.success = result.score >= self._threshold
        return result.score

    async def a_measure(self, test_case: LLMTestCase, *args: Any, **kwargs: Any) -> float:
        # Embedding is CPU work: off the event loop, so other jobs' network calls go on.
        return await asyncio.to_thread(self.measure, test_case)

    def is_successful(self) -> bool:
        return bool(self.success)


class LocalAnswerRelevancyMetric(_LocalMetric):  # type: ignore[no-untyped-call]
    """Share of the answer's statements that address the question."""

    def _score(self, test_case: LLMTestCase) -> JudgeScore:
        return self.judge.answer_relevancy(test_case.input, test_case.actual_output or "")

    @property
    def __name__(self) -> str:
        return "Answer Relevancy"


class LocalFaithfulnessMetric(_LocalMetric):  # type: ignore[no-untyped-call]
    """Share of the answer's claims supported by the retrieved context, facts checked."""

    def _score(self, test_case: LLMTestCase) -> JudgeScore:
        context = [str(item) for item in test_case.retrieval_context or []]
        return self.judge.faithfulness(test_case.actual_output or "", context, test_case.input)

    @property
    def __name__(self) -> str:
        return "Faithfulness"

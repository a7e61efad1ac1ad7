"""One evaluation's outcome, and how it reads in JSON, in MLflow and in a terminal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

METRIC_NAMES = ("answer_relevancy", "faithfulness")
# MLflow tags hold at most 8000 characters (5000 on some stores); reasons are a summary.
REASON_TAG_CHARS = 500


@dataclass(frozen=True)
class MetricResult:
    score: float
    threshold: float
    reason: str

    @property
    def passed(self) -> bool:
        return self.score >= self.threshold


@dataclass(frozen=True)
class EvaluationResult:
    judge: str  # the judge model, or "local-embedding"
    answer_relevancy: MetricResult
    faithfulness: MetricResult
    seconds: float
    # What the judge's model calls cost, as DeepEval priced them; None when it could not
    # (the local judge, a model DeepEval has no price for).
    cost_usd: float | None = None

    def metrics(self) -> dict[str, MetricResult]:
        return {"answer_relevancy": self.answer_relevancy, "faithfulness": self.faithfulness}

    def to_json(self) -> dict[str, Any]:
        """The documented `twinself evaluate --json` shape."""
        metrics = self.metrics()
        return {
            "answer_relevancy": self.answer_relevancy.score,
            "faithfulness": self.faithfulness.score,
            "judge": self.judge,
            "passed": {name: m.passed for name, m in metrics.items()},
            "reasons": {name: m.reason for name, m in metrics.items()},
        }

    def mlflow_metrics(self) -> dict[str, float]:
        values: dict[str, float] = {}
        for name, metric in self.metrics().items():
            values[f"deepeval_{name}"] = metric.score
            values[f"deepeval_{name}_passed"] = float(metric.passed)
        values["evaluation_time_seconds"] = self.seconds
        if self.cost_usd is not None:
            values["evaluation_cost_usd"] = self.cost_usd
        return values

    def mlflow_tags(self) -> dict[str, str]:
        tags = {"deepeval_judge": self.judge}
        for name, metric in self.metrics().items():
            tags[f"deepeval_{name}_reason"] = _truncate(metric.reason, REASON_TAG_CHARS)
        return tags

    def to_dict(self) -> dict[str, Any]:
        """Stored with the job while it waits to be logged."""
        return {
            "judge": self.judge,
            "seconds": self.seconds,
            "cost_usd": self.cost_usd,
            **{
                name: {"score": m.score, "threshold": m.threshold, "reason": m.reason}
                for name, m in self.metrics().items()
            },
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> EvaluationResult:
        return cls(
            judge=raw["judge"],
            answer_relevancy=MetricResult(**raw["answer_relevancy"]),
            faithfulness=MetricResult(**raw["faithfulness"]),
            seconds=raw["seconds"],
            cost_usd=raw.get("cost_usd"),  # absent from rows stored before it was kept
        )


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def split_context(text: str) -> list[str]:
    """CONTEXT given as one string: passages separated by blank lines are separate items."""
    passages = [p.strip() for p in text.replace("\r\n", "\n").split("\n\n")]
    return [p for p in passages if p]

"""An evaluation's result as stored with its job and as logged to MLflow."""

from __future__ import annotations

from twinself.evaluation.results import EvaluationResult, MetricResult

RESULT = EvaluationResult(
    judge="gemini-2.0-flash",
    answer_relevancy=MetricResult(0.8, 0.7, "on topic"),
    faithfulness=MetricResult(0.6, 0.7, "one claim unsupported"),
    seconds=1.5,
    cost_usd=0.00025,
)


def test_the_judge_cost_survives_the_queue_and_reaches_mlflow() -> None:
    assert EvaluationResult.from_dict(RESULT.to_dict()) == RESULT
    assert RESULT.mlflow_metrics()["evaluation_cost_usd"] == 0.00025


def test_a_row_stored_before_costs_were_kept_still_reads_and_logs_no_cost() -> None:
    stored = RESULT.to_dict()
    del stored["cost_usd"]

    result = EvaluationResult.from_dict(stored)

    assert result.cost_usd is None
    assert "evaluation_cost_usd" not in result.mlflow_metrics()
    assert result.mlflow_metrics()["deepeval_faithfulness_passed"] == 0.0

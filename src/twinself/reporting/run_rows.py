"""Request runs of a period as compact rows: a paged search by start time, and of each run only
the fields the report reads (a run carries ~30 values, reasons of a few hundred characters)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from mlflow import MlflowClient
from mlflow.entities import Run

from twinself.pipeline.mlflow_run import searched_runs
from twinself.pipeline.mlflow_trace import REQUEST_ID_TAG
from twinself.pipeline.records import QUALITY_EVALUATION_TAG

# MLflow caps a page at 50,000 runs. The page size made no steady difference (1,000 to 50,000:
# 16.7 to 17.8 s for 10,000 runs on an idle machine, benchmarks/report_speed.py): the cost is per
# run, the server building and this process parsing ~4 KB of JSON for each, which is why a server
# is searched in parallel time windows (mlflow_source).
PAGE_SIZE = 5000
# Runs that are not requests but sit in the same experiment (the report's own run) carry this tag.
RUN_KIND_TAG = "twinself.run_kind"


@dataclass(frozen=True, slots=True)
class RunRow:
    run_id: str
    start_ms: int
    status: str  # success, error or client_disconnected
    error_type: str
    data_version: str
    model: str  # provider/model
    total_seconds: float | None  # what the visitor waited: retrieval, prompt and generation
    relevancy: float | None
    faithfulness: float | None
    relevancy_passed: bool | None
    faithfulness_passed: bool | None
    input_tokens: float
    output_tokens: float
    cost_usd: float
    judge_cost_usd: float
    quality_evaluation: str
    trace_id: str
    reason: str  # the relevancy judge's reason, shown beside the worst answers

    @property
    def judged(self) -> bool:
        return self.relevancy is not None or self.faithfulness is not None

    @property
    def lowest_score(self) -> float:
        scores = [s for s in (self.relevancy, self.faithfulness) if s is not None]
        return min(scores) if scores else 1.0


def row_of(run: Run) -> RunRow | None:
    """None for a run that is not a request (no request_id tag, or a report's own run)."""
    tags = run.data.tags
    if REQUEST_ID_TAG not in tags or RUN_KIND_TAG in tags:
        return None
    metrics, params = run.data.metrics, run.data.params
    provider, model = params.get("provider", ""), params.get("model", "")
    return RunRow(
        run_id=run.info.run_id,
        start_ms=int(run.info.start_time or 0),
        status=tags.get("status", "success"),
        error_type=tags.get("error_type", ""),
        data_version=params.get("data_version", "") or "unknown",
        model=f"{provider}/{model}" if provider else (model or "unknown"),
        total_seconds=metrics.get("total_time_seconds"),
        relevancy=metrics.get("deepeval_answer_relevancy"),
        faithfulness=metrics.get("deepeval_faithfulness"),
        relevancy_passed=_flag(metrics.get("deepeval_answer_relevancy_passed")),
        faithfulness_passed=_flag(metrics.get("deepeval_faithfulness_passed")),
        input_tokens=metrics.get("input_tokens", 0.0),
        output_tokens=metrics.get("output_tokens", 0.0),
        cost_usd=metrics.get("total_cost_usd", 0.0),
        judge_cost_usd=metrics.get("evaluation_cost_usd", 0.0),
        quality_evaluation=tags.get(QUALITY_EVALUATION_TAG, "disabled"),
        trace_id=tags.get("trace_id", ""),
        reason=tags.get("deepeval_answer_relevancy_reason", ""),
    )


def _flag(value: float | None) -> bool | None:
    return None if value is None else value >= 0.5


def search_rows(
    client: MlflowClient,
    experiment_id: str,
    start_ms: int,
    end_ms: int,
    page_size: int = PAGE_SIZE,
) -> Iterator[RunRow]:
    """Every request run that started in [start_ms, end_ms), page by page."""
    window = f"attributes.start_time >= {start_ms} AND attributes.start_time < {end_ms}"
    for run in searched_runs(client, experiment_id, window, page_size):
        row = row_of(run)
        if row is not None:
            yield row

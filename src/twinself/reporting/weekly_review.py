"""The weekly review end to end: runs of a period from MLflow -> figures -> plots -> one HTML
page; and the page logged as an artifact of a `weekly_review` run beside the runs it sums up."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from twinself.pipeline.mlflow_sink import MlflowRunSink
from twinself.reporting.feedback import newest_feedback, ratings_of
from twinself.reporting.figures import ReportFigures, Slice, summarise
from twinself.reporting.html_page import render_page
from twinself.reporting.mlflow_source import ReportSource
from twinself.reporting.period import ReportPeriod
from twinself.reporting.plots import section_plots
from twinself.reporting.run_rows import PAGE_SIZE, RUN_KIND_TAG

REVIEW_RUN_NAME = "weekly_review"


@dataclass
class WeeklyReview:
    period: ReportPeriod
    figures: ReportFigures
    html: str | None  # None: no request in the period, nothing worth a page
    seconds: dict[str, float] = field(default_factory=dict)  # search, figures, page

    @property
    def empty(self) -> bool:
        return self.figures.total.requests == 0

    @property
    def file_name(self) -> str:
        return f"weekly-review-{self.period.label}.html"

    def to_json(self) -> dict[str, Any]:
        return {"period": self.period.label, **asdict(self.figures), "seconds": self.seconds}


def build_review(
    source: ReportSource,
    period: ReportPeriod,
    *,
    now: datetime,
    outbox_path: Path | None = None,
    page_size: int = PAGE_SIZE,
) -> WeeklyReview:
    started = time.perf_counter()
    rows = source.rows(period, page_size)
    searched = time.perf_counter()
    figures = summarise(rows, period)
    figures.search_seconds = searched - started
    review = WeeklyReview(period, figures, None)
    if not rows:
        review.seconds = {"search": searched - started}
        return review
    figures.worst = source.with_texts(figures.worst)
    if outbox_path is not None:
        figures.feedback = newest_feedback(outbox_path, period, source.trace_url)
        figures.ratings = ratings_of(outbox_path, period, source.trace_url)
    summed = time.perf_counter()
    review.html = render_page(
        figures,
        section_plots(figures),
        period,
        experiment=source.experiment_name,
        tracking_uri=source.tracking_uri,
        generated_at=now,
    )
    review.seconds = {
        "search": searched - started,
        "figures": summed - searched,
        "page": time.perf_counter() - summed,
    }
    return review


def log_review(sink: MlflowRunSink, review: WeeklyReview) -> str:
    """A finished `weekly_review` run with the page as its artifact; its run id. The run kind
    tag keeps it out of later reports' figures."""
    if review.html is None:
        raise ValueError("an empty period has no page to log")
    total = review.figures.total
    return sink.log_summary_run(
        REVIEW_RUN_NAME,
        {
            "period_start": review.period.start.isoformat(),
            "period_end": review.period.end.isoformat(),
        },
        _summary_metrics(total),
        {review.file_name: review.html},
        tags={RUN_KIND_TAG: REVIEW_RUN_NAME},
    )


def _summary_metrics(total: Slice) -> dict[str, float]:
    values: dict[str, float | None] = {
        "requests": total.requests,
        "errors": total.errors,
        "response_time_mean_seconds": total.latency.mean,
        "response_time_p50_seconds": total.latency.p50,
        "response_time_p95_seconds": total.latency.p95,
        "answer_relevancy_mean": total.quality.relevancy,
        "faithfulness_mean": total.quality.faithfulness,
        "answer_relevancy_pass_rate": total.quality.relevancy_pass_rate,
        "faithfulness_pass_rate": total.quality.faithfulness_pass_rate,
        "judged_answers": total.quality.judged,
        "cost_usd": total.cost.total_usd,
        "cost_per_request_usd": total.cost.per_request_usd,
        "input_tokens": total.cost.input_tokens,
        "output_tokens": total.cost.output_tokens,
        "judge_cost_usd": total.cost.judge_usd,
    }
    return {name: float(value) for name, value in values.items() if value is not None}

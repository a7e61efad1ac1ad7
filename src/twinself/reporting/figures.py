"""The report's figures from the rows: per day, per data version and model, errors, evaluation
coverage and the worst-scored answers. Pure functions of the rows; no MLflow here."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from twinself.reporting.period import ReportPeriod
from twinself.reporting.run_rows import RunRow

PASS_MARK = 0.7  # the judges' threshold, drawn as a line on the quality plots
WORST_ANSWERS = 10
# The quality_evaluation tag's values, as the coverage section names them.
COVERAGE_NAMES = {
    "evaluated": "judged",
    "not_sampled": "not sampled",
    "failed": "failed",
    "dead_letter": "dead letter",
    "evaluating_in_background": "pending",
    "disabled": "not evaluated",
}


@dataclass(frozen=True)
class Latency:
    """Seconds per successful request, from the request to its last token."""

    count: int
    mean: float | None
    p50: float | None
    p95: float | None


@dataclass(frozen=True)
class Quality:
    judged: int
    relevancy: float | None  # mean score
    faithfulness: float | None
    relevancy_pass_rate: float | None
    faithfulness_pass_rate: float | None


@dataclass(frozen=True)
class Cost:
    total_usd: float
    per_request_usd: float | None  # over successful requests
    input_tokens: int
    output_tokens: int
    judge_usd: float


@dataclass(frozen=True)
class Slice:
    """The same figures for one day, one data version and model, or the whole period."""

    requests: int
    errors: int
    latency: Latency
    quality: Quality
    cost: Cost


@dataclass(frozen=True)
class DaySlice(Slice):
    day: str = ""


@dataclass(frozen=True)
class GroupSlice(Slice):
    data_version: str = ""
    model: str = ""
    first_seen: str = ""  # ISO time of its first request in the period, to order rebuilds


@dataclass(frozen=True)
class WorstAnswer:
    run_id: str
    trace_id: str
    time: str
    data_version: str
    relevancy: float | None
    faithfulness: float | None
    reason: str
    question: str = ""
    answer: str = ""
    run_url: str = ""
    trace_url: str = ""


@dataclass
class ReportFigures:
    period_start: str
    period_end: str
    total: Slice
    days: list[DaySlice]
    errors_by_type: dict[str, int]
    coverage: dict[str, int]
    groups: list[GroupSlice]
    worst: list[WorstAnswer]
    feedback: list[dict[str, str]] | None = None  # None: the outbox is not on this machine
    ratings: dict[str, Any] | None = None  # thumbs: up, down, newest_down (feedback.ratings_of)
    runs_read: int = 0
    search_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def summarise(
    rows: Sequence[RunRow], period: ReportPeriod, worst: int = WORST_ANSWERS
) -> ReportFigures:
    by_day: dict[date, list[RunRow]] = defaultdict(list)
    by_group: dict[tuple[str, str], list[RunRow]] = defaultdict(list)
    for row in rows:
        by_day[_day_of(row.start_ms)].append(row)
        by_group[(row.data_version, row.model)].append(row)
    groups = [
        GroupSlice(
            **vars(slice_of(members)),
            data_version=version,
            model=model,
            first_seen=_iso(min(r.start_ms for r in members)),
        )
        for (version, model), members in by_group.items()
    ]
    groups.sort(key=lambda g: (g.first_seen, g.data_version, g.model))
    errors = Counter(r.error_type or "unknown" for r in rows if r.status != "success")
    coverage = Counter(
        COVERAGE_NAMES.get(r.quality_evaluation, r.quality_evaluation)
        for r in rows
        if r.status == "success"
    )
    return ReportFigures(
        period_start=period.start.isoformat(),
        period_end=period.end.isoformat(),
        total=slice_of(rows),
        days=[
            DaySlice(**vars(slice_of(by_day.get(d, []))), day=d.isoformat()) for d in period.days()
        ],
        errors_by_type=dict(errors.most_common()),
        coverage={name: coverage.get(name, 0) for name in COVERAGE_NAMES.values()},
        groups=groups,
        worst=worst_answers(rows, worst),
        runs_read=len(rows),
    )


def slice_of(rows: Sequence[RunRow]) -> Slice:
    answered = [r for r in rows if r.status == "success"]
    return Slice(
        requests=len(rows),
        errors=len(rows) - len(answered),
        latency=_latency([r.total_seconds for r in answered if r.total_seconds is not None]),
        quality=_quality(rows),
        cost=Cost(
            total_usd=sum(r.cost_usd for r in rows),
            per_request_usd=sum(r.cost_usd for r in answered) / len(answered) if answered else None,
            input_tokens=int(sum(r.input_tokens for r in rows)),
            output_tokens=int(sum(r.output_tokens for r in rows)),
            judge_usd=sum(r.judge_cost_usd for r in rows),
        ),
    )


def worst_answers(rows: Iterable[RunRow], count: int) -> list[WorstAnswer]:
    judged = sorted(
        (r for r in rows if r.judged),
        key=lambda r: (r.lowest_score, (r.relevancy or 0) + (r.faithfulness or 0), r.start_ms),
    )
    return [
        WorstAnswer(
            run_id=r.run_id,
            trace_id=r.trace_id,
            time=_iso(r.start_ms),
            data_version=r.data_version,
            relevancy=r.relevancy,
            faithfulness=r.faithfulness,
            reason=r.reason,
        )
        for r in judged[:count]
    ]


def _latency(seconds: list[float]) -> Latency:
    if not seconds:
        return Latency(0, None, None, None)
    p50, p95 = np.percentile(np.asarray(seconds), [50, 95])
    return Latency(len(seconds), float(np.mean(seconds)), float(p50), float(p95))


def _quality(rows: Sequence[RunRow]) -> Quality:
    relevancy = [r.relevancy for r in rows if r.relevancy is not None]
    faithfulness = [r.faithfulness for r in rows if r.faithfulness is not None]
    relevancy_passed = [r.relevancy_passed for r in rows if r.relevancy_passed is not None]
    faithfulness_passed = [r.faithfulness_passed for r in rows if r.faithfulness_passed is not None]
    return Quality(
        judged=sum(r.judged for r in rows),
        relevancy=_mean(relevancy),
        faithfulness=_mean(faithfulness),
        relevancy_pass_rate=_mean([float(p) for p in relevancy_passed]),
        faithfulness_pass_rate=_mean([float(p) for p in faithfulness_passed]),
    )


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _day_of(start_ms: int) -> date:
    return datetime.fromtimestamp(start_ms / 1000, UTC).date()


def _iso(start_ms: int) -> str:
    return datetime.fromtimestamp(start_ms / 1000, UTC).isoformat(timespec="seconds")

"""`twinself report`: the weekly review of the request runs in MLflow, as one HTML page, a
table in the terminal (or JSON), and a `weekly_review` run holding the page."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich import box
from rich.table import Table

from twinself.cli.common import console, err_console, handle_errors, load_settings

if TYPE_CHECKING:
    from twinself.reporting.figures import ReportFigures, Slice


def report(
    since: str | None = typer.Option(
        None, "--since", help="How far back from now: 7d (the default), 24h, 2w."
    ),
    first_day: str | None = typer.Option(
        None, "--from", help="First UTC day, YYYY-MM-DD (instead of --since)."
    ),
    last_day: str | None = typer.Option(
        None, "--to", help="Last UTC day, included (default: today; needs --from)."
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="The HTML file (default: TWINSELF_HOME/reports/weekly-review-FROM_TO.html).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON, no table."),
    mlflow_ui_url: str = typer.Option(
        "http://127.0.0.1:5000",
        "--mlflow-ui-url",
        help="Where the page's links open runs and traces when the runs are read from the "
        "local SQLite store: the UI `twinself serve --mlflow-ui` serves ('' for no links). "
        "With MLFLOW_TRACKING_URI set to a server, that server's address is used.",
    ),
    log: bool = typer.Option(
        True, "--log/--no-log", help="Log the page as a weekly_review run in MLflow."
    ),
) -> None:
    """The weekly review: requests, response time (average, p50, p95), errors, quality trend
    and pass rates, evaluation coverage, cost per request, tokens and the judge's spend, per
    day and per data version and model, with the worst-scored answers and the newest feedback.
    Reads the runs of MLFLOW_EXPERIMENT_NAME; days are UTC.

    Example:
        twinself report
        twinself report --from 2026-11-23 --to 2026-11-29 --out review.html
        twinself report --since 24h --json
    """
    from twinself.pipeline.mlflow_sink import build_run_sink
    from twinself.reporting.mlflow_source import ReportSource
    from twinself.reporting.period import InvalidPeriod, period_between, period_since
    from twinself.reporting.weekly_review import build_review, log_review

    now = datetime.now(UTC)
    if first_day is not None and since is not None:
        raise InvalidPeriod("Use --since or --from/--to, not both.")
    if last_day is not None and first_day is None:
        raise InvalidPeriod("--to needs --from, e.g. --from 2026-11-23 --to 2026-11-29.")
    period = (
        period_between(first_day, last_day, now)
        if first_day is not None
        else period_since(since or "7d", now)
    )
    settings = load_settings()
    source = ReportSource(
        settings.resolved_tracking_uri, settings.mlflow_experiment, ui_url=mlflow_ui_url
    )
    with err_console.status(f"Reading the runs of '{settings.mlflow_experiment}'..."):
        review = build_review(source, period, now=now, outbox_path=settings.home / "outbox.sqlite3")
    if review.html is None:
        message = (
            f"No requests in '{settings.mlflow_experiment}' from {period.first_day} to "
            f"{period.last_day}: nothing to review, no page written. Try a longer period "
            "(--since 30d), or check MLFLOW_EXPERIMENT_NAME and that the shipper runs."
        )
        if as_json:
            typer.echo(json.dumps({**review.to_json(), "message": message}))
        else:
            err_console.print(message, highlight=False)
        return
    target = out or settings.home / "reports" / review.file_name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(review.html, encoding="utf-8")
    if not as_json:
        console.print(_days_table(review.figures))
        console.print(_groups_table(review.figures))
        console.print(_totals(review.figures), highlight=False)
    # Said before logging: a failure to log below leaves the page where it is.
    err_console.print(f"Weekly review written to {target}", highlight=False, soft_wrap=True)
    run_id = log_review(build_run_sink(settings), review) if log else None
    if as_json:
        typer.echo(json.dumps({**review.to_json(), "html": str(target), "run_id": run_id}))
        return
    if run_id:
        err_console.print(
            f"Logged as MLflow run {run_id} ({source.run_url(run_id) or source.tracking_uri}).",
            highlight=False,
            soft_wrap=True,
        )


# Fits 80 columns; the page has every figure. Scores read "mean pass-rate", e.g. "0.78 76%".
_COLUMNS = ("req", "err", "avg s", "p50 s", "p95 s", "relev.", "faith.", "USD/req")
_GROUP_COLUMNS = ("req", "p95 s", "relev.", "faith.", "USD/req")


def _cells(s: Slice, columns: tuple[str, ...] = _COLUMNS) -> list[str]:
    def fixed(value: float | None, digits: int) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    def score(mean: float | None, rate: float | None) -> str:
        return "-" if mean is None or rate is None else f"{mean:.2f} {rate:.0%}"

    q = s.quality
    cells = {
        "req": str(s.requests),
        "err": str(s.errors),
        "avg s": fixed(s.latency.mean, 2),
        "p50 s": fixed(s.latency.p50, 2),
        "p95 s": fixed(s.latency.p95, 2),
        "relev.": score(q.relevancy, q.relevancy_pass_rate),
        "faith.": score(q.faithfulness, q.faithfulness_pass_rate),
        "USD/req": fixed(s.cost.per_request_usd, 6),
    }
    return [cells[name] for name in columns]


def _table(title: str, first: dict[str, int], columns: tuple[str, ...]) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    for name, width in first.items():
        table.add_column(name, overflow="fold", min_width=width)
    for name in columns:
        table.add_column(name, justify="right", no_wrap=True)
    return table


def _days_table(figures: ReportFigures) -> Table:
    first, last = figures.days[0].day, figures.days[-1].day
    table = _table(f"Weekly review {first} to {last} (UTC)", {"day": 5}, _COLUMNS)
    for day in figures.days:
        table.add_row(day.day[5:], *_cells(day))
    table.add_row("all", *_cells(figures.total), style="bold")
    return table


def _groups_table(figures: ReportFigures) -> Table:
    table = _table("Per data version and model", {"data version": 12, "model": 14}, _GROUP_COLUMNS)
    for group in figures.groups:
        table.add_row(group.data_version, group.model, *_cells(group, _GROUP_COLUMNS))
    return table


def _totals(figures: ReportFigures) -> str:
    cost, coverage = figures.total.cost, figures.coverage
    shown = ", ".join(f"{name} {count}" for name, count in coverage.items() if count)
    return (
        f"Cost ${cost.total_usd:.4f} for {cost.input_tokens:,} tokens in, {cost.output_tokens:,} "
        f"out; the judge's spend ${cost.judge_usd:.4f}. Evaluation: {shown or 'none'}."
    )


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(report))

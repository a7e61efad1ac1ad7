"""One plot per report section, drawn with matplotlib's object API (no pyplot, so no global
figure state and no GUI backend) and returned as SVG text to embed in the page."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.typing import RcKeyType

from twinself.reporting.figures import PASS_MARK, ReportFigures

_SIZE = (7.5, 2.8)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)
_STYLE: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",  # text stays text: smaller, searchable, styled by the page's font
    "svg.hashsalt": "twinself-report",  # stable element ids: the same figures, the same file
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
_BLUE, _ORANGE, _RED, _GREEN, _GREY = "#2b6cb0", "#dd6b20", "#c53030", "#2f855a", "#718096"


def section_plots(figures: ReportFigures) -> dict[str, str]:
    """Section name -> SVG."""
    return {
        "requests": _svg(lambda ax: _requests(ax, figures)),
        "latency": _svg(lambda ax: _latency(ax, figures)),
        "errors": _svg(lambda ax: _errors(ax, figures), _bars_size(len(figures.errors_by_type))),
        "quality": _svg(lambda ax: _quality(ax, figures)),
        "coverage": _svg(
            lambda ax: _coverage(ax, figures), _bars_size(sum(map(bool, figures.coverage.values())))
        ),
        "cost": _svg(lambda ax: _cost(ax, figures)),
        "comparison": _comparison(figures),
        "worst": _svg(lambda ax: _worst(ax, figures)),
    }


def _bars_size(count: int) -> tuple[float, float]:
    """Horizontal bars: the figure grows with their number, not the other way round."""
    return (_SIZE[0], min(_SIZE[1], 0.9 + 0.32 * max(count, 1)))


def _legend(ax: Axes) -> None:
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), frameon=False, ncols=4)


def _svg(draw: Callable[[Axes], None], size: tuple[float, float] = _SIZE) -> str:
    with matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=size, layout="constrained")
        draw(figure.add_subplot())
        return _to_svg(figure)


def _to_svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    # The XML prolog, the doctype and the RDF metadata do not belong inside HTML.
    return _METADATA.sub("", text[text.index("<svg") :], count=1)


def _empty(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", color=_GREY, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def _day_labels(figures: ReportFigures) -> list[str]:
    return [d.day[5:] for d in figures.days]  # MM-DD


def _requests(ax: Axes, figures: ReportFigures) -> None:
    days = _day_labels(figures)
    answered = [d.requests - d.errors for d in figures.days]
    ax.bar(days, answered, color=_BLUE, label="answered")
    ax.bar(days, [d.errors for d in figures.days], bottom=answered, color=_RED, label="errors")
    ax.set_ylabel("requests")
    _legend(ax)
    _thin_ticks(ax, days)


def _latency(ax: Axes, figures: ReportFigures) -> None:
    if figures.total.latency.count == 0:
        _empty(ax, "no answered request in this period")
        return
    days = _day_labels(figures)
    for name, color, values in (
        ("p95", _RED, [d.latency.p95 for d in figures.days]),
        ("p50", _BLUE, [d.latency.p50 for d in figures.days]),
        ("average", _ORANGE, [d.latency.mean for d in figures.days]),
    ):
        ax.plot(days, _nan(values), marker="o", color=color, label=name)
    ax.set_ylabel("seconds")
    ax.set_ylim(bottom=0)
    _legend(ax)
    _thin_ticks(ax, days)


def _errors(ax: Axes, figures: ReportFigures) -> None:
    if not figures.errors_by_type:
        _empty(ax, "no errors in this period")
        return
    names = list(figures.errors_by_type)[:12][::-1]
    ax.barh(names, [figures.errors_by_type[n] for n in names], color=_RED)
    ax.set_xlabel("requests")


def _quality(ax: Axes, figures: ReportFigures) -> None:
    if figures.total.quality.judged == 0:
        _empty(ax, "no judged answer in this period")
        return
    days = _day_labels(figures)
    ax.plot(days, _nan([d.quality.relevancy for d in figures.days]), marker="o",
            color=_BLUE, label="answer relevancy")  # fmt: skip
    ax.plot(days, _nan([d.quality.faithfulness for d in figures.days]), marker="s",
            color=_GREEN, label="faithfulness")  # fmt: skip
    ax.plot(days, _nan([d.quality.relevancy_pass_rate for d in figures.days]), linestyle=":",
            color=_BLUE, label="relevancy pass rate")  # fmt: skip
    ax.plot(days, _nan([d.quality.faithfulness_pass_rate for d in figures.days]), linestyle=":",
            color=_GREEN, label="faithfulness pass rate")  # fmt: skip
    ax.axhline(PASS_MARK, color=_RED, linestyle="--", linewidth=1, label=f"pass mark {PASS_MARK}")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("mean score / pass rate")
    _legend(ax)
    _thin_ticks(ax, days)


def _coverage(ax: Axes, figures: ReportFigures) -> None:
    shown = {name: count for name, count in figures.coverage.items() if count}
    if not shown:
        _empty(ax, "no answered request to evaluate")
        return
    names = list(shown)[::-1]
    ax.barh(names, [shown[n] for n in names], color=_GREEN)
    ax.set_xlabel("answered requests")


def _cost(ax: Axes, figures: ReportFigures) -> None:
    days = _day_labels(figures)
    ax.bar(days, [d.cost.total_usd for d in figures.days], color=_BLUE, label="answers (USD)")
    totals = [d.cost.total_usd for d in figures.days]
    judge = [d.cost.judge_usd for d in figures.days]
    ax.bar(days, judge, bottom=totals, color=_ORANGE, label="judge (USD)")
    ax.set_ylabel("USD per day")
    _legend(ax)
    per_request = ax.twinx()
    per_request.plot(days, _nan([d.cost.per_request_usd for d in figures.days]),
                     color=_RED, marker="o", label="per request")  # fmt: skip
    per_request.set_ylabel("USD per request (red)")
    per_request.ticklabel_format(axis="y", style="plain", useOffset=False)
    per_request.set_ylim(bottom=0)
    per_request.grid(False)
    _thin_ticks(ax, days)


def _comparison(figures: ReportFigures) -> str:
    groups = figures.groups
    labels = [f"{g.data_version}\n{g.model}" for g in groups]
    height = max(2.8, 0.45 * len(groups) + 1.2)
    with matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=(7.5, height), layout="constrained")
        axes = figure.subplots(1, 3, sharey=True)
        panels: Sequence[tuple[str, list[float | None], str]] = (
            ("relevancy pass rate", [g.quality.relevancy_pass_rate for g in groups], _GREEN),
            ("p95 seconds", [g.latency.p95 for g in groups], _BLUE),
            ("USD per request", [g.cost.per_request_usd for g in groups], _ORANGE),
        )
        for ax, (title, values, color) in zip(axes, panels, strict=True):
            ax.barh(labels[::-1], _zero(values[::-1]), color=color)
            ax.set_title(title)
            ax.locator_params(axis="x", nbins=3)  # USD per request has long tick labels
        axes[0].axvline(PASS_MARK, color=_RED, linestyle="--", linewidth=1)
        return _to_svg(figure)


def _worst(ax: Axes, figures: ReportFigures) -> None:
    if not figures.worst:
        _empty(ax, "no judged answer in this period")
        return
    labels = [f"{i + 1}" for i in range(len(figures.worst))]
    ax.bar([i - 0.2 for i in range(len(labels))], _zero([w.relevancy for w in figures.worst]),
           width=0.4, color=_BLUE, label="answer relevancy")  # fmt: skip
    ax.bar([i + 0.2 for i in range(len(labels))], _zero([w.faithfulness for w in figures.worst]),
           width=0.4, color=_GREEN, label="faithfulness")  # fmt: skip
    ax.axhline(PASS_MARK, color=_RED, linestyle="--", linewidth=1)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_xlabel("answer (numbered as in the table)")
    ax.set_ylim(0, 1.05)
    _legend(ax)


def _nan(values: Sequence[float | None]) -> list[float]:
    return [float("nan") if v is None else v for v in values]


def _zero(values: Sequence[float | None]) -> list[float]:
    return [0.0 if v is None else v for v in values]


def _thin_ticks(ax: Axes, days: list[str]) -> None:
    step = max(1, len(days) // 14)  # a month's days stay readable
    ax.set_xticks(range(0, len(days), step), days[::step])

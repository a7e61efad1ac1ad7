"""The report as one self-contained HTML page: Jinja2 with autoescape on (every run value is
escaped), inline CSS, the plots inline as SVG; nothing is fetched when it opens."""

from __future__ import annotations

from datetime import datetime
from importlib.resources import files

from jinja2 import Environment, StrictUndefined

from twinself.reporting.figures import PASS_MARK, ReportFigures
from twinself.reporting.period import ReportPeriod

SECTIONS = (
    ("summary", "Summary"),
    ("requests", "Requests"),
    ("latency", "Response time"),
    ("errors", "Errors"),
    ("quality", "Quality"),
    ("coverage", "Coverage"),
    ("cost", "Cost"),
    ("comparison", "Versions and models"),
    ("worst", "Worst answers"),
    ("feedback", "Feedback"),
)

_environment = Environment(autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True)


def render_page(
    figures: ReportFigures,
    plots: dict[str, str],
    period: ReportPeriod,
    *,
    experiment: str,
    tracking_uri: str,
    generated_at: datetime,
) -> str:
    template = _environment.from_string(
        files("twinself.reporting").joinpath("weekly_review.html.j2").read_text("utf-8")
    )
    return template.render(
        f=figures,
        plots=plots,
        sections=SECTIONS,
        period_label=period.label,
        period_text=f"{period.start:%Y-%m-%d %H:%M} to {period.end:%Y-%m-%d %H:%M}",
        experiment=experiment,
        tracking_uri=tracking_uri,
        generated_at=f"{generated_at:%Y-%m-%d %H:%M} UTC",
        pass_mark=PASS_MARK,
        seconds=lambda v: "-" if v is None else f"{v:.2f} s",
        score=lambda v: "-" if v is None else f"{v:.3f}",
        percent=lambda v: "-" if v is None else f"{v:.0%}",
        usd=lambda v: "-" if v is None else f"${v:.4f}" if v >= 0.01 or v == 0 else f"${v:.6f}",
    )

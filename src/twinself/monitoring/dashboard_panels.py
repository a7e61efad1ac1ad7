"""The few panel shapes the twinself dashboard uses, built with grafana-foundation-sdk.

Every panel and every query names its data source through the dashboard's `datasource`
variable, never a uid: a provisioned Prometheus, or one the user picks, serves it as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import gauge, prometheus, stat, timeseries
from grafana_foundation_sdk.cog import builder as cog_builder
from grafana_foundation_sdk.cog import variants as cog_variants
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dashboard_models

DATASOURCE_VARIABLE = "datasource"
DATASOURCE = dashboard_models.DataSourceRef(
    type_val="prometheus", uid=f"${{{DATASOURCE_VARIABLE}}}"
)
# The answers' pass mark (evaluation's), drawn as a threshold line on the quality panels.
PASS_MARK = 0.7
REF_IDS = "ABCDEFGH"
PanelBuilder = timeseries.Panel | stat.Panel | gauge.Panel


@dataclass(frozen=True)
class Query:
    """One PromQL expression and how its series are named in the legend."""

    expr: str
    legend: str = ""


def _targets(
    queries: tuple[Query, ...], instant: bool
) -> list[cog_builder.Builder[cog_variants.Dataquery]]:
    targets: list[cog_builder.Builder[cog_variants.Dataquery]] = []
    for ref_id, query in zip(REF_IDS, queries, strict=False):
        target = (
            prometheus.Dataquery()
            .expr(query.expr)
            .ref_id(ref_id)
            .datasource(DATASOURCE)
            .legend_format(query.legend or "__auto")
        )
        targets.append(target.instant() if instant else target.range())
    return targets


def _steps(*steps: tuple[float | None, str]) -> dashboard_builders.ThresholdsConfig:
    return (
        dashboard_builders.ThresholdsConfig()
        .mode(dashboard_models.ThresholdsMode.ABSOLUTE)
        .steps([dashboard_models.Threshold(value=value, color=color) for value, color in steps])
    )


def _check(queries: tuple[Query, ...]) -> None:
    if not 0 < len(queries) <= len(REF_IDS):
        raise ValueError(f"a panel takes 1 to {len(REF_IDS)} queries, not {len(queries)}")


def time_series(
    title: str,
    description: str,
    *queries: Query,
    unit: str = "short",
    width: int = 12,
    pass_mark: bool = False,
) -> timeseries.Panel:
    """A graph over the dashboard's time range; `pass_mark` draws the 0.7 line on a 0..1 axis."""
    _check(queries)
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(_targets(queries, instant=False))
        .unit(unit)
        .span(width)
        .height(8)
        .fill_opacity(10)
        .legend(
            common_builders.VizLegendOptions()
            .show_legend(True)
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
        )
        .tooltip(common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI))
    )
    if pass_mark:
        panel = (
            panel.min(0)
            .max(1)
            .thresholds(_steps((None, "red"), (PASS_MARK, "green")))
            .thresholds_style(
                common_builders.GraphThresholdsStyleConfig().mode(
                    common.GraphThresholdsStyleMode.DASHED
                )
            )
        )
    return panel


def single_stat(
    title: str,
    description: str,
    *queries: Query,
    unit: str = "short",
    width: int = 6,
    time_from: str | None = None,
    show_name: bool = False,
    steps: tuple[tuple[float | None, str], ...] = ((None, "green"),),
    mappings: dict[str, tuple[str, str]] | None = None,
    no_value: str | None = None,
) -> stat.Panel:
    """The latest value of each series. `time_from` overrides the dashboard's range (`now/d`:
    today so far), which `$__range` in the query then spans; `show_name` shows the legend (a
    label's value) instead of the number; `mappings` turns values into text and colour."""
    _check(queries)
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(_targets(queries, instant=True))
        .unit(unit)
        .span(width)
        .height(5)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .graph_mode(common.BigValueGraphMode.NONE)
        .color_mode(common.BigValueColorMode.VALUE)
        .text_mode(common.BigValueTextMode.NAME if show_name else common.BigValueTextMode.AUTO)
        .thresholds(_steps(*steps))
    )
    if time_from is not None:
        panel = panel.time_from(time_from)
    if mappings:
        options = {
            value: dashboard_models.ValueMappingResult(text=text, color=color, index=index)
            for index, (value, (text, color)) in enumerate(sorted(mappings.items()))
        }
        panel = panel.mappings([dashboard_models.ValueMap(options=options)])
    if no_value is not None:
        panel = panel.no_value(no_value)
    return panel


def ratio_gauge(
    title: str,
    description: str,
    query: Query,
    *,
    width: int = 6,
    time_from: str | None = None,
    steps: tuple[tuple[float | None, str], ...],
    no_value: str | None = None,
) -> gauge.Panel:
    """One ratio on a 0..100 % dial."""
    panel = (
        gauge.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(_targets((query,), instant=True))
        .unit("percentunit")
        .min(0)
        .max(1)
        .span(width)
        .height(5)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .show_threshold_markers(True)
        .thresholds(_steps(*steps))
    )
    if time_from is not None:
        panel = panel.time_from(time_from)
    if no_value is not None:
        panel = panel.no_value(no_value)
    return panel

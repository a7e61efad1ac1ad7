"""`twinself report` on a real MLflow server holding real requests (answered by the app, shipped
by the shipper, judged by the local judge) and a few hundred synthetic ones over six days and two
data versions, shipped by the same shipper: the page parses, has a plot per section, and its
figures are the ones this test computes from the runs it made."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import statistics
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient
from typer.testing import CliRunner

from tests.support.html_reading import Page, cell_value
from tests.support.mlflow_process import MlflowServer
from tests.support.network import free_port
from tests.support.synthetic_week import (
    EVIL,
    Expected,
    expected_of,
    read_back,
    ship_synthetic,
    synthetic_records,
)
from twinself.cli.app import app
from twinself.config.settings import Settings
from twinself.embedding.sentence_transformer import SentenceTransformerEmbedder
from twinself.evaluation.judges import build_judge
from twinself.mlflow_server.local_server import use_wal_journal
from twinself.pipeline.evaluation_worker import build_evaluation_worker
from twinself.pipeline.mlflow_sink import MlflowRunSink
from twinself.pipeline.shipper import build_shipper
from twinself.pipeline.trace_ids import trace_id_for
from twinself.server.app import create_app
from twinself.server.services import ServerServices, build_services
from twinself.twin.factory import TwinRuntime

EXPERIMENT = "twinself_production"
SECTIONS_WITH_PLOTS = (
    "requests", "latency", "errors", "quality", "coverage", "cost", "comparison", "worst",
)  # fmt: skip
QUESTIONS = (
    "Where do you work?",
    "What are your hobbies?",
    "Where did you study?",
    "Which languages do you speak?",
    "What is your favourite food?",
)
runner = CliRunner()


@dataclass
class Filled:
    server: MlflowServer
    home: Path
    first_day: date
    last_day: date
    errors_only_day: date
    expected: list[Expected]
    evil_trace_id: str
    suggestion: str


def _real_requests(
    settings: Settings, runtime: TwinRuntime, embedder: SentenceTransformerEmbedder
) -> str:
    """Questions through the app with tracking on; shipped and judged by the real workers."""

    def services(s: Settings) -> ServerServices:
        return build_services(s, runtime=runtime)

    request_ids = []
    suggestion = "I work at <i>Solvik</i> in Gothenburg."
    with TestClient(create_app(settings, services)) as client:
        for question in QUESTIONS:
            answer = client.post("/chat", json={"session_id": "review", "message": question})
            assert answer.status_code == 200, answer.text
            request_ids.append(answer.json()["request_id"])
        refused = client.post(
            "/chat",
            json={"session_id": "review", "message": "x" * (settings.max_message_chars + 1)},
        )
        assert refused.status_code == 413
        posted = client.post(
            "/api/edit-message/suggestion",
            json={
                "original_question": "Where do you work?",
                "original_response": "I work somewhere.",
                "suggested_response": suggestion,
                "request_id": request_ids[0],
            },
        )
        assert posted.status_code == 200, posted.text
        for request_id, thumb in zip(request_ids[:3], ("down", "up", "down"), strict=True):
            rated = client.post(
                "/api/feedback/rating", json={"request_id": request_id, "rating": thumb}
            )
            assert rated.status_code == 200, rated.text
    shipper = build_shipper(settings)
    assert shipper.drain().shipped >= 6
    judge = build_judge(settings, lambda: embedder)
    assert asyncio.run(build_evaluation_worker(settings, judge).drain()).done == 5
    return suggestion


@contextmanager
def _process_settings_restored() -> Iterator[None]:
    """The sink and the report set MLflow's client settings for their process (os.environ):
    this test process gets its own back, so no other test module sees them."""
    names = (
        "MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT",
        "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME",
    )  # fmt: skip
    before = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="module")
def filled(
    tmp_path_factory: pytest.TempPathFactory,
    built_runtime: TwinRuntime,
    embedder: SentenceTransformerEmbedder,
) -> Iterator[Filled]:
    root = tmp_path_factory.mktemp("report")
    with _process_settings_restored():
        server = MlflowServer(root / "mlflow")
        server.root.mkdir()
        use_wal_journal(server.root / "mlflow.db")  # as `twinself serve --mlflow-ui` does
        server.start()
        try:
            home = root / "home"
            settings = built_runtime.settings.model_copy(
                update={"home": home, "mlflow_tracking_uri": server.uri}
            )
            suggestion = _real_requests(settings, built_runtime, embedder)
            today = datetime.now(UTC).date()
            made = synthetic_records(today, random.Random(13))
            # Straight into the server's store: the shipper's own code, without HTTP in between.
            sink = MlflowRunSink(
                f"sqlite:///{server.root / 'mlflow.db'}",
                EXPERIMENT,
                (home / "mlartifacts").as_uri(),
            )
            ship_synthetic(root, sink, EXPERIMENT, made)
            expected = [
                expected_of(r, o if isinstance(o, tuple) else None) for r, o in made
            ] + read_back(server.uri, home)
            evil = next(r for r, _ in made if r.question == EVIL)
            yield Filled(
                server=server,
                home=home,
                first_day=today - timedelta(days=6),
                last_day=max(e.day for e in expected),
                errors_only_day=today - timedelta(days=8),
                expected=expected,
                evil_trace_id=trace_id_for(evil.request_id),
                suggestion=suggestion,
            )
        finally:
            server.stop()


def _quantiles(values: list[float]) -> tuple[float, float]:
    """p50 and p95, linear between the closest ranks (as numpy's default)."""
    if len(values) == 1:
        return values[0], values[0]
    cuts = statistics.quantiles(values, n=20, method="inclusive")
    return cuts[9], cuts[18]


def _pass_rate(scores: list[float]) -> float | None:
    return sum(s >= 0.7 for s in scores) / len(scores) if scores else None


def _check_slice(cells: list[tuple[str, str | None]], runs: list[Expected]) -> None:
    """The columns of the page's slice tables against the runs this test made."""
    answered = [r for r in runs if r.status == "success"]
    p50, p95 = _quantiles([r.total_seconds for r in answered if r.total_seconds is not None])
    relevancy = [r.relevancy for r in runs if r.relevancy is not None]
    faithfulness = [r.faithfulness for r in runs if r.faithfulness is not None]
    assert cell_value(cells[0]) == len(runs)
    assert cell_value(cells[1]) == len(runs) - len(answered)
    assert cell_value(cells[3]) == pytest.approx(p50)
    assert cell_value(cells[4]) == pytest.approx(p95)
    assert cell_value(cells[5]) == pytest.approx(statistics.mean(relevancy))
    assert cell_value(cells[7]) == pytest.approx(_pass_rate(relevancy))
    assert cell_value(cells[8]) == pytest.approx(_pass_rate(faithfulness))
    assert cell_value(cells[9]) == pytest.approx(sum(r.cost_usd for r in runs))
    assert cell_value(cells[10]) == pytest.approx(sum(r.cost_usd for r in answered) / len(answered))
    assert cell_value(cells[11]) == sum(r.input_tokens for r in runs)
    assert cell_value(cells[13]) == pytest.approx(sum(r.judge_usd for r in runs))


def _report(filled: Filled, *args: str, uri: str | None = None, **env: str) -> Any:
    with _process_settings_restored(), pytest.MonkeyPatch.context() as patch:
        patch.setenv("TWINSELF_HOME", str(filled.home))
        patch.setenv("MLFLOW_TRACKING_URI", uri or filled.server.uri)
        patch.setenv("MLFLOW_EXPERIMENT_NAME", EXPERIMENT)
        for name, value in env.items():
            patch.setenv(name, value)
        return runner.invoke(app, ["report", *args])


@pytest.fixture(scope="module")
def page(filled: Filled, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    out = tmp_path_factory.mktemp("page") / "review.html"
    result = _report(
        filled, "--from", filled.first_day.isoformat(), "--to", filled.last_day.isoformat(),
        "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8"), result.output


def test_the_page_has_a_plot_per_section_and_the_figures_of_the_runs(
    filled: Filled, page: tuple[str, str]
) -> None:
    html, _ = page
    parsed = Page(html)
    assert {s: parsed.svgs[s] for s in SECTIONS_WITH_PLOTS} == dict.fromkeys(SECTIONS_WITH_PLOTS, 1)
    assert len(html.encode()) < 3_000_000
    assert not re.search(r"<(script|link|img|iframe)\b|@import|url\((?!#)", html)  # opens offline
    in_period = [e for e in filled.expected if filled.first_day <= e.day <= filled.last_day]
    by_day: dict[str, list[Expected]] = defaultdict(list)
    for e in in_period:
        by_day[e.day.isoformat()].append(e)
    days = parsed.rows("days")
    assert [row[0][0] for row in days] == sorted(by_day)
    for row in days:
        _check_slice(row[1:], by_day[row[0][0]])
    _check_slice(parsed.rows("totals")[0][1:], in_period)


def test_data_versions_and_models_side_by_side(filled: Filled, page: tuple[str, str]) -> None:
    parsed = Page(page[0])
    in_period = [e for e in filled.expected if filled.first_day <= e.day <= filled.last_day]
    groups: dict[tuple[str, str], list[Expected]] = defaultdict(list)
    for e in in_period:
        groups[(e.data_version, e.model)].append(e)
    rows = parsed.rows("groups")
    assert {(row[0][0], row[1][0]) for row in rows} == set(groups)
    assert len(groups) == 4  # v1, v2 with two models, and the memory the real requests used
    for row in rows:
        _check_slice(row[3:], groups[(row[0][0], row[1][0])])


def test_worst_answers_link_their_traces_and_markup_stays_text(
    filled: Filled, page: tuple[str, str]
) -> None:
    html, _ = page
    parsed = Page(html)
    worst = parsed.rows("worst-answers")
    assert len(worst) == 10
    first = worst[0]
    assert (cell_value(first[3]), cell_value(first[4])) == (0.01, 0.02)
    assert first[5][0] == EVIL  # shown as text ...
    assert all(row[5][0].startswith(("What are your skills?", "<script")) for row in worst[1:])
    assert "<script" not in html  # ... never as markup
    experiment = MlflowClient(filled.server.uri).get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    trace_url = (
        f"{filled.server.uri}/#/experiments/{experiment.experiment_id}/traces/"
        f"{filled.evil_trace_id}"
    )
    assert trace_url in parsed.links
    scores = sorted(
        min(e.relevancy, e.faithfulness)
        for e in filled.expected
        if e.relevancy is not None
        and e.faithfulness is not None
        and filled.first_day <= e.day <= filled.last_day
    )
    assert [min(cell_value(r[3]) or 0, cell_value(r[4]) or 0) for r in worst] == pytest.approx(
        scores[:10]
    )
    feedback = parsed.rows("feedback-table")
    assert [row[4][0] for row in feedback] == [filled.suggestion]
    assert "Thumbs: 1 up, 2 down" in " ".join("".join(parsed.text).split())
    assert len(parsed.rows("thumbs-down")) == 2


def test_coverage_and_errors_count_every_outcome(filled: Filled, page: tuple[str, str]) -> None:
    parsed = Page(page[0])
    coverage = {row[0][0]: cell_value(row[1]) for row in parsed.rows("coverage-table")}
    in_period = [e for e in filled.expected if filled.first_day <= e.day <= filled.last_day]
    judged = sum(e.relevancy is not None for e in in_period)
    assert coverage["judged"] == judged
    answered = sum(e.status == "success" for e in in_period)
    assert sum(v or 0 for v in coverage.values()) == answered
    assert coverage["dead letter"] and coverage["failed"] and coverage["not sampled"]
    errors = {row[0][0]: cell_value(row[1]) for row in parsed.rows("error-types")}
    wanted: dict[str, int] = defaultdict(int)
    for e in in_period:
        if e.status != "success":
            wanted[e.error_type] += 1
    assert errors == wanted


def test_the_review_is_logged_as_a_run_that_later_reports_leave_out(
    filled: Filled, page: tuple[str, str]
) -> None:
    client = MlflowClient(filled.server.uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    runs = client.search_runs(
        [experiment.experiment_id], "attributes.run_name = 'weekly_review'", max_results=10
    )
    assert len(runs) >= 1
    name = f"weekly-review-{filled.first_day}_{filled.last_day}.html"
    assert name in [a.path for a in client.list_artifacts(runs[0].info.run_id)]
    in_period = [e for e in filled.expected if filled.first_day <= e.day <= filled.last_day]
    assert runs[0].data.metrics["requests"] == len(in_period)
    again = _report(
        filled, "--from", filled.first_day.isoformat(), "--to", filled.last_day.isoformat(),
        "--json", "--no-log",
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    figures = json.loads(again.stdout)
    assert figures["total"]["requests"] == len(in_period)  # its own run is not a request
    assert [d["requests"] for d in figures["days"]] == [
        sum(e.day.isoformat() == d["day"] for e in in_period) for d in figures["days"]
    ]
    assert figures["html"].endswith(name)
    assert (filled.home / "reports" / name).exists()


def test_a_period_with_errors_only_still_renders(filled: Filled, tmp_path: Path) -> None:
    day = filled.errors_only_day.isoformat()
    out = tmp_path / "errors.html"
    result = _report(filled, "--from", day, "--to", day, "--out", str(out), "--no-log")
    assert result.exit_code == 0, result.output
    parsed = Page(out.read_text(encoding="utf-8"))
    assert {s: parsed.svgs[s] for s in SECTIONS_WITH_PLOTS} == dict.fromkeys(SECTIONS_WITH_PLOTS, 1)
    assert [cell_value(c) for c in parsed.rows("days")[0][1:3]] == [3, 3]
    assert "no answered request in this period" in "".join(parsed.text)


def test_an_empty_period_says_so_and_writes_nothing(filled: Filled, tmp_path: Path) -> None:
    out = tmp_path / "empty.html"
    result = _report(filled, "--from", "2020-01-01", "--to", "2020-01-07", "--out", str(out))
    assert result.exit_code == 0
    assert "No requests in 'twinself_production' from 2020-01-01 to 2020-01-07" in result.output
    assert not out.exists()


def test_missing_experiment_and_unreachable_mlflow_say_how_to_fix(filled: Filled) -> None:
    missing = _report(filled, "--since", "7d", MLFLOW_EXPERIMENT_NAME="no_such_experiment")
    assert missing.exit_code == 1
    assert "has no experiment 'no_such_experiment'" in missing.output
    assert "MLFLOW_EXPERIMENT_NAME" in missing.output
    down = _report(filled, "--since", "7d", uri=f"http://127.0.0.1:{free_port()}")
    assert down.exit_code == 1
    message = " ".join(down.output.split())
    assert "Start it (`twinself serve --mlflow-ui`" in message and "MLFLOW_TRACKING_URI" in message


def test_the_terminal_table_shows_days_and_versions(page: tuple[str, str]) -> None:
    output = " ".join(page[1].split())
    assert "Weekly review" in output and "Per data version and model" in output
    assert "v2_20261120" in output and "openai/" in output  # 80 columns: a long name folds
    assert "Weekly review written to" in output and "Logged as MLflow run" in output


def test_the_local_store_read_directly_gives_the_same_figures_and_links_to_the_ui(
    filled: Filled, tmp_path: Path
) -> None:
    """What `twinself report` does beside `make run` (MLFLOW_TRACKING_URI unset): it reads the
    SQLite store itself, and links to the UI `serve --mlflow-ui` serves."""
    period = ["--from", filled.first_day.isoformat(), "--to", filled.last_day.isoformat()]
    out = tmp_path / "local.html"
    direct = _report(
        filled, *period, "--out", str(out), "--json", "--no-log",
        "--mlflow-ui-url", "http://127.0.0.1:5999/",
        uri=f"sqlite:///{filled.server.root / 'mlflow.db'}",
    )  # fmt: skip
    assert direct.exit_code == 0, direct.output
    over_http = _report(filled, *period, "--json", "--no-log")

    def total(output: str) -> Any:  # sums in another order: equal to 9 places
        return json.loads(output, parse_float=lambda v: round(float(v), 9))["total"]

    assert total(direct.stdout) == total(over_http.stdout)
    experiment = MlflowClient(filled.server.uri).get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    trace_url = (
        f"http://127.0.0.1:5999/#/experiments/{experiment.experiment_id}/traces/"
        f"{filled.evil_trace_id}"
    )
    assert trace_url in Page(out.read_text(encoding="utf-8")).links

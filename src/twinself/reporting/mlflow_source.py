"""Where the report reads from: the request runs' experiment in MLflow, through `MlflowClient`
only, with errors that say how to fix them, and links into the MLflow UI."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from itertools import pairwise
from pathlib import Path
from urllib.parse import urlparse

from mlflow import MlflowClient
from mlflow.environment_variables import (
    MLFLOW_HTTP_REQUEST_MAX_RETRIES,
    MLFLOW_HTTP_REQUEST_TIMEOUT,
)
from mlflow.tracing.client import TracingClient

from twinself.errors import TwinselfError
from twinself.redaction import redact
from twinself.reporting.figures import WorstAnswer
from twinself.reporting.period import ReportPeriod
from twinself.reporting.run_rows import PAGE_SIZE, RunRow, search_rows

_PREVIEW_CHARS = 600
SEARCH_WINDOWS = 4


class ReportUnavailable(TwinselfError):
    """MLflow cannot be read, or holds no experiment of that name."""


class ReportSource:
    def __init__(self, tracking_uri: str, experiment_name: str, ui_url: str = "") -> None:
        """`ui_url`: where the MLflow UI of a store read directly (SQLite) is served, for the
        page's links; a server's own address is used when the tracking URI is one."""
        self._uri = tracking_uri
        self._experiment_name = experiment_name
        self._ui_url = ui_url.rstrip("/")
        self._client: MlflowClient | None = None
        self._experiment_id: str | None = None
        # A report is a process of its own: fail in seconds, not after MLflow's ~4 minutes of
        # retries, when the server is down.
        MLFLOW_HTTP_REQUEST_MAX_RETRIES.set(1)  # type: ignore[no-untyped-call]
        MLFLOW_HTTP_REQUEST_TIMEOUT.set(60)  # type: ignore[no-untyped-call]

    @property
    def tracking_uri(self) -> str:
        return redact(self._uri)

    @property
    def experiment_name(self) -> str:
        return self._experiment_name

    def experiment_id(self) -> str:
        if self._experiment_id is None:
            self._check_local_store()
            with self._errors("looking up the experiment"):
                experiment = self._mlflow().get_experiment_by_name(self._experiment_name)
            if experiment is None or experiment.lifecycle_stage != "active":
                raise ReportUnavailable(
                    f"MLflow at {self.tracking_uri} has no experiment '{self._experiment_name}'"
                    f"{' (it is deleted)' if experiment is not None else ''}. The shipper creates "
                    "it with the first request it ships (`twinself serve` runs the shipper); or "
                    "set MLFLOW_EXPERIMENT_NAME to the experiment your requests go to."
                )
            self._experiment_id = str(experiment.experiment_id)
        return self._experiment_id

    def rows(self, period: ReportPeriod, page_size: int = PAGE_SIZE) -> list[RunRow]:
        """A server is searched in SEARCH_WINDOWS time windows at once: it builds one window's
        JSON while this process parses another's (up to a third less time over 10,000 runs). A local
        store is searched in this process, where threads would only take turns."""
        experiment_id = self.experiment_id()
        client = self._mlflow()
        windows = SEARCH_WINDOWS if self._server_base() else 1
        start, end = period.start_ms, period.end_ms
        edges = [start + (end - start) * i // windows for i in range(windows + 1)]

        def search(window: tuple[int, int]) -> list[RunRow]:
            return list(search_rows(client, experiment_id, window[0], window[1], page_size))

        with self._errors("searching the runs"), _cyclic_gc_paused():
            if windows == 1:
                return search((start, end))
            with ThreadPoolExecutor(windows) as pool:
                return [row for rows in pool.map(search, pairwise(edges)) for row in rows]

    def with_texts(self, answers: list[WorstAnswer]) -> list[WorstAnswer]:
        """Question and answer from each one's trace (a few calls, one per answer), and links."""
        tracing = TracingClient(self._uri)
        filled = []
        for answer in answers:
            question = text = ""
            if answer.trace_id:
                try:
                    info = tracing.get_trace_info(answer.trace_id)
                    question = _preview(info.request_preview, "message")
                    text = _preview(info.response_preview, "response")
                except Exception:  # a run shipped without its trace still belongs in the list
                    question = "(the trace is not in MLflow)"
            filled.append(
                replace(
                    answer,
                    question=question,
                    answer=text,
                    run_url=self.run_url(answer.run_id),
                    trace_url=self.trace_url(answer.trace_id) if answer.trace_id else "",
                )
            )
        return filled

    # Routes of the MLflow 3 UI (hash router): experimentPageTabTraceDetail and the run page,
    # as declared in mlflow/server/js's routes and printed by MlflowClient for runs.
    def run_url(self, run_id: str) -> str:
        base = self._server_base() or self._ui_url
        return f"{base}/#/experiments/{self.experiment_id()}/runs/{run_id}" if base else ""

    def trace_url(self, trace_id: str) -> str:
        base = self._server_base() or self._ui_url
        return f"{base}/#/experiments/{self.experiment_id()}/traces/{trace_id}" if base else ""

    def _server_base(self) -> str:
        parsed = urlparse(self._uri)
        if parsed.scheme not in ("http", "https"):
            return ""
        host = parsed.hostname or ""
        port = f":{parsed.port}" if parsed.port else ""
        return f"{parsed.scheme}://{host}{port}{parsed.path.rstrip('/')}"  # no credentials

    def _mlflow(self) -> MlflowClient:
        if self._client is None:
            with self._errors("opening the tracking store"):
                self._client = MlflowClient(tracking_uri=self._uri)
        return self._client

    def _check_local_store(self) -> None:
        # MlflowClient would create an empty SQLite store where none is: say so instead.
        if self._uri.startswith("sqlite:///"):
            database = Path(self._uri.removeprefix("sqlite:///"))
            if not database.exists():
                raise ReportUnavailable(
                    f"There is no MLflow store at {database}: nothing was tracked on this "
                    "machine yet. Run `twinself serve` (it records and ships each request), or "
                    "set MLFLOW_TRACKING_URI to the MLflow server that holds the runs."
                )

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except TwinselfError:
            raise
        except Exception as exc:
            detail = redact(f"{type(exc).__name__}: {exc}", limit=500)
            raise ReportUnavailable(
                f"MLflow at {self.tracking_uri} failed while {doing}: {detail}. Start it "
                "(`twinself serve --mlflow-ui`, or `mlflow server`) or set MLFLOW_TRACKING_URI "
                "to the server that holds the runs, then run `twinself report` again."
            ) from exc


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Reading 10,000 runs makes ~300,000 short-lived objects (ORM rows, protobuf messages),
    and the cyclic collector would run over all of them again and again: paused, the search
    of a local store takes 3.2 s instead of 9 to 11 s (benchmarks/report_speed.py). Reference
    counting still frees everything; the collector runs once afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _preview(raw: str | None, key: str) -> str:
    """The root span's inputs/outputs as stored on the trace info (JSON, maybe truncated)."""
    if not raw:
        return ""
    try:
        value = json.loads(raw)
    except ValueError:
        return raw[:_PREVIEW_CHARS]  # truncated JSON: the raw text reads well enough
    text = value.get(key, raw) if isinstance(value, dict) else raw
    return str(text)[:_PREVIEW_CHARS]

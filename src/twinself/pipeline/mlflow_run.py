"""An outbox record as an MLflow run: its status, tags and times, the windows that find a
batch's runs in one search, and the one paged run search (the shipper's and the report's). The
trace's side is `mlflow_trace`."""

from __future__ import annotations

from collections.abc import Iterator

from mlflow import MlflowClient
from mlflow.entities import Run, ViewType

from twinself.pipeline.mlflow_trace import REQUEST_ID_TAG
from twinself.pipeline.records import RequestRecord

_RUN_STATUS = {"success": "FINISHED", "error": "FAILED", "client_disconnected": "KILLED"}


def millis(epoch_seconds: float) -> int:
    return int(epoch_seconds * 1000)


def searched_runs(
    client: MlflowClient, experiment_id: str, filter_string: str, page_size: int
) -> Iterator[Run]:
    """Every active run of the experiment that the filter matches, page by page."""
    page_token: str | None = None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string,
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=page_size,
            page_token=page_token,
        )
        yield from page
        if not page.token:
            return
        page_token = page.token


def run_status(record: RequestRecord) -> str:
    return _RUN_STATUS.get(record.status, "FAILED")


def run_end_millis(record: RequestRecord) -> int:
    if record.root is not None:
        return record.root.end_ns // 1_000_000
    return millis(record.created_at + record.metrics.get("total_time_seconds", 0.0))


def run_tags(record: RequestRecord, trace_id: str) -> dict[str, str]:
    return {
        **record.tags,
        REQUEST_ID_TAG: record.request_id,
        "trace_id": trace_id,
        "status": record.status,
        "error_type": record.error_type,
        "endpoint": record.endpoint,
        "http_status": str(record.http_status),
    }


def time_windows(sorted_millis: list[int], max_gap: int = 10_000) -> list[tuple[int, int]]:
    """Start times grouped at gaps, so one old retried record cannot stretch a batch's
    window over every run since."""
    windows: list[tuple[int, int]] = []
    for start in sorted_millis:
        if windows and start - windows[-1][1] <= max_gap:
            windows[-1] = (windows[-1][0], start)
        else:
            windows.append((start, start))
    return windows

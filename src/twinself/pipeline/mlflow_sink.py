"""Ship one outbox record as one MLflow run plus one trace, idempotently by request_id.

Everything goes through `MlflowClient` / `TracingClient` with explicit ids. Traces are written
straight to the tracking store (`start_trace` with a complete TraceInfo, then `log_spans`)
instead of through MLflow's span exporter: the exporter buffers in memory and logs-and-drops
write failures, while the shipper must know a trace is stored before it marks a record shipped.

Idempotency:
- the trace id and span ids are derived from the request_id (`mlflow_trace`), so a re-ship
  upserts the same trace and spans (both store calls merge on an existing id) and never
  creates a second trace;
- a run is created once: the caller passes the run id the outbox remembers, or the sink finds
  the run by its `request_id` tag before creating one (`find_runs` does it for a whole batch).

Calls per record: create_run (with its tags), one log_batch (params and metrics), start_trace
(the trace's info, linked to the run), set_terminated; the spans of a whole batch go in one
OTLP call (`open_run` for each record, `log_traces` for all, then `close_run` for each).
MLflow's REST API has no call that takes a run's params, metrics and end together, nor
several traces' infos.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from mlflow import MlflowClient
from mlflow.entities import Feedback as FeedbackAssessment
from mlflow.entities import Metric, Param, RunTag, Span
from mlflow.exceptions import MlflowException
from mlflow.store.tracking.rest_store import RestStore
from mlflow.tracing.client import TracingClient

from twinself.config.settings import Settings
from twinself.evaluation.results import EvaluationResult
from twinself.pipeline.feedback_queue import Feedback
from twinself.pipeline.mlflow_assessments import (
    judge_assessments,
    rating_assessment,
    rating_marker,
    suggestion_assessment,
    suggestion_marker,
)
from twinself.pipeline.mlflow_connection import MlflowConnection
from twinself.pipeline.mlflow_run import (
    millis,
    run_end_millis,
    run_status,
    run_tags,
    searched_runs,
    time_windows,
)
from twinself.pipeline.mlflow_trace import REQUEST_ID_TAG, trace_info, trace_spans
from twinself.pipeline.rating_queue import Rating
from twinself.pipeline.records import QUALITY_EVALUATION_TAG, EvaluationOutcome, RequestRecord
from twinself.pipeline.run_sink import (
    OpenedRun,
    RunNotFound,
    ShippedRun,
    SinkRejected,
    SinkUnavailable,
)
from twinself.pipeline.trace_ids import trace_id_for

JUDGE_TAG = "deepeval_judge"


class MlflowRunSink(MlflowConnection):
    """One MLflow run and one trace per request, in one experiment, via explicit ids only."""

    # --- RunSink ----------------------------------------------------------------------

    def find_runs(self, records: Sequence[RequestRecord]) -> dict[str, str]:
        if not records:
            return {}
        wanted = {record.request_id for record in records}
        found: dict[str, str] = {}
        # A run starts at its record's created_at, so a time window finds a batch's runs in
        # one search (tags cannot be searched with IN); the request_id tag picks the exact run.
        with self._mlflow_errors("looking up existing runs"):
            client = self._clients()[0]
            experiment_id = self._resolve_experiment()
            for first, last in time_windows(sorted(millis(r.created_at) for r in records)):
                window = f"attributes.start_time >= {first} AND attributes.start_time <= {last}"
                for run in searched_runs(client, experiment_id, window, page_size=1000):
                    request_id = run.data.tags.get(REQUEST_ID_TAG)
                    if request_id in wanted:
                        found.setdefault(request_id, run.info.run_id)
        return found

    def ship(
        self,
        record: RequestRecord,
        known_run_id: str | None,
        on_run_created: Callable[[str], None],
        *,
        look_up_run: bool = True,
    ) -> ShippedRun:
        opened = self.open_run(record, known_run_id, on_run_created, look_up_run=look_up_run)
        self.log_traces([opened])
        return self.close_run(opened)

    def open_run(
        self,
        record: RequestRecord,
        known_run_id: str | None,
        on_run_created: Callable[[str], None],
        *,
        look_up_run: bool = True,
    ) -> OpenedRun:
        trace_id = trace_id_for(record.request_id)
        with self._mlflow_errors(f"shipping request {record.request_id}"):
            client, tracing = self._clients()
            experiment_id = self._resolve_experiment()
            run_id = known_run_id
            if run_id is None and look_up_run:
                run_id = self._find_run(experiment_id, record.request_id)
            created = run_id is None
            if run_id is None:
                run_id = client.create_run(
                    experiment_id,
                    start_time=millis(record.created_at),
                    tags=run_tags(record, trace_id),
                    run_name=f"chat-{record.request_id[:8]}",
                ).info.run_id
        if created:
            on_run_created(run_id)
        with self._mlflow_errors(f"shipping request {record.request_id}"):
            timestamp = millis(record.created_at)
            client.log_batch(
                run_id,
                metrics=[Metric(k, float(v), timestamp, 0) for k, v in record.metrics.items()],
                params=[Param(k, str(v)) for k, v in record.params.items()],
            )
            spans = trace_spans(record, trace_id)
            tracing.start_trace(trace_info(record, trace_id, experiment_id, run_id, spans))
        return OpenedRun(record, run_id, trace_id)

    def log_traces(self, opened: Sequence[OpenedRun]) -> None:
        """Every span of these traces in one call: the OTLP endpoint behind `log_spans` takes
        spans of many traces and upserts them by id."""
        if not opened:
            return
        with self._mlflow_errors(f"logging the spans of {len(opened)} request(s)"):
            tracing = self._clients()[1]
            experiment_id = self._resolve_experiment()
            spans = [s for o in opened for s in trace_spans(o.record, o.trace_id)]
            self._log_spans(tracing, experiment_id, spans)

    def close_run(self, opened: OpenedRun) -> ShippedRun:
        """Terminated last: a FINISHED/FAILED/KILLED run always has its trace."""
        record = opened.record
        with self._mlflow_errors(f"shipping request {record.request_id}"):
            self._clients()[0].set_terminated(
                opened.run_id, run_status(record), end_time=run_end_millis(record)
            )
        return ShippedRun(run_id=opened.run_id, trace_id=opened.trace_id)

    def log_feedback(self, feedback: Feedback, trace_id: str) -> None:
        with self._mlflow_errors(f"logging feedback {feedback.feedback_id}"):
            self._log_once(trace_id, suggestion_assessment(feedback), suggestion_marker(feedback))

    def log_rating(self, rating: Rating, trace_id: str) -> None:
        with self._mlflow_errors(f"logging rating {rating.rating_id}"):
            self._log_once(trace_id, rating_assessment(rating), rating_marker(rating))

    def _log_once(
        self, trace_id: str, assessment: FeedbackAssessment, marker: dict[str, str]
    ) -> None:
        """A retry after a crash between logging and marking must not add a second copy: an
        assessment of this name whose metadata holds `marker` is this one."""
        tracing = self._clients()[1]
        for existing in tracing.get_trace_info(trace_id).assessments:
            metadata = existing.metadata or {}
            if existing.name == assessment.name and all(
                metadata.get(k) == v for k, v in marker.items()
            ):
                return
        tracing.log_assessment(trace_id, assessment)

    def log_evaluation(self, run_id: str, trace_id: str | None, result: EvaluationResult) -> bool:
        """Scores as run metrics and tags, and as LLM_JUDGE assessments on the trace.

        Exactly once across crashes: assessments go first and are skipped when present; the
        run's metrics and tags go last in one log_batch, and their presence means "all done"
        (then nothing is logged and False is returned). `trace_id=None` takes the run's.
        That log_batch also sets the `quality_evaluation` tag to `evaluated` (the values are
        listed at `RunSink.end_quality_evaluation`).
        """
        with self._mlflow_errors(f"logging an evaluation to run {run_id}"):
            client, tracing = self._clients()
            tags = self._tags_of_run(client, run_id)
            if JUDGE_TAG in tags:
                return False
            trace_id = trace_id or tags.get("trace_id")
            if trace_id is not None:
                present = {a.name for a in tracing.get_trace_info(trace_id).assessments}
                for name, assessment in judge_assessments(result).items():
                    if name not in present:
                        tracing.log_assessment(trace_id, assessment)
            timestamp = int(time.time() * 1000)
            client.log_batch(
                run_id,
                metrics=[Metric(k, v, timestamp, 0) for k, v in result.mlflow_metrics().items()],
                tags=[
                    *(RunTag(k, v) for k, v in result.mlflow_tags().items()),
                    RunTag(QUALITY_EVALUATION_TAG, "evaluated"),
                ],
            )
        return True

    def end_quality_evaluation(self, run_id: str, outcome: EvaluationOutcome) -> None:
        """`dead_letter` or `failed` on the run (the values: `RunSink.end_quality_evaluation`);
        one whose scores are logged keeps `evaluated`."""
        with self._mlflow_errors(f"tagging run {run_id} {QUALITY_EVALUATION_TAG}={outcome}"):
            client = self._clients()[0]
            if JUDGE_TAG not in self._tags_of_run(client, run_id):
                client.set_tag(run_id, QUALITY_EVALUATION_TAG, outcome)

    def log_summary_run(
        self,
        run_name: str,
        params: dict[str, str],
        metrics: dict[str, float],
        artifacts: dict[str, str],
        tags: dict[str, str] | None = None,
    ) -> str:
        """One finished run that is not a request (a question-set evaluation, a weekly
        review); its run id."""
        with self._mlflow_errors(f"logging run {run_name}"):
            client = self._clients()[0]
            run_id = client.create_run(
                self._resolve_experiment(), run_name=run_name, tags=tags
            ).info.run_id
            timestamp = int(time.time() * 1000)
            client.log_batch(
                run_id,
                metrics=[Metric(k, v, timestamp, 0) for k, v in metrics.items()],
                params=[Param(k, v) for k, v in params.items()],
            )
            for name, text in artifacts.items():
                client.log_text(run_id, text, name)
            client.set_terminated(run_id, "FINISHED")
        return str(run_id)

    # --- internals --------------------------------------------------------------------

    def _tags_of_run(self, client: MlflowClient, run_id: str) -> dict[str, str]:
        try:
            tags: dict[str, str] = client.get_run(run_id).data.tags
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            raise RunNotFound(
                f"There is no MLflow run {run_id!r} at {self.tracking_uri}. Copy a run id "
                "from the MLflow UI, or from GET /runs/REQUEST_ID."
            ) from None
        return tags

    def _find_run(self, experiment_id: str, request_id: str) -> str | None:
        if "'" in request_id or "\\" in request_id:
            raise SinkRejected(f"request_id {request_id!r} cannot be searched in MLflow")
        runs = self._clients()[0].search_runs(
            [experiment_id], f"tags.{REQUEST_ID_TAG} = '{request_id}'", max_results=1
        )
        return runs[0].info.run_id if runs else None

    def _log_spans(self, tracing: TracingClient, experiment_id: str, spans: list[Span]) -> None:
        try:
            tracing.log_spans(experiment_id, spans)
        except NotImplementedError as exc:
            # The REST store caches "server version unknown" forever once /version failed
            # (e.g. the server went down between two calls): forget it so the retry asks again.
            RestStore._get_server_version.cache_clear()
            raise SinkUnavailable(
                f"MLflow at {self.tracking_uri} did not accept spans ({exc}). It needs MLflow "
                ">= 3.4 with a database backend; records wait in the outbox meanwhile."
            ) from exc


def build_run_sink(settings: Settings, experiment_suffix: str = "") -> MlflowRunSink:
    """`experiment_suffix`: "-evaluation-sets" keeps question-set runs out of the request runs.

    A tracking server decides where a new experiment's artifacts go (its own artifact root):
    with replicas, the first to create the experiment would otherwise pin that box's disk."""
    tracking_uri = settings.resolved_tracking_uri
    on_a_server = tracking_uri.startswith(("http://", "https://"))
    return MlflowRunSink(
        tracking_uri,
        settings.mlflow_experiment + experiment_suffix,
        None if on_a_server else settings.mlflow_artifact_location,
    )


EVALUATION_SETS = "-evaluation-sets"

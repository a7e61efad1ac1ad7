"""Where the workers send what a request left behind: the `RunSink` protocol and its errors.

`mlflow_sink.MlflowRunSink` is the implementation; the shipper and the evaluation worker know
only this protocol. Every method raises `SinkUnavailable` (retry later, nothing is wrong with
the data) or `SinkRejected` (the data itself was refused).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from twinself.errors import TwinselfError
from twinself.evaluation.results import EvaluationResult
from twinself.pipeline.feedback_queue import Feedback
from twinself.pipeline.rating_queue import Rating
from twinself.pipeline.records import EvaluationOutcome, RequestRecord


class SinkUnavailable(TwinselfError):
    """MLflow cannot be reached or is failing: retry later, the record is not at fault."""


class SinkMisconfigured(SinkUnavailable):
    """The tracking URI or experiment is unusable: records wait until someone fixes it."""


class SinkRejected(TwinselfError):
    """MLflow refused this record: retrying the same data will most likely fail again."""


class RunNotFound(SinkRejected):
    """The run id names no run in the tracking store."""


@dataclass(frozen=True)
class ShippedRun:
    run_id: str
    trace_id: str


@dataclass(frozen=True)
class OpenedRun:
    """A record whose run holds its data and whose trace info is stored; its spans
    (`RunSink.log_traces`) and its end (`RunSink.close_run`) are to come."""

    record: RequestRecord
    run_id: str
    trace_id: str


class RunSink(Protocol):
    """Where the shipper sends records. Every method raises SinkUnavailable or SinkRejected."""

    def find_runs(self, records: Sequence[RequestRecord]) -> dict[str, str]:
        """request_id -> run_id for the records that already have a run (one lookup)."""
        ...

    def ship(
        self,
        record: RequestRecord,
        known_run_id: str | None,
        on_run_created: Callable[[str], None],
        *,
        look_up_run: bool = True,
    ) -> ShippedRun:
        """Write the record's run and trace (`open_run`, `log_traces`, `close_run`); safe to
        repeat.

        `known_run_id` is reused when given. Otherwise the run is looked up by request_id
        unless `look_up_run` is False (the caller already did, e.g. with `find_runs`).
        `on_run_created(run_id)` runs right after a new run exists, to remember it durably.
        """
        ...

    def open_run(
        self,
        record: RequestRecord,
        known_run_id: str | None,
        on_run_created: Callable[[str], None],
        *,
        look_up_run: bool = True,
    ) -> OpenedRun:
        """`ship` up to the spans: the run with its tags, params and metrics, the trace's info."""
        ...

    def log_traces(self, opened: Sequence[OpenedRun]) -> None:
        """The spans of these records' traces, all in one call; safe to repeat."""
        ...

    def close_run(self, opened: OpenedRun) -> ShippedRun:
        """End the run with the record's status, once its trace is complete; safe to repeat."""
        ...

    def log_feedback(self, feedback: Feedback, trace_id: str) -> None:
        """Attach a human's suggested response to the request's trace; safe to repeat."""
        ...

    def log_rating(self, rating: Rating, trace_id: str) -> None:
        """Attach a visitor's thumbs up or down to the request's trace; safe to repeat."""
        ...

    def log_evaluation(self, run_id: str, trace_id: str | None, result: EvaluationResult) -> bool:
        """Log a request's quality scores to its run and trace, with the run's
        `quality_evaluation` tag set to `evaluated` in the same write; False if already logged.
        """
        ...

    def end_quality_evaluation(self, run_id: str, outcome: EvaluationOutcome) -> None:
        """Set the run's `quality_evaluation` tag to how its evaluation ended; safe to repeat.

        The tag's values over a run's life:
        - `evaluating_in_background`: the answer was sampled; the run ships with this value
          (as do `not_sampled` and `disabled`, which stay as they are).
        - `evaluated`: the scores are logged (by `log_evaluation`, in the scores' own write).
        - `dead_letter`: the evaluation failed until its attempts ran out.
        - `failed`: the evaluation died at once, for a reason no retry can fix (a refused key).
        After `twinself evaluations retry`, a successful evaluation sets `evaluated` again. A run
        whose scores are logged keeps `evaluated`: this does nothing to it.
        """
        ...

    def check_connection(self) -> None:
        """Raise SinkUnavailable (or SinkMisconfigured) unless MLflow is ready for runs."""
        ...

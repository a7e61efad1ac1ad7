"""The MLflow side of a sink: its clients, its experiment, and MLflow's errors turned into the
sink's (`SinkUnavailable`: retry later; `SinkRejected`: the data was refused).

`mlflow_sink.MlflowRunSink` builds on it. Safe to share between the shipper's worker threads:
the clients are built once (a race builds two and keeps one), and the experiment lookup is
idempotent.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mlflow import MlflowClient
from mlflow.environment_variables import (
    MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR,
    MLFLOW_HTTP_REQUEST_MAX_RETRIES,
    MLFLOW_HTTP_REQUEST_TIMEOUT,
    MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT,
)
from mlflow.exceptions import ERROR_CODE_TO_HTTP_STATUS, MlflowException
from mlflow.tracing.client import TracingClient
from sqlalchemy.exc import OperationalError

from twinself.pipeline.run_sink import SinkMisconfigured, SinkRejected, SinkUnavailable
from twinself.redaction import redact

# 5xx other than 501, timeouts, conflicts and rate limits are worth retrying; other 4xx are not.
_RETRYABLE_HTTP_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


class MlflowConnection:
    """One tracking URI and one experiment, reached via explicit ids only."""

    def __init__(
        self,
        tracking_uri: str,
        experiment_name: str,
        artifact_location: str | None,
        *,
        http_timeout_seconds: int = 30,
        http_max_retries: int = 2,
    ) -> None:
        self._tracking_uri = tracking_uri
        self._experiment_name = experiment_name
        self._artifact_location = artifact_location
        self._client: MlflowClient | None = None
        self._tracing: TracingClient | None = None
        self._experiment_id: str | None = None
        # Process-level MLflow client settings; the sink only lives in the worker process.
        # The shipper backs off and retries by itself, so MLflow's own retries (7, ~4 minutes)
        # would only stall a pass and a SIGTERM. set_terminated() would otherwise fetch every
        # run again just to print its URL on stdout.
        for variable, value in (
            (MLFLOW_HTTP_REQUEST_TIMEOUT, http_timeout_seconds),
            (MLFLOW_HTTP_REQUEST_MAX_RETRIES, http_max_retries),
            (MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR, 1),
            (MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT, "true"),
        ):
            variable.set(value)  # type: ignore[no-untyped-call]

    @property
    def tracking_uri(self) -> str:
        """The tracking URI without credentials, fit for messages."""
        return redact(self._tracking_uri)

    def check_connection(self) -> None:
        with self._mlflow_errors("checking the connection"):
            if self._experiment_id is None:
                self._resolve_experiment()
            else:  # resolved before: ask the server all the same, this is a health check
                self._clients()[0].get_experiment(self._experiment_id)

    def _clients(self) -> tuple[MlflowClient, TracingClient]:
        # Built on first use: a SQLite store runs its migrations in the constructor.
        if self._client is None or self._tracing is None:
            try:
                client = MlflowClient(tracking_uri=self._tracking_uri)
                self._tracing = TracingClient(self._tracking_uri)
                self._client = client
            except Exception as exc:
                if _is_retryable(exc):
                    raise
                raise SinkMisconfigured(
                    f"Cannot open the MLflow tracking store {self.tracking_uri} "
                    f"({redact(str(exc), limit=500)}). Set MLFLOW_TRACKING_URI to an http(s):// "
                    "server, a sqlite:/// path or a postgresql:// database; records wait in "
                    "the outbox meanwhile."
                ) from exc
        return self._client, self._tracing

    def _resolve_experiment(self) -> str:
        if self._experiment_id is not None:
            return self._experiment_id
        client = self._clients()[0]
        experiment = client.get_experiment_by_name(self._experiment_name)
        if experiment is None:
            try:
                self._experiment_id = client.create_experiment(
                    self._experiment_name, artifact_location=self._artifact_location
                )
                return self._experiment_id
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                experiment = client.get_experiment_by_name(self._experiment_name)
        if experiment is None or experiment.lifecycle_stage != "active":
            # Not the record's fault: wait (and keep the records) until someone fixes it.
            raise SinkMisconfigured(
                f"The MLflow experiment '{self._experiment_name}' at {self.tracking_uri} is "
                "deleted. Restore it in the MLflow UI, or set MLFLOW_EXPERIMENT_NAME to another "
                "name; records wait in the outbox meanwhile."
            )
        self._experiment_id = str(experiment.experiment_id)
        return self._experiment_id

    @contextmanager
    def _mlflow_errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except (SinkUnavailable, SinkRejected):
            raise
        except Exception as exc:
            detail = redact(f"{type(exc).__name__}: {exc}", limit=1000)
            if _is_retryable(exc):
                raise SinkUnavailable(
                    f"MLflow at {self.tracking_uri} is unreachable or failing while {doing}: "
                    f"{detail}. Start the server or fix MLFLOW_TRACKING_URI; records stay in "
                    "the outbox and are retried."
                ) from exc
            # The experiment may have been deleted or replaced: look it up again next time.
            self._experiment_id = None
            raise SinkRejected(f"MLflow rejected {doing}: {detail}") from exc


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, MlflowException):
        return ERROR_CODE_TO_HTTP_STATUS.get(exc.error_code, 500) in _RETRYABLE_HTTP_STATUSES
    # Connection refused/reset, timeouts (requests' errors are OSErrors), a locked database.
    return isinstance(exc, OSError | OperationalError)

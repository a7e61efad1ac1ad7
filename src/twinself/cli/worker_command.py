"""`twinself worker`: the shipper process that turns outbox rows into MLflow runs and traces."""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from twinself.cli.app import handle_errors, load_settings
from twinself.errors import TwinselfError
from twinself.pipeline.mlflow_sink import RunSink, SinkMisconfigured, SinkUnavailable
from twinself.pipeline.shipper import build_shipper, stop_on_signals

logger = logging.getLogger(__name__)


class WorkerAlreadyRunning(TwinselfError):
    """Another worker ships from the same outbox."""


@contextmanager
def single_worker_lock(home: Path) -> Iterator[None]:
    """One worker per TWINSELF_HOME: two could both create a run for the same request.

    The OS drops the lock when the process dies, even on kill -9.
    """
    home.mkdir(parents=True, exist_ok=True)
    with (home / "worker.lock").open("w") as lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkerAlreadyRunning(
                f"Another `twinself worker` is already shipping from {home}; stop it first, "
                "or give this one another TWINSELF_HOME."
            ) from None
        yield


def check_mlflow(sink: RunSink, must_be_up: bool) -> None:
    """A misconfiguration always stops the worker; an MLflow that is down only stops --once."""
    try:
        sink.check_connection()
    except SinkUnavailable as exc:
        if must_be_up or isinstance(exc, SinkMisconfigured):
            raise
        logger.warning("%s", exc)  # the loop waits for MLflow to come back


def worker(
    once: bool = typer.Option(
        False, "--once", help="Ship what is due now, print how many, and exit."
    ),
) -> None:
    """Ship recorded requests and feedback from the outbox to MLflow, until stopped.

    Each request becomes one run and one trace in MLFLOW_EXPERIMENT_NAME at
    MLFLOW_TRACKING_URI (a SQLite store under TWINSELF_HOME when unset). Stops cleanly on
    SIGTERM or Ctrl-C after finishing the current record. While MLflow is down, records wait
    in the outbox and are retried; nothing is dropped.

    Example:
        MLFLOW_TRACKING_URI=http://127.0.0.1:5000 twinself worker
        twinself worker --once
    """
    settings = load_settings()
    # Progress is the point of a worker's log, whatever the CLI's default verbosity.
    logging.getLogger("twinself").setLevel(logging.INFO)
    stop = threading.Event()
    with single_worker_lock(settings.home):
        shipper = build_shipper(settings)
        try:
            check_mlflow(shipper.sink, must_be_up=once)
            if not once:
                shipper.run_forever(stop)
                return
            with stop_on_signals(stop):
                report = shipper.drain(stop)
            backlog = shipper.outbox.backlog()
            typer.echo(
                f"Shipped {report.shipped} request(s) to MLflow; "
                f"{backlog.pending} pending, {backlog.failed} failed."
            )
            if report.outage is not None:
                raise report.outage
        finally:
            shipper.close()


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(worker))

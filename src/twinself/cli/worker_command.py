"""`twinself worker`: the background process(es) behind the server.

Two roles, each in one process per TWINSELF_HOME (a lock file says so):
- the shipper turns outbox rows into MLflow runs and traces;
- the evaluator judges answered requests (DeepEval metrics) and logs scores to their runs.
`twinself worker` runs both; `twinself serve` supervises one process for each.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from contextlib import ExitStack
from typing import TYPE_CHECKING

import typer

from twinself.cli.common import handle_errors, load_settings
from twinself.config.settings import Settings
from twinself.errors import ConfigurationError
from twinself.pipeline.request_batches import SHIPPER_WORKERS
from twinself.pipeline.worker_lock import single_worker_lock

# The shipper and the MLflow sink load mlflow: imported inside the functions that use them, so
# that `twinself --help` and every other command start fast.
if TYPE_CHECKING:
    from twinself.monitoring.shipper_metrics import ShipperMetrics
    from twinself.pipeline.evaluation_worker import EvaluationWorker
    from twinself.pipeline.run_sink import RunSink
    from twinself.pipeline.shipper import Shipper

logger = logging.getLogger(__name__)


def check_mlflow(sink: RunSink, must_be_up: bool) -> bool:
    """A misconfiguration always stops the worker; an MLflow that is down only stops --once.
    True when MLflow answered."""
    from twinself.pipeline.run_sink import SinkMisconfigured, SinkUnavailable

    try:
        sink.check_connection()
    except SinkUnavailable as exc:
        if must_be_up or isinstance(exc, SinkMisconfigured):
            raise
        logger.warning("%s", exc)  # the loop waits for MLflow to come back
        return False
    return True


def _ship_once(shipper: Shipper, stop: threading.Event) -> None:
    from twinself.pipeline.shipper import stop_on_signals

    check_mlflow(shipper.sink, must_be_up=True)
    with stop_on_signals(stop):
        report = shipper.drain(stop)
    backlog = shipper.requests.backlog()
    typer.echo(
        f"Shipped {report.shipped} request(s) to MLflow; "
        f"{backlog.pending} pending, {backlog.failed} failed."
    )
    if report.outage is not None:
        raise report.outage


def _evaluator(settings: Settings, once: bool) -> EvaluationWorker:
    from prometheus_client import CollectorRegistry

    from twinself.embedding.cpu_threads import use_one_cpu_thread
    from twinself.embedding.loading import load_embedder
    from twinself.evaluation.judges import build_judge
    from twinself.monitoring.worker_metrics import EvaluatorMetrics, serve_metrics
    from twinself.pipeline.evaluation_worker import build_evaluation_worker

    use_one_cpu_thread()  # before the model loads: onnxruntime takes its threads then
    # Only the local judge loads the embedding model; an LLM judge never imports it.
    judge = build_judge(settings, lambda: load_embedder(settings))
    metrics = EvaluatorMetrics(CollectorRegistry(), judge.name)
    if settings.evaluator_metrics_port and not once:
        serve_metrics(settings.evaluator_metrics_port, metrics.registry, settings.metrics_host)
    return build_evaluation_worker(settings, judge, metrics)


def _shipper(settings: Settings, once: bool, workers: int) -> tuple[Shipper, ShipperMetrics]:
    from prometheus_client import CollectorRegistry

    from twinself.monitoring.shipper_metrics import ShipperMetrics
    from twinself.monitoring.worker_metrics import serve_metrics
    from twinself.pipeline.shipper import build_shipper

    metrics = ShipperMetrics(CollectorRegistry())
    if settings.shipper_metrics_port and not once:
        serve_metrics(settings.shipper_metrics_port, metrics.registry, settings.metrics_host)
    shipper = build_shipper(settings, metrics, workers)
    # This process holds the shipper lock: leases left in the outbox are a dead shipper's.
    shipper.requests.release_all()
    return shipper, metrics


def worker(
    once: bool = typer.Option(
        False, "--once", help="Ship and evaluate what is due now, print how many, and exit."
    ),
    ship: bool = typer.Option(True, "--shipper/--no-shipper", help="Ship records to MLflow."),
    evaluate: bool = typer.Option(
        True, "--evaluator/--no-evaluator", help="Evaluate answers (EVAL_JUDGE)."
    ),
    ship_workers: int = typer.Option(
        SHIPPER_WORKERS,
        "--ship-workers",
        min=1,
        help="Shipper threads, each shipping its own batch of records to MLflow at once.",
    ),
) -> None:
    """Ship recorded requests to MLflow and evaluate answers' quality, until stopped.

    Each request becomes one run and one trace in MLFLOW_EXPERIMENT_NAME at
    MLFLOW_TRACKING_URI (a SQLite store under TWINSELF_HOME when unset). Sampled answers are
    judged (answer relevancy, faithfulness) and the scores logged to their run. Stops cleanly
    on SIGTERM or Ctrl-C. While MLflow or the judge is down, work waits in the outbox and is
    retried; nothing is dropped.

    Example:
        MLFLOW_TRACKING_URI=http://127.0.0.1:5000 twinself worker
        twinself worker --once
        twinself worker --no-shipper     # only the evaluator
    """
    from twinself.pipeline.shipper import stop_on_signals

    settings = load_settings()
    # Progress is the point of a worker's log, whatever the CLI's default verbosity.
    logging.getLogger("twinself").setLevel(logging.INFO)
    evaluate = evaluate and settings.tracking_enabled and settings.resolved_judge != "none"
    if not ship and not evaluate:
        raise ConfigurationError(
            "Nothing to do: the shipper is off (--no-shipper) and so is evaluation "
            "(--no-evaluator, EVAL_JUDGE=none or TWINSELF_TRACKING=false)."
        )
    stop = threading.Event()
    with ExitStack() as stack:
        shipper = shipper_metrics = None
        if ship:
            stack.enter_context(single_worker_lock(settings.home, "shipper"))
            shipper, shipper_metrics = _shipper(settings, once, ship_workers)
            stack.callback(shipper.close)
        evaluator = None
        if evaluate:
            stack.enter_context(single_worker_lock(settings.home, "evaluator"))
            evaluator = _evaluator(settings, once)
        if once:
            if shipper is not None:
                _ship_once(shipper, stop)
            if evaluator is not None:
                counts = asyncio.run(evaluator.drain())
                backlog = evaluator.queue.backlog()
                typer.echo(
                    f"Evaluated {counts.done} answer(s) with {evaluator.judge.name}; "
                    f"{backlog.waiting} waiting, {backlog.counts['dead']} dead."
                )
            return
        if shipper is not None and shipper_metrics is not None:
            shipper_metrics.mlflow_reached(check_mlflow(shipper.sink, must_be_up=False))
        if evaluator is None and shipper is not None:
            shipper.run_forever(stop)
            return
        if evaluator is None:
            return
        shipping = None
        if shipper is not None:
            shipping = threading.Thread(target=shipper.run_forever, args=(stop,), name="shipper")
            shipping.start()
        try:
            with stop_on_signals(stop):
                asyncio.run(evaluator.run_forever(stop))
        finally:
            stop.set()
            if shipping is not None:
                shipping.join()


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(worker))

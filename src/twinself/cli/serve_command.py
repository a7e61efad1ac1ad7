"""`twinself serve`: the HTTP API, with the shipper process (and optionally MLflow) beside it."""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from twinself.cli.common import err_console, handle_errors, load_settings
from twinself.cli.supervisor import ProcessSupervisor, stop_with_parent
from twinself.config.settings import Settings
from twinself.errors import ConfigurationError
from twinself.mlflow_server.local_server import (
    mlflow_server_command,
    use_wal_journal,
    wait_until_answering,
)
from twinself.redaction import redact

if TYPE_CHECKING:
    from fastapi import FastAPI

# How long a starting local MLflow server may take before the workers start anyway.
MLFLOW_START_SECONDS = 120.0
# prometheus-client's multiprocess mode: each API worker process writes its values here.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# With an LLM judge (Gemini, OpenAI-compatible), one worker process ships and judges; False
# gives each its own process again (worker_commands says why).
LLM_JUDGE_SHARES_THE_SHIPPER_PROCESS = True


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def check_api_workers(settings: Settings, api_workers: int) -> None:
    if api_workers > 1 and settings.qdrant_url is None:
        raise ConfigurationError(
            f"{api_workers} API workers need a Qdrant server: the embedded Qdrant under "
            f"{settings.home} opens in one process only. Set QDRANT_URL (e.g. "
            "http://localhost:6333), or run one worker (--workers 1, TWINSELF_API_WORKERS=1)."
        )


def fresh_metrics_directory(settings: Settings) -> Path:
    """Empty at every start: files a previous run's processes left would add to the counts."""
    directory = settings.home / "prometheus-multiproc"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


def worker_commands(settings: Settings) -> list[tuple[str, list[str]]]:
    """(name, command) of the shipper and the evaluator. With the local judge, two processes:
    judging takes CPU and must never delay shipping runs, and a crash of one leaves the other
    working. With an LLM judge the evaluator mostly waits on the network: one process does
    both (a thread ships, an event loop judges) and loads MLflow's client once (~190 MB)."""
    command = [sys.executable, "-m", "twinself.cli", "worker"]
    judge = settings.resolved_judge
    if judge not in ("none", "local") and LLM_JUDGE_SHARES_THE_SHIPPER_PROCESS:
        return [("shipper+evaluator", command)]
    workers = [("shipper", [*command, "--no-evaluator"])]
    if judge != "none":
        workers.append(("evaluator", [*command, "--no-shipper"]))
    return workers


def create_api_worker_app() -> FastAPI:
    """uvicorn's factory in each API worker of `serve --workers N`; the worker stops when
    `serve` dies, however it dies."""
    from twinself.server.app import create_app_from_environment

    stop_with_parent()
    return create_app_from_environment()


def serve(
    host: str | None = typer.Option(None, help="Address to listen on (TWINSELF_HOST)."),
    port: int | None = typer.Option(None, help="Port (TWINSELF_PORT)."),
    worker: bool = typer.Option(
        True,
        "--worker/--no-worker",
        help="Start and supervise the MLflow shipper and the evaluation worker.",
    ),
    mlflow_ui: bool = typer.Option(
        False,
        "--mlflow-ui",
        help="Also start a local MLflow server (UI at http://127.0.0.1:5000) when "
        "MLFLOW_TRACKING_URI is unset.",
    ),
    mlflow_port: int = typer.Option(5000, help="Port of the local MLflow server."),
    api_workers: int | None = typer.Option(
        None,
        "--workers",
        min=1,
        help="API worker processes (TWINSELF_API_WORKERS; more than one needs QDRANT_URL).",
    ),
) -> None:
    """Serve the chat API and its chat page (/ui/), with the shipper that turns every request
    into an MLflow run.

    Endpoints: POST /chat, /chat/stream, /api/edit-message/suggestion, /api/feedback/rating;
    GET /health, /runs/ID, /docs; the page at /ui/.

    Example:
        twinself serve --port 8000
        twinself serve --mlflow-ui
        QDRANT_URL=http://localhost:6333 twinself serve --workers 4
        MLFLOW_TRACKING_URI=http://127.0.0.1:5000 twinself serve
    """
    import uvicorn

    from twinself.embedding.cpu_threads import use_one_cpu_thread
    from twinself.server.app import create_app

    settings = load_settings()
    api_workers = api_workers or settings.api_workers
    check_api_workers(settings, api_workers)
    use_one_cpu_thread()
    mlflow: ProcessSupervisor | None = None
    workers: list[ProcessSupervisor] = []
    if mlflow_ui and settings.mlflow_tracking_uri is None:
        use_wal_journal(settings.home / "mlflow.db")
        uri = f"http://127.0.0.1:{mlflow_port}"
        os.environ["MLFLOW_TRACKING_URI"] = uri  # inherited by the worker processes
        settings = settings.model_copy(update={"mlflow_tracking_uri": uri})
        mlflow = ProcessSupervisor(
            mlflow_server_command(settings, mlflow_port),
            "mlflow",
            # No background job runner; and no library deprecation notices on the first screen.
            {
                "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
                "PYTHONWARNINGS": "ignore::DeprecationWarning,"
                "ignore:starlette.middleware.wsgi is deprecated:UserWarning",
            },
            without_env=[MULTIPROC_ENV],
        )
    if worker and settings.tracking_enabled:
        # Their metrics are their own, on their own ports: never in the API's files.
        workers = [
            ProcessSupervisor(command, name, without_env=[MULTIPROC_ENV])
            for name, command in worker_commands(settings)
        ]
    stopping = threading.Event()

    def start_workers() -> None:
        # Records wait in the outbox meanwhile; nothing is lost by starting the workers late.
        answered = True
        if mlflow is not None:
            answered = wait_until_answering(
                settings.resolved_tracking_uri, MLFLOW_START_SECONDS, pause=stopping.wait
            )
            if stopping.is_set():
                return
            if not answered:
                err_console.print(
                    f"MLflow at {settings.resolved_tracking_uri} did not answer within "
                    f"{MLFLOW_START_SECONDS:.0f}s; the workers start anyway and retry."
                )
        for supervisor in workers:
            supervisor.start()
        if mlflow is not None and answered:
            err_console.print(
                f"Ready: chat API {shown}, MLflow UI {settings.resolved_tracking_uri}",
                highlight=False,
                soft_wrap=True,
            )

    bind_host, bind_port = host or settings.host, port or settings.port
    if not settings.chat_api_keys and not is_loopback(bind_host):
        err_console.print(
            f"[bold red]Warning:[/] the API listens on {bind_host}, beyond this machine, and "
            "anyone who reaches it can chat and spend your model quota. Set TWINSELF_API_KEYS "
            "(and TWINSELF_CORS_ORIGINS for your website), or listen on 127.0.0.1 behind a "
            "proxy that checks visitors.",
            soft_wrap=True,
        )
    shown = f"http://{bind_host}:{bind_port}"
    err_console.print(
        f"twinself is starting: chat page {shown}/ui/, chat API {shown} (docs {shown}/docs"
        + (f", {api_workers} worker processes)" if api_workers > 1 else ")")
        + (
            f", MLflow UI {settings.resolved_tracking_uri} (experiment "
            f"{settings.mlflow_experiment})"
            if mlflow is not None
            else f", runs go to {redact(settings.resolved_tracking_uri)}"
        ),
        highlight=False,
        soft_wrap=True,
    )
    if mlflow is not None:
        mlflow.start()
    starter = threading.Thread(target=start_workers, name="start-workers", daemon=True)
    starter.start()
    # uvicorn re-raises the SIGTERM it caught once it has shut down; with the default handler
    # that would end this process before `finally` stops the workers and MLflow.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        if api_workers == 1:
            uvicorn.run(create_app(settings), host=bind_host, port=bind_port, log_level="info")
        else:
            # Spawned workers build their app from the environment (MLFLOW_TRACKING_URI above
            # included) and write their metrics to files that GET /metrics sums.
            os.environ[MULTIPROC_ENV] = str(fresh_metrics_directory(settings))
            uvicorn.run(
                "twinself.cli.serve_command:create_api_worker_app",
                factory=True,
                workers=api_workers,
                host=bind_host,
                port=bind_port,
                log_level="info",
            )
    finally:
        stopping.set()
        starter.join(timeout=5)
        for supervisor in [*reversed(workers), *([mlflow] if mlflow else [])]:
            supervisor.stop()


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(serve))

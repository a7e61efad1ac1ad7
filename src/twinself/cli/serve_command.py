"""`twinself serve`: the HTTP API, with the shipper process (and optionally MLflow) beside it."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import typer

from twinself.cli.common import err_console, handle_errors, load_settings
from twinself.cli.supervisor import ProcessSupervisor
from twinself.config.settings import Settings
from twinself.monitoring.mlflow_app import use_wal_journal


def mlflow_server_command(settings: Settings, port: int) -> list[str]:
    """A local MLflow server on the same SQLite store twinself uses when none is configured."""
    mlflow = Path(sys.executable).with_name("mlflow")
    return [
        str(mlflow) if mlflow.exists() else "mlflow",
        "server",
        "--host", "127.0.0.1",
        "--port", str(port),
        # One worker: about 5x faster per call and 0.5 GB instead of 2.4 GB here.
        "--workers", "1",
        "--backend-store-uri", f"sqlite:///{settings.home / 'mlflow.db'}",
        "--default-artifact-root", settings.mlflow_artifact_location,
        # Adds the legacy /api/2.0/mlflow/experiments/list that TwinSelf's docs curl.
        "--app-name", "twinself",
    ]  # fmt: skip


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
) -> None:
    """Serve the chat API, with the shipper that turns every request into an MLflow run.

    Endpoints: POST /chat, /chat/stream, /api/edit-message/suggestion; GET /health, /runs/ID,
    /docs.

    Example:
        twinself serve --port 8000
        twinself serve --mlflow-ui
        MLFLOW_TRACKING_URI=http://127.0.0.1:5000 twinself serve
    """
    import uvicorn

    from twinself.embedding.sentence_transformer import use_one_cpu_thread
    from twinself.server.app import create_app

    settings = load_settings()
    use_one_cpu_thread()
    supervisors: list[ProcessSupervisor] = []
    if mlflow_ui and settings.mlflow_tracking_uri is None:
        use_wal_journal(settings.home / "mlflow.db")
        uri = f"http://127.0.0.1:{mlflow_port}"
        os.environ["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # inherited by mlflow only
        os.environ["MLFLOW_TRACKING_URI"] = uri  # inherited by the shipper process
        settings = settings.model_copy(update={"mlflow_tracking_uri": uri})
        supervisors.append(
            ProcessSupervisor(mlflow_server_command(settings, mlflow_port), "mlflow")
        )
        err_console.print(f"MLflow UI: {uri} (experiment {settings.mlflow_experiment})")
    if worker and settings.tracking_enabled:
        # Two processes: judging (CPU or a slow LLM) never delays shipping runs, and a crash
        # of one leaves the other working.
        command = [sys.executable, "-m", "twinself.cli", "worker"]
        supervisors.append(ProcessSupervisor([*command, "--no-evaluator"], "shipper"))
        if settings.resolved_judge != "none":
            supervisors.append(ProcessSupervisor([*command, "--no-shipper"], "evaluator"))
    for supervisor in supervisors:
        supervisor.start()
    # uvicorn re-raises the SIGTERM it caught once it has shut down; with the default handler
    # that would end this process before `finally` stops the shipper and MLflow.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        uvicorn.run(
            create_app(settings),
            host=host or settings.host,
            port=port or settings.port,
            log_level="info",
        )
    finally:
        for supervisor in reversed(supervisors):
            supervisor.stop()


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(serve))

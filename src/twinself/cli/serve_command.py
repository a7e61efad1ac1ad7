"""`twinself serve`: the HTTP API, with the shipper process beside it."""

from __future__ import annotations

import sys

import typer

from twinself.cli.app import handle_errors, load_settings
from twinself.cli.supervisor import ProcessSupervisor


def serve(
    host: str | None = typer.Option(None, help="Address to listen on (TWINSELF_HOST)."),
    port: int | None = typer.Option(None, help="Port (TWINSELF_PORT)."),
    worker: bool = typer.Option(
        True, "--worker/--no-worker", help="Start and supervise the MLflow shipper process."
    ),
) -> None:
    """Serve the chat API (POST /chat, /chat/stream; GET /health, /docs) and keep the shipper
    running, so every request becomes an MLflow run.

    Example:
        twinself serve --port 8000
        MLFLOW_TRACKING_URI=http://127.0.0.1:5000 twinself serve
    """
    import uvicorn

    from twinself.server.app import create_app

    settings = load_settings()
    supervisor = None
    if worker and settings.tracking_enabled:
        supervisor = ProcessSupervisor([sys.executable, "-m", "twinself.cli", "worker"], "shipper")
        supervisor.start()
    try:
        uvicorn.run(
            create_app(settings),
            host=host or settings.host,
            port=port or settings.port,
            log_level="info",
        )
    finally:
        if supervisor is not None:
            supervisor.stop()


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(serve))

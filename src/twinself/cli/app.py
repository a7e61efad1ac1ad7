"""The `twinself` command: assembles the command modules into one Typer app.

Typed errors become one clear message and exit code 1, never a trace (`common.handle_errors`).
"""

from __future__ import annotations

import logging
import sys

import typer

app = typer.Typer(
    name="twinself",
    help="A self-hosted digital twin that answers as you, grounded in your own data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def configure(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log more detail to stderr."),
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not verbose:
        # Model loading libraries are chatty on stderr; keep the terminal for the twin.
        for name in ("sentence_transformers", "transformers", "httpx", "google_genai"):
            logging.getLogger(name).setLevel(logging.ERROR)


def _register_commands() -> None:
    from twinself.cli import (
        ask_commands,
        doctor_command,
        embedding_command,
        evaluate_commands,
        feedback_commands,
        memory_commands,
        monitor_command,
        report_command,
        serve_command,
        version_commands,
        worker_command,
    )

    memory_commands.register(app)
    ask_commands.register(app)
    doctor_command.register(app)
    embedding_command.register(app)
    evaluate_commands.register(app)
    feedback_commands.register(app)
    serve_command.register(app)
    worker_command.register(app)
    monitor_command.register(app)
    version_commands.register(app)
    report_command.register(app)


_register_commands()


def main() -> None:
    app()

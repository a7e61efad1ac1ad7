"""The `twinself` command. Typed errors become one clear message and exit code 1, never a trace."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from twinself.config.settings import Settings
from twinself.errors import ConfigurationError, TwinselfError

P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(
    name="twinself",
    help="A self-hosted digital twin that answers as you, grounded in your own data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]) or "settings"
            lines.append(f"  {name}: {error['msg']}")
        raise ConfigurationError(
            "Invalid configuration (environment or .env):\n" + "\n".join(lines)
        ) from None


def handle_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Print a TwinselfError's message (it says how to fix the problem) and exit 1."""

    @wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except TwinselfError as exc:
            err_console.print(f"[bold red]Error:[/] {exc}", highlight=False, markup=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err_console.print("Interrupted.")
            raise typer.Exit(130) from None

    return wrapper


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
        evaluate_commands,
        feedback_commands,
        memory_commands,
        serve_command,
        version_commands,
        worker_command,
    )

    memory_commands.register(app)
    ask_commands.register(app)
    doctor_command.register(app)
    evaluate_commands.register(app)
    feedback_commands.register(app)
    serve_command.register(app)
    worker_command.register(app)
    version_commands.register(app)


_register_commands()


def main() -> None:
    app()

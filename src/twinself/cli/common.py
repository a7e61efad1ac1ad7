"""What every command module uses: the settings, error handling, the consoles and progress.

Command modules import this, never `app` or each other; `app.py` only assembles the commands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from twinself.config.loading import load_settings as load_settings  # commands' import
from twinself.config.settings import Settings
from twinself.embedding.embedder import Embedder
from twinself.embedding.loading import load_embedder
from twinself.errors import TwinselfError

if TYPE_CHECKING:
    from twinself.memory.builder import ProgressReporter

P = ParamSpec("P")
R = TypeVar("R")

console = Console()
err_console = Console(stderr=True)


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


def loading_embedder(settings: Settings) -> Embedder:
    """The embedding model, with a spinner while it loads (a few seconds)."""
    with err_console.status(f"Loading embedding model {settings.embedding_model}..."):
        return load_embedder(settings)


@contextmanager
def progress_bar() -> Iterator[ProgressReporter]:
    """A bar on stderr for long work that reports (description, total) then (None, n)."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as progress:
        task: list[TaskID] = []

        def report(description: str | None, count: int) -> None:
            if description is not None:
                task[:] = [progress.add_task(description, total=count)]
            elif task:
                progress.advance(task[0], count)

        yield report

"""`twinself ask` and `twinself chat`."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from twinself.cli.common import (
    console,
    err_console,
    handle_errors,
    load_settings,
    loading_embedder,
)
from twinself.errors import InvalidQuestion, ProviderError
from twinself.llm.base import ChatTurn, Passage

if TYPE_CHECKING:
    from twinself.twin.twin import Twin


@contextmanager
def open_twin() -> Iterator[Twin]:
    from twinself.twin.factory import TwinRuntime  # loads qdrant_client: keep `--help` fast

    settings = load_settings()
    embedder = loading_embedder(settings)
    runtime = TwinRuntime.open(settings, embedder)
    twin = runtime.twin()
    try:
        twin.retriever.check_ready()
        yield twin
    finally:
        twin.close()
        runtime.close()


def _sources_table(sources: list[Passage]) -> Table:
    table = Table(title="Sources", title_style="dim", style="dim")
    for column in ("memory", "source", "heading", "score"):
        table.add_column(column, style="dim")
    for s in sources:
        table.add_row(s.memory, s.source, s.heading, f"{s.score:.3f}")
    return table


def _ask_lines(twin: Twin) -> None:
    """One question per stdin line, one JSON object per line; the model loads once."""
    for line in sys.stdin:
        question = line.strip()
        if not question:
            continue
        try:
            payload = twin.answer(question).to_dict()
        except (InvalidQuestion, ProviderError) as exc:
            payload = {"question": question, "error": str(exc), "error_type": type(exc).__name__}
        sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
        sys.stdout.flush()


def ask(
    question: str = typer.Argument(..., help="The question, or - to read one per line from stdin."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (JSON Lines for -)."),
    sources: bool = typer.Option(True, "--sources/--no-sources", help="Show the sources table."),
) -> None:
    """Ask the twin one question and print its answer with the sources it used.

    Example:
        twinself ask "Where did you study?"
        twinself ask --json "What do you work on?"
        printf 'Hi!\\nWhat are your hobbies?\\n' | twinself ask --json -
    """
    with open_twin() as twin:
        if question == "-":
            if not as_json:
                raise InvalidQuestion("Reading questions from stdin needs --json: `ask --json -`.")
            _ask_lines(twin)
            return
        answer = twin.answer(question)
        if as_json:
            typer.echo(json.dumps(answer.to_dict(), ensure_ascii=False))
            return
        console.print(f"[bold]{twin.persona.name}:[/] {answer.response}", highlight=False)
        if sources:
            console.print(_sources_table(answer.sources))
        usage = answer.generation.usage
        note = " (estimated)" if usage.estimated else ""
        console.print(
            f"[dim]{answer.generation.provider}/{answer.generation.model} - "
            f"{usage.input_tokens} in / {usage.output_tokens} out tokens{note}[/]"
        )


def chat() -> None:
    """Chat with the twin in the terminal.

    /sources shows the last answer's sources, /reset forgets the conversation, /exit (or
    Ctrl-D) quits.

    Example:
        twinself chat
    """
    with open_twin() as twin:
        console.print(
            f"Chatting with [bold]{twin.persona.name}[/] "
            f"({twin.llm.name}/{twin.llm.model}). Type /exit to quit.",
            highlight=False,
        )
        history: list[ChatTurn] = []
        last_sources: list[Passage] = []
        while True:
            try:
                question = console.input("[bold cyan]You:[/] ").strip()
            except EOFError:
                console.print()
                return
            if not question:
                continue
            if question in {"/exit", "/quit"}:
                return
            if question == "/reset":
                history.clear()
                console.print("[dim]Conversation forgotten.[/]")
                continue
            if question == "/sources":
                console.print(_sources_table(last_sources))
                continue
            try:
                stream = twin.stream(question, history)
                console.print(f"[bold]{twin.persona.name}:[/] ", end="", highlight=False)
                for chunk in stream:
                    console.print(chunk, end="", highlight=False, markup=False)
                console.print()
            except (InvalidQuestion, ProviderError) as exc:
                err_console.print(f"\n[red]{exc}[/]", highlight=False)
                continue
            if stream.answer is not None:
                history += [
                    ChatTurn("user", question),
                    ChatTurn("assistant", stream.answer.response),
                ]
                last_sources = stream.sources


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(ask))
    app.command()(handle_errors(chat))

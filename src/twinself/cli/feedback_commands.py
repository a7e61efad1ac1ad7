"""`twinself feedback list|merge`: people's suggested answers, into episodic memory."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from twinself.cli.common import console, handle_errors, load_settings
from twinself.memory.suggestions import apply_merge, plan_merge
from twinself.pipeline.feedback_queue import FeedbackQueue
from twinself.pipeline.outbox import build_outbox

feedback_app = typer.Typer(
    help="Suggested answers sent to POST /api/edit-message/suggestion.\n\n"
    "Example:\n\n    twinself feedback list\n\n    twinself feedback merge --dry-run",
    no_args_is_help=True,
)


def list_feedback(
    include_merged: bool = typer.Option(False, "--all", help="Also the archived (merged) ones."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The suggestions waiting to be merged (or all, with --all).

    Example:
        twinself feedback list
    """
    queue = FeedbackQueue(build_outbox(load_settings().home))
    items = queue.entries(include_merged=include_merged)
    if as_json:
        typer.echo(json.dumps([vars(f) for f in items]))
        return
    table = Table(title=f"{len(items)} suggestion(s)")
    for column in ("id", "question", "twin's answer", "suggested answer"):
        table.add_column(column, overflow="fold")
    for f in items:
        table.add_row(
            str(f.feedback_id), f.original_question, f.original_response, f.suggested_response
        )
    console.print(table)


def merge(
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show what would be added; write nothing."
    ),
    archive: bool = typer.Option(
        False, "--archive", help="Mark merged suggestions so they are not listed again."
    ),
) -> None:
    """Add waiting suggestions to episodic_data/user_suggestions.json, without duplicates.

    Then `twinself rebuild --create-version` puts them into a new memory version.

    Example:
        twinself feedback merge --dry-run
        twinself feedback merge --archive
    """
    settings = load_settings()
    queue = FeedbackQueue(build_outbox(settings.home))
    waiting = queue.entries(include_merged=False)
    plan = plan_merge(
        settings.resolved_data_dir,
        [(f.original_question, f.suggested_response) for f in waiting],
    )
    for question, response in plan.new:
        console.print(f"[green]+[/] {question!r} -> {response!r}", highlight=False)
    if dry_run:
        console.print(
            f"Dry run: {len(plan.new)} new, {plan.duplicates} already in episodic memory; "
            f"nothing written (target {plan.target})."
        )
        return
    added = apply_merge(plan)
    if archive:
        queue.mark_merged([f.feedback_id for f in waiting])
    console.print(
        f"Merged {added} suggestion(s) into {plan.target} ({plan.duplicates} duplicate(s) "
        "skipped). Next: `twinself rebuild --create-version`."
    )


def register(app: typer.Typer) -> None:
    feedback_app.command("list")(handle_errors(list_feedback))
    feedback_app.command("merge")(handle_errors(merge))
    app.add_typer(feedback_app, name="feedback")

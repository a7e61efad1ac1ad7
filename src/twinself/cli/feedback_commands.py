"""`twinself feedback list|review|accept|reject|merge`: people's suggested answers, reviewed by
the owner, the accepted ones into episodic memory."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime

import typer
from rich.table import Table

from twinself.cli.common import console, handle_errors, load_settings
from twinself.memory.suggestions import apply_merge, plan_merge
from twinself.pipeline.feedback_queue import (
    REVIEW_STATES,
    Decision,
    Feedback,
    FeedbackQueue,
    ReviewState,
)
from twinself.pipeline.outbox import build_outbox
from twinself.pipeline.rating_queue import RatingQueue

feedback_app = typer.Typer(
    help="Suggested answers sent to POST /api/edit-message/suggestion (nothing reaches memory "
    "until you accept it), and the chat page's thumbs up or down (`ratings`).\n\n"
    "Example:\n\n    twinself feedback list\n\n    twinself feedback review\n\n"
    "    twinself feedback accept 3 7\n\n    twinself feedback reject --contains http://\n\n"
    "    twinself feedback merge --dry-run\n\n    twinself feedback ratings",
    no_args_is_help=True,
)


def _queue() -> FeedbackQueue:
    return FeedbackQueue(build_outbox(load_settings().home))


def _states(status: str) -> tuple[ReviewState, ...]:
    if status == "all":
        return REVIEW_STATES
    for state in REVIEW_STATES:
        if status == state:
            return (state,)
    raise typer.BadParameter(f"use one of {', '.join(REVIEW_STATES)} or all", param_hint="--status")


def list_feedback(
    status: str = typer.Option(
        "waiting", "--status", help="waiting, accepted, rejected, merged or all."
    ),
    include_all: bool = typer.Option(False, "--all", help="Every suggestion (--status all)."),
    contains: str = typer.Option("", "--contains", help="Only those whose text contains this."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The suggestions waiting for your review (or in another state, with --status).

    Example:
        twinself feedback list
        twinself feedback list --status accepted
        twinself feedback list --all --json
    """
    items = _queue().entries(_states("all" if include_all else status), contains)
    if as_json:
        typer.echo(json.dumps([{**asdict(f), "state": f.state} for f in items]))
        return
    table = Table(title=f"{len(items)} suggestion(s)")
    for column in ("id", "state", "question", "twin's answer", "suggested answer"):
        table.add_column(column, overflow="fold")
    for f in items:
        table.add_row(
            str(f.feedback_id),
            f.state,
            f.original_question,
            f.original_response,
            f.suggested_response,
        )
    console.print(table)


def _decide(decision: Decision, ids: list[int], contains: str, every_waiting: bool) -> None:
    queue = _queue()
    if not ids and not contains and not every_waiting:
        raise typer.BadParameter("name suggestion ids, or choose with --contains or --all-waiting")
    chosen = set(ids)
    if contains or every_waiting:
        chosen |= {f.feedback_id for f in queue.entries(("waiting",), contains)}
    if not chosen:
        console.print("No waiting suggestion matches; nothing changed.")
        return
    decided = queue.review(sorted(chosen), decision)  # ReviewRefused: handle_errors says why
    console.print(f"{decision.capitalize()}: {len(decided)} suggestion(s) ({_ids(decided)}).")
    if decision == "accepted":
        console.print("Next: `twinself feedback merge`, then `twinself rebuild --create-version`.")


def _ids(ids: list[int]) -> str:
    shown = ", ".join(map(str, ids[:20]))
    return shown + (f" and {len(ids) - 20} more" if len(ids) > 20 else "")


_DECISIONS: dict[str, Decision] = {"a": "accepted", "r": "rejected"}
_IDS = typer.Argument(None, help="Suggestion ids (from `twinself feedback list`).")
_CONTAINS = typer.Option("", "--contains", help="Every waiting one containing this text.")
_WAITING = typer.Option(False, "--all-waiting", help="Every suggestion still waiting.")


def accept(
    ids: list[int] | None = _IDS, contains: str = _CONTAINS, every_waiting: bool = _WAITING
) -> None:
    """Accept suggestions: the next `twinself feedback merge` adds them to episodic memory.

    Example:
        twinself feedback accept 3 7
    """
    _decide("accepted", ids or [], contains, every_waiting)


def reject(
    ids: list[int] | None = _IDS, contains: str = _CONTAINS, every_waiting: bool = _WAITING
) -> None:
    """Reject suggestions: they never reach memory, and are deleted after the retention.

    Example:
        twinself feedback reject 4
        twinself feedback reject --contains "http://"
    """
    _decide("rejected", ids or [], contains, every_waiting)


def review() -> None:
    """Walk the waiting suggestions one by one: accept, reject, skip or quit.

    Example:
        twinself feedback review
    """
    queue = _queue()
    waiting = queue.entries(("waiting",))
    if not waiting:
        console.print("No suggestion is waiting for review.")
        return
    counts = {"accepted": 0, "rejected": 0}
    for index, item in enumerate(waiting, start=1):
        _show(item, index, len(waiting))
        answer = typer.prompt("[a]ccept, [r]eject, [s]kip, [q]uit", default="s").strip().lower()
        if answer.startswith("q"):
            break
        decision = _DECISIONS.get(answer[:1])
        if decision is not None:
            queue.review([item.feedback_id], decision)
            counts[decision] += 1
    console.print(f"Accepted {counts['accepted']}, rejected {counts['rejected']}.")


def _show(item: Feedback, index: int, total: int) -> None:
    console.rule(f"{index}/{total} · suggestion {item.feedback_id}")
    console.print(f"[bold]Question:[/] {item.original_question}", highlight=False, markup=True)
    console.print(f"[bold]Twin said:[/] {item.original_response}", highlight=False)
    console.print(f"[bold]Suggested:[/] {item.suggested_response}", highlight=False)


def merge(
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show what would be added; write nothing."
    ),
    archive: bool = typer.Option(
        True, "--archive", help="Kept for TwinSelf's command line: merged ones are always archived."
    ),
) -> None:
    """Add the accepted suggestions to episodic_data/user_suggestions.json, without duplicates.

    Only suggestions you accepted are merged (`twinself feedback review`). Then
    `twinself rebuild --create-version` puts them into a new memory version.

    Example:
        twinself feedback merge --dry-run
        twinself feedback merge
    """
    settings = load_settings()
    queue = FeedbackQueue(build_outbox(settings.home))
    accepted = queue.entries(("accepted",))
    waiting = len(queue.entries(("waiting",)))
    plan = plan_merge(
        settings.resolved_data_dir,
        [(f.original_question, f.suggested_response) for f in accepted],
    )
    for question, response in plan.new:
        console.print(f"[green]+[/] {question!r} -> {response!r}", highlight=False)
    unreviewed = (
        f" {waiting} suggestion(s) wait for your review (`twinself feedback review`)."
        if waiting
        else ""
    )
    if dry_run:
        console.print(
            f"Dry run: {len(plan.new)} new, {plan.duplicates} already in episodic memory; "
            f"nothing written (target {plan.target}).{unreviewed}"
        )
        return
    added = apply_merge(plan)
    queue.mark_merged([f.feedback_id for f in accepted])
    console.print(
        f"Merged {added} accepted suggestion(s) into {plan.target} ({plan.duplicates} "
        f"duplicate(s) skipped).{unreviewed} Next: `twinself rebuild --create-version`."
    )


def ratings(
    limit: int = typer.Option(50, "--limit", min=1, help="How many rated answers to show."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Visitors' thumbs up or down from the chat page: each rated answer's newest rating.

    Example:
        twinself feedback ratings
        twinself feedback ratings --json
    """
    rated = RatingQueue(build_outbox(load_settings().home)).latest(limit)
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in rated]))
        return
    up = sum(r.rating == "up" for r in rated)
    table = Table(title=f"{len(rated)} rated answer(s): {up} up, {len(rated) - up} down")
    for column in ("request id", "rating", "when", "on the trace"):
        table.add_column(column, overflow="fold")
    for r in rated:
        when = datetime.fromtimestamp(r.created_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
        table.add_row(r.request_id, r.rating, when, "yes" if r.status == "shipped" else "not yet")
    console.print(table)


def register(app: typer.Typer) -> None:
    for name, command in (
        ("list", list_feedback),
        ("review", review),
        ("accept", accept),
        ("reject", reject),
        ("merge", merge),
        ("ratings", ratings),
    ):
        feedback_app.command(name)(handle_errors(command))
    app.add_typer(feedback_app, name="feedback")

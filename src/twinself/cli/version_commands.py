"""`twinself versions ...`: list, show, activate, rollback, diff and clean up memory versions."""

from __future__ import annotations

import json
from dataclasses import asdict

import typer
from rich.table import Table

from twinself.cli.common import console, handle_errors, load_settings
from twinself.memory.version_lifecycle import (
    activate_version,
    diff_versions,
    remove_old_versions,
)
from twinself.memory.versions import VersionRegistry

versions_app = typer.Typer(
    help="Immutable memory versions: list, show, activate, rollback, diff, cleanup.\n\n"
    "Example:\n\n    twinself rebuild --create-version\n\n    twinself versions list\n\n"
    "    twinself versions rollback v1_20261127_120000",
    no_args_is_help=True,
)


def list_versions(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every version, newest last; the active one is marked.

    Example:
        twinself versions list
    """
    state = VersionRegistry(load_settings().home).load()
    if as_json:
        typer.echo(
            json.dumps({"active": state.active, "versions": [asdict(v) for v in state.versions]})
        )
        return
    if not state.versions:
        console.print("No versions yet: `twinself rebuild --create-version` makes the first.")
        return
    table = Table(title="Memory versions")
    for column in ("", "id", "created", "status", "parent", "points", "changes"):
        table.add_column(column)
    for v in state.versions:
        changed = sum(
            len(c.get("added", [])) + len(c.get("modified", [])) + len(c.get("deleted", []))
            for c in v.changes.values()
        )
        table.add_row(
            "*" if v.id == state.active else "",
            v.id,
            v.created_at,
            v.status,
            v.parent or "",
            " / ".join(str(n) for n in v.points.values()),
            f"{changed} file(s)",
        )
    console.print(table)


def show(version_id: str = typer.Argument(..., help="The version id.")) -> None:
    """Everything recorded about one version, as JSON.

    Example:
        twinself versions show v2_20261127_120000
    """
    state = VersionRegistry(load_settings().home).load()
    payload = asdict(state.get(version_id))
    payload["active"] = state.active == version_id
    typer.echo(json.dumps(payload, indent=2))


def activate(version_id: str = typer.Argument(..., help="The version id.")) -> None:
    """Make a version the active memory; a running server switches within seconds.

    Example:
        twinself versions activate v2_20261127_120000
    """
    version = activate_version(load_settings(), version_id)
    console.print(f"Active memory: {version.id}.")


def rollback(
    version_id: str = typer.Argument(..., help="The version to go back to."),
    data_only: bool = typer.Option(
        False, "--data-only", help="Take that version's memory but keep the current system prompt."
    ),
) -> None:
    """Go back to an earlier version, its memory and its system prompt; nothing is deleted.

    Example:
        twinself versions rollback v1_20261127_120000
        twinself versions rollback v1_20261127_120000 --data-only
    """
    version = activate_version(load_settings(), version_id, data_only=data_only)
    kept = " (the system prompt stays as it was)" if data_only else ""
    console.print(f"Rolled back: the active memory is {version.id}{kept}.")


def diff(
    first: str = typer.Argument(..., help="The older version."),
    second: str = typer.Argument(..., help="The newer version."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Files and chunks added, removed and changed per memory between two versions.

    Example:
        twinself versions diff v1_20261127_120000 v2_20261127_130000
    """
    result = diff_versions(load_settings(), first, second)
    if as_json:
        typer.echo(json.dumps(result))
        return
    table = Table(title=f"{first} -> {second}")
    for column in ("memory", "added", "removed", "changed", "chunks +/-/~"):
        table.add_column(column, overflow="fold")
    for memory, change in result["memories"].items():
        table.add_row(
            memory,
            ", ".join(change["added"]),
            ", ".join(change["removed"]),
            ", ".join(change["changed"]),
            f"{change['chunks_added']}/{change['chunks_removed']}/{change['chunks_changed']}",
        )
    console.print(table)


def cleanup_versions(
    keep: int = typer.Option(5, "--keep", help="How many of the newest versions to keep."),
) -> None:
    """Delete old versions; the active one and its parent always stay.

    Example:
        twinself versions cleanup --keep 3
    """
    removed = remove_old_versions(load_settings(), keep)
    console.print(
        f"Removed {len(removed)} version(s)" + (f": {', '.join(removed)}" if removed else ".")
    )


def register(app: typer.Typer) -> None:
    versions_app.command("list")(handle_errors(list_versions))
    versions_app.command("show")(handle_errors(show))
    versions_app.command("activate")(handle_errors(activate))
    versions_app.command("rollback")(handle_errors(rollback))
    versions_app.command("diff")(handle_errors(diff))
    versions_app.command("cleanup")(handle_errors(cleanup_versions))
    app.add_typer(versions_app, name="versions")

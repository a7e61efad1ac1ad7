"""`twinself versions ...`: list, show, activate, rollback, diff and clean up memory versions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict

import typer
from rich.measure import Measurement
from rich.table import Table

from twinself.cli.common import console, handle_errors, load_settings
from twinself.memory.version_lifecycle import (
    activate_version,
    diff_versions,
    remove_old_versions,
)
from twinself.memory.versions import Registry, VersionInfo, VersionRegistry

versions_app = typer.Typer(
    help="Immutable memory versions: list, show, activate, rollback, diff, cleanup.\n\n"
    "Example:\n\n    twinself rebuild --create-version\n\n    twinself versions list\n\n"
    "    twinself versions list --json\n\n"
    "    twinself versions rollback v1_20261127_120000",
    no_args_is_help=True,
)


def list_versions(
    as_json: bool = typer.Option(
        False, "--json", help="Print the active id and every version as one JSON object."
    ),
) -> None:
    """Every version, newest last; the active one is marked with *.

    Ids are always printed whole, to copy into `versions rollback`: output too narrow for the
    table (a pipe counts as 80 columns) gets a few short lines per version instead. --json
    prints the registry for scripts.

    Example:
        twinself versions list
        twinself versions list --json | jq -r .active
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
    table = _versions_table(state)
    # The table's width when nothing in it wraps; narrower, rich would cut the ids.
    needed = Measurement.get(console, console.options.update_width(10_000), table).maximum
    if needed <= console.width:
        console.print(table)
        return
    console.print("Memory versions (* = active)", highlight=False)
    for line in _version_lines(state):
        # soft_wrap: rich never breaks a line, so an id is never split, at any width.
        console.print(line, soft_wrap=True, highlight=False, markup=False)


def _versions_table(state: Registry) -> Table:
    table = Table(title="Memory versions")
    for column in ("", "id", "created", "status", "parent", "points", "changes"):
        table.add_column(column, no_wrap=column in {"id", "parent"})
    for v in state.versions:
        table.add_row(
            "*" if v.id == state.active else "",
            v.id,
            v.created_at,
            v.status,
            v.parent or "",
            _points(v),
            f"{_changed_files(v)} file(s)",
        )
    return table


def _version_lines(state: Registry) -> Iterator[str]:
    for v in state.versions:
        yield f"{'*' if v.id == state.active else ' '} {v.id}  {v.status}"
        yield f"  created {v.created_at}"
        if v.parent:
            yield f"  parent {v.parent}"
        yield f"  points {_points(v) or '-'}, {_changed_files(v)} file(s) changed"


def _points(version: VersionInfo) -> str:
    return " / ".join(str(n) for n in version.points.values())


def _changed_files(version: VersionInfo) -> int:
    return sum(
        len(c.get("added", [])) + len(c.get("modified", [])) + len(c.get("deleted", []))
        for c in version.changes.values()
    )


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

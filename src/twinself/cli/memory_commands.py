"""`twinself validate` and `twinself rebuild`."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from twinself.cli.common import (
    console,
    err_console,
    handle_errors,
    load_settings,
    loading_embedder,
    progress_bar,
)
from twinself.config.settings import Settings
from twinself.errors import ConfigurationError
from twinself.memory.validation import count_private_parts, validate_data_dir
from twinself.memory.versions import VersionRegistry, active_location

if TYPE_CHECKING:
    from twinself.evaluation.gate import SummaryRunLogger
    from twinself.memory.builder import ProgressReporter, RebuildPlan, RebuildReport
    from twinself.memory.vector_store import VectorStore
    from twinself.release.workflow import GateRequest, ReleaseResult


def validate() -> None:
    """Check the data folder: JSON syntax, required fields, encoding, empty files, duplicates,
    private markers that do not pair up.

    Each problem is printed as file:line: message. Exit code 1 when there are errors.

    Example:
        TWINSELF_DATA_DIR=~/my_twin_data twinself validate
    """
    settings = load_settings()
    root = settings.resolved_data_dir
    problems = validate_data_dir(root)
    errors = [p for p in problems if p.severity == "error"]
    for problem in problems:
        style = "red" if problem.severity == "error" else "yellow"
        console.print(f"[{style}]{problem.render(root)}[/]", highlight=False)
    if errors:
        console.print(f"{len(errors)} error(s) in {root}: fix them before `twinself rebuild`.")
        raise typer.Exit(1)
    warnings = len(problems) - len(errors)
    console.print(
        f"[green]OK[/]: {root} is valid" + (f" ({warnings} warning(s))" if warnings else "")
    )
    private = count_private_parts(root)
    if private:
        console.print(f"{private} private part(s) will be left out of memory.")


def _summary_table(plan: RebuildPlan, report: RebuildReport | None) -> Table:
    table = Table(title="Memory changes")
    for column in ("memory", "added", "modified", "deleted", "unchanged", "whole rebuild"):
        table.add_column(column)
    if report is not None:
        table.add_column("points")
    for memory, change in plan.changes.items():
        row = [
            memory.value,
            str(len(change.added)),
            str(len(change.modified)),
            str(len(change.deleted)),
            str(len(change.unchanged)),
            change.rebuild_reason or "",
        ]
        if report is not None:
            row.append(str(report.points[memory]))
        table.add_row(*row)
    return table


def _changes_summary(
    plan: RebuildPlan, report: RebuildReport | None, *, dry_run: bool
) -> dict[str, object]:
    """The `--json` summary of a build; the caller adds to it and prints it once."""
    payload: dict[str, object] = {
        "changes": {m.value: c.to_dict() for m, c in plan.changes.items()},
        "dry_run": dry_run,
    }
    if report is not None:
        payload["points"] = {m.value: n for m, n in report.points.items()}
        payload["embedded_chunks"] = report.embedded_chunks
        payload["seconds"] = round(report.seconds, 3)
    return payload


def rebuild(
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print what would change; write nothing."
    ),
    force: bool = typer.Option(
        False, "--force", help="Re-embed every file, not only changed ones."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
    create_version: bool = typer.Option(
        False,
        "--create-version",
        help="Build a new immutable version beside the active one and activate it when done.",
    ),
    gate: Path | None = typer.Option(
        None,
        "--gate",
        help="With --create-version: a question set (as for evaluate-set) the new version must "
        "pass before it is activated.",
    ),
    min_faithfulness: float | None = typer.Option(None, help="Gate: lowest mean faithfulness."),
    min_relevancy: float | None = typer.Option(None, help="Gate: lowest mean answer relevancy."),
    min_fact_recall: float | None = typer.Option(
        None, help="Gate: lowest share of expected_facts found in the answers."
    ),
) -> None:
    """Build the memory, re-embedding only files added, modified or deleted since the last build.

    With --create-version (always, once versions exist) the active version is left untouched:
    a new one is built from a copy of it, then activated; a running server switches to it.

    Example:
        twinself rebuild --dry-run
        twinself rebuild
        twinself rebuild --create-version
        twinself rebuild --create-version --gate questions.json --min-faithfulness 0.8 \\
            --min-relevancy 0.8
    """
    # The memory builder and the store load qdrant_client: imported here, not at the top,
    # so that `--help` and the light commands (validate, versions list, ...) start fast.
    from twinself.evaluation.gate import GateThresholds
    from twinself.memory.builder import build_memory_builder
    from twinself.memory.store import build_vector_store
    from twinself.release.workflow import GateRequest

    settings = load_settings()
    versioned = VersionRegistry(settings.home).exists()
    thresholds = GateThresholds(min_faithfulness, min_relevancy, min_fact_recall)
    if gate is None and thresholds != GateThresholds():
        raise ConfigurationError("--min-faithfulness/--min-relevancy/... need --gate FILE.")
    if (create_version or versioned or gate is not None) and not dry_run:
        request = None
        if gate is not None:
            request = GateRequest(gate, thresholds, _gate_run_logger(settings))
        _release(settings, force, as_json, request)
        return
    location = active_location(settings) if versioned else None
    builder = build_memory_builder(settings, location)
    if dry_run:
        store = _existing_store(settings)
        try:
            plan = builder.plan(store, settings.embedding_model, None, force=force)
        finally:
            if store is not None:
                store.close()
        if as_json:
            typer.echo(json.dumps(_changes_summary(plan, None, dry_run=True)))
        else:
            console.print(_summary_table(plan, None))
            console.print("Dry run: nothing was written.")
        return
    builder.validate()  # before the slow model load
    embedder = loading_embedder(settings)
    store = build_vector_store(settings)
    try:
        plan = builder.plan(store, embedder.model_name, embedder.dimension, force=force)
        if not plan.has_changes:
            report = builder.apply(plan, store, embedder)
        else:
            with progress_bar() as progress:
                report = builder.apply(plan, store, embedder, progress)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(_changes_summary(plan, report, dry_run=False)))
        return
    console.print(_summary_table(plan, report))
    verb = "Rebuilt" if plan.has_changes else "Nothing changed;"
    console.print(
        f"{verb} memory in {report.seconds:.1f}s ({report.embedded_chunks} chunks embedded)."
    )


class _TerminalDisplay:
    """A release's slow steps on stderr: a bar while building, a spinner while gating."""

    def building(self) -> AbstractContextManager[ProgressReporter | None]:
        return progress_bar()

    def gating(self, questions: int) -> AbstractContextManager[object]:
        return err_console.status(f"Gate: answering and judging {questions} question(s)...")


def _gate_run_logger(settings: Settings) -> Callable[[], SummaryRunLogger]:
    def build() -> SummaryRunLogger:
        # MLflow loads only when a version is gated.
        from twinself.pipeline.mlflow_sink import EVALUATION_SETS, build_run_sink

        return build_run_sink(settings, EVALUATION_SETS)

    return build


def _release(settings: Settings, force: bool, as_json: bool, gate: GateRequest | None) -> None:
    from twinself.release.workflow import GateFailed, release_new_version

    try:
        result = release_new_version(
            settings,
            lambda: loading_embedder(settings),
            force=force,
            gate=gate,
            display=_TerminalDisplay(),
        )
    except GateFailed as rejected:
        _show_release(rejected.result, as_json)  # the verdict, then the error and exit 1
        raise
    _show_release(result, as_json)


def _show_release(result: ReleaseResult, as_json: bool) -> None:
    version = result.version
    if result.report is None:
        if as_json:
            payload = _changes_summary(result.plan, None, dry_run=False)
            typer.echo(json.dumps({**payload, "version": version.id, "created": False}))
        else:
            console.print(f"Nothing changed; the active memory stays {version.id}.")
        return
    if as_json:
        payload = _changes_summary(result.plan, result.report, dry_run=False)
        payload["version"] = version.id
        if result.verdict is not None:
            payload["gate"] = result.verdict.summary()
        typer.echo(json.dumps(payload))
        return
    console.print(_summary_table(result.plan, result.report))
    console.print(
        f"Built version {version.id} (parent {version.parent or 'none'}) in "
        f"{result.report.seconds:.1f}s."
    )
    if result.verdict is not None:
        console.print(json.dumps(result.verdict.summary()["candidate"]), highlight=False)
    if result.activated:
        console.print(f"Version {version.id} is now the active memory.")


def _existing_store(settings: Settings) -> VectorStore | None:
    """A dry run must not create the embedded store folder; a server store is just opened."""
    from twinself.memory.version_storage import build_version_storage

    location = active_location(settings)
    storage = build_version_storage(settings)
    if not storage.exists(location):
        return None
    return storage.open(location)


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(validate))
    app.command()(handle_errors(rebuild))

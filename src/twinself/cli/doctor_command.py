"""`twinself doctor`: check each part in order and say how to fix what is wrong."""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from twinself.cli.common import console, handle_errors, load_settings
from twinself.config.settings import Settings
from twinself.embedding.embedder import Embedder
from twinself.embedding.loading import load_embedder, runtime_of
from twinself.errors import MemoryUnavailable, TwinselfError
from twinself.llm.base import Prompt
from twinself.llm.factory import build_llm
from twinself.memory.documents import MemoryType, collection_name
from twinself.memory.validation import validate_data_dir
from twinself.memory.versions import MemoryLocation, active_location
from twinself.twin.persona import load_persona

# Below this, an outbox of a busy twin fills the disk within hours.
MIN_FREE_BYTES = 200_000_000

if TYPE_CHECKING:
    from twinself.memory.vector_store import VectorStore


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


@dataclass
class Context:
    settings: Settings
    embedder: Embedder | None = None
    store: VectorStore | None = None
    location: MemoryLocation | None = None


def _check_data(ctx: Context) -> Check:
    root = ctx.settings.resolved_data_dir
    problems = validate_data_dir(root)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        shown = "; ".join(p.render(root) for p in errors[:3])
        return Check(
            "data",
            False,
            f"{len(errors)} error(s) in {root}: {shown}",
            "Run `twinself validate` for the full list and fix each one.",
        )
    persona = load_persona(root, ctx.settings.system_prompt_file, ctx.settings.bot_name)
    return Check("data", True, f"{root} is valid; persona {persona.name!r} ({persona.prompt_file})")


def _check_embedder(ctx: Context) -> Check:
    started = time.perf_counter()
    ctx.embedder = load_embedder(ctx.settings)
    seconds = time.perf_counter() - started
    return Check(
        "embedding model",
        True,
        f"{ctx.embedder.model_name} ({ctx.embedder.dimension}-d) loaded in {seconds:.1f}s, "
        + runtime_of(ctx.embedder),
    )


def _check_store(ctx: Context) -> Check:
    # The store (and the builder below) load qdrant_client: imported here to keep `--help` fast.
    from twinself.memory.store import VERSION_REPAIR, MissingVersionStore, open_version_store

    ctx.location = active_location(ctx.settings)
    store = open_version_store(ctx.settings, ctx.location)
    if isinstance(store, MissingVersionStore):
        detail = f"the active version {ctx.location.version} has no store at {store.path}"
        return Check("memory", False, detail, VERSION_REPAIR)
    ctx.store = store
    counts = {
        m.value: ctx.store.count(collection_name(ctx.settings.user_prefix, m)) for m in MemoryType
    }
    shown = ", ".join(f"{k} {v}" for k, v in counts.items())
    if counts[MemoryType.SEMANTIC.value] == 0:
        return Check("memory", False, f"empty ({shown})", "Run `twinself rebuild`.")
    version = f"version {ctx.location.version}" if ctx.location.version else "unversioned"
    return Check("memory", True, f"{version}; points: {shown}")


def _check_aliases(ctx: Context) -> Check:
    """On a Qdrant server, the plain collection names must follow the active version."""
    version = ctx.location.version if ctx.location else None
    if not ctx.settings.qdrant_url or ctx.store is None or version is None:
        return Check("qdrant aliases", True, "not used (embedded store or no versions)")
    names = [collection_name(ctx.settings.user_prefix, m) for m in MemoryType]
    stale = ctx.store.stale_aliases(names)
    if stale:
        return Check(
            "qdrant aliases",
            False,
            f"{', '.join(stale)} do not point at the active version {version}",
            f"Run `twinself versions activate {version}`.",
        )
    return Check("qdrant aliases", True, f"point at {version}")


def _check_freshness(ctx: Context) -> Check:
    if ctx.store is None or ctx.embedder is None:
        return Check("memory freshness", False, "skipped: store or model unavailable")
    from twinself.memory.builder import build_memory_builder

    builder = build_memory_builder(ctx.settings, ctx.location)
    plan = builder.plan(ctx.store, ctx.embedder.model_name, ctx.embedder.dimension)
    if not plan.has_changes:
        return Check("memory freshness", True, "the memory matches the data folder")
    pending = sum(len(c.added) + len(c.modified) + len(c.deleted) for c in plan.changes.values())
    reasons = {c.rebuild_reason for c in plan.changes.values() if c.rebuild_reason}
    detail = f"{pending} file(s) changed since the last build" + (
        f"; {', '.join(sorted(reasons))}" if reasons else ""
    )
    return Check("memory freshness", False, detail, "Run `twinself rebuild` (see --dry-run).")


def _check_provider(ctx: Context) -> Check:
    settings = ctx.settings
    if ctx.embedder is None:
        return Check("provider", False, "skipped: the embedding model did not load")
    llm = build_llm(settings, ctx.embedder)
    try:
        if llm.name == "offline":
            return Check("provider", True, "offline extractive answerer (no key, no network)")
        started = time.perf_counter()
        reply = llm.generate(
            Prompt(
                system="Reply with the single word OK.",
                messages=(),
                question="Ping",
                persona_name="doctor",
            )
        )
        seconds = time.perf_counter() - started
        return Check(
            "provider",
            True,
            f"{llm.name}/{llm.model} answered in {seconds:.1f}s "
            f"({reply.usage.total_tokens} tokens)",
        )
    finally:
        llm.close()


def _check_judge(ctx: Context) -> Check:
    """The quality judge's configuration, and for an LLM judge one tiny real call."""
    from twinself.evaluation.judge_errors import classify
    from twinself.evaluation.judges import build_judge

    settings = ctx.settings
    kind = settings.resolved_judge
    if kind == "none":
        return Check("judge", True, "quality evaluation is off (EVAL_JUDGE=none)")
    if kind == "local":
        return Check("judge", True, "local-embedding: offline answer relevancy and faithfulness")
    judge = build_judge(settings, lambda: _unused_encoder())
    model = judge.make_metrics()[0].model
    started = time.perf_counter()
    try:
        asyncio.run(model.a_generate("Reply with the single word OK."))
    except Exception as exc:
        failure = classify(exc, judge.secret)
        return Check(
            "judge",
            False,
            f"{kind} judge {judge.name}: {failure.message}",
            "Check GOOGLE_API_KEY_4DEEPEVAL / EVAL_OPENAI_BASE_URL and EVAL_LLM_MODEL, or set "
            "EVAL_JUDGE=local to judge offline.",
        )
    seconds = time.perf_counter() - started
    return Check("judge", True, f"{kind} judge {judge.name} answered in {seconds:.1f}s")


def _check_scorers(ctx: Context) -> Check:
    """The pair scorers the offline judge and answerer use beside their rules: never a
    failure (the rules alone still work), but said, with how to get them."""
    from twinself.cli.scorer_training import RECIPES, is_current
    from twinself.embedding.onnx_runtime import transformer_folder
    from twinself.embedding.sentence_transformer import resolve_model_location

    if not RECIPES:
        return Check("pair scorers", True, "none used")
    try:
        source = transformer_folder(Path(resolve_model_location(ctx.settings.embedding_model)))
    except MemoryUnavailable as exc:
        return Check("pair scorers", True, f"not used with this embedding model ({exc})")
    stale = [r.name for r in RECIPES if not is_current(ctx.settings, r, source)]
    if not stale:
        return Check("pair scorers", True, ", ".join(r.name for r in RECIPES) + ": trained")
    return Check(
        "pair scorers",
        True,
        f"{', '.join(stale)}: not trained or out of date, so the offline judge and answerer "
        "use their rules alone (`twinself export-onnx` trains them, a few minutes, once)",
    )


def _check_outbox(ctx: Context) -> Check:
    path = ctx.settings.home / "outbox.sqlite3"
    if not path.exists():
        return Check("outbox", True, "none yet (made by the first request)")
    from twinself.pipeline.outbox import Outbox
    from twinself.pipeline.retention import outbox_bytes

    outbox = Outbox(path)
    try:
        size = outbox_bytes(outbox)
        counts = {
            table: int(outbox.connection().execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            for table in ("requests", "evaluation_jobs", "feedback")
        }
    finally:
        outbox.close()
    days = ctx.settings.retention_days
    kept = f"finished rows deleted after {days:g} days" if days else "kept for ever"
    free = shutil.disk_usage(path.parent).free
    detail = (
        f"{size / 1e6:.1f} MB: {counts['requests']} records, {counts['evaluation_jobs']} "
        f"evaluations, {counts['feedback']} suggestions; {kept} (TWINSELF_RETENTION_DAYS); "
        f"{free / 1e9:.1f} GB free on its disk"
    )
    writable = os.access(path, os.W_OK)
    if free < MIN_FREE_BYTES or not writable:
        return Check(
            "outbox",
            False,
            detail + ("" if writable else "; the file is read-only"),
            "Free disk space under TWINSELF_HOME (or lower TWINSELF_RETENTION_DAYS) and make "
            "the outbox writable: while it refuses records, chat answers 503.",
        )
    return Check("outbox", True, detail)


def _unused_encoder() -> Embedder:
    raise AssertionError("an LLM judge needs no embedding model")


CHECKS: list[Callable[[Context], Check]] = [
    _check_data,
    _check_embedder,
    _check_store,
    _check_aliases,
    _check_freshness,
    _check_provider,
    _check_judge,
    _check_scorers,
    _check_outbox,
]


# What twinself keeps in TWINSELF_HOME. Before TWINSELF_HOME alone could set the home, `$HOME`
# did, so `make run` left these straight in the user's home directory.
_STATE_NAMES = (
    "outbox.sqlite3",
    "mlflow.db",
    "memory_manifest.json",
    "qdrant",
    "versions",
    "mlartifacts",
)


def state_left_in(folder: Path, settings: Settings) -> str | None:
    """A one-line hint to move twinself state found in `folder` (the user's home) into
    TWINSELF_HOME; None when there is none, or when it is TWINSELF_HOME itself."""
    if folder.resolve() == settings.home:
        return None
    found = [name for name in _STATE_NAMES if (folder / name).exists()]
    # mlflow.db or qdrant/ alone may be another tool's; the outbox and the manifest are ours.
    if not {"outbox.sqlite3", "memory_manifest.json"} & set(found):
        return None
    paths = " ".join(shlex.quote(str(folder / name)) for name in found)
    target = shlex.quote(str(settings.home))
    return (
        f"An older twinself left its state in {folder}. Stop twinself, then keep it with: "
        f"mkdir -p {target} && mv {paths} {target}/"
    )


def doctor() -> None:
    """Check configuration, data, embedding model, memory, the LLM provider and the judge.

    Prints each problem with its fix. Exit code 1 if anything is wrong.

    Example:
        twinself doctor
    """
    settings = load_settings()
    console.print(
        f"TWINSELF_HOME={settings.home}  data={settings.resolved_data_dir}  "
        f"provider={settings.resolved_provider}  judge={settings.resolved_judge}  store="
        f"{settings.qdrant_url or 'embedded'}",
        highlight=False,
    )
    hint = state_left_in(Path.home(), settings)
    if hint is not None:
        console.print(f"[yellow]hint[/] {hint}", highlight=False, soft_wrap=True)
    ctx = Context(settings)
    failed = 0
    try:
        for check in CHECKS:
            try:
                result = check(ctx)
            except TwinselfError as exc:
                result = Check(check.__name__.removeprefix("_check_"), False, str(exc))
            failed += not result.ok
            mark = "[green]ok  [/]" if result.ok else "[red]FAIL[/]"
            # soft_wrap: a long detail stays one line, for grep and for the terminal's own wrap.
            console.print(f"{mark} {result.name}: {result.detail}", highlight=False, soft_wrap=True)
            if result.fix:
                console.print(f"     fix: {result.fix}", highlight=False, soft_wrap=True)
    finally:
        if ctx.store is not None:
            ctx.store.close()
    if failed:
        console.print(f"{failed} problem(s) found.")
        raise typer.Exit(1)
    console.print("[green]All checks passed.[/]")


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(doctor))

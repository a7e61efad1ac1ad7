"""Build a new memory version beside the active one.

A build starts from a copy of the active version's store and file hashes, applies only what
changed in the data folder to the copy, and records the version. The active version is never
opened for writing, so a server keeps answering from it; activation is one atomic registry
write (then, on a Qdrant server, one atomic alias switch).
A crash leaves the new version `building`; the next build or cleanup marks it failed and
removes its memory (the build lock proves nobody is still working on it).
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from twinself.config.settings import Settings
from twinself.embedding.embedder import Embedder
from twinself.memory.builder import (
    ProgressReporter,
    RebuildPlan,
    RebuildReport,
    build_memory_builder,
)
from twinself.memory.documents import SYSTEM_PROMPTS_FOLDER, MemoryType, system_prompt_path
from twinself.memory.manifest import Manifest, load_manifest
from twinself.memory.version_storage import VersionStorage, build_version_storage
from twinself.memory.versions import MemoryLocation, Registry, VersionInfo, VersionRegistry


@dataclass(frozen=True)
class VersionBuild:
    version: VersionInfo  # the new version, or the active one when nothing changed
    plan: RebuildPlan
    report: RebuildReport | None  # None: nothing changed, no version was made
    activated: bool

    @property
    def created(self) -> bool:
        return self.report is not None


def reap_interrupted_builds(
    storage: VersionStorage, registry: VersionRegistry, state: Registry
) -> list[str]:
    """Mark versions left `building` by a build that died as failed and delete their memory;
    only call under the build lock. Returns their ids; the caller saves `state`."""
    reaped = []
    for version in state.versions:
        if version.status == "building":
            version.status = "failed"
            version.error = version.error or "the build was interrupted"
            storage.delete(registry.location(version.id))
            reaped.append(version.id)
    return reaped


def create_version(
    settings: Settings,
    embedder: Embedder,
    *,
    activate: bool = True,
    force: bool = False,
    progress: ProgressReporter | None = None,
    now: datetime | None = None,
) -> VersionBuild:
    """Build a version from the data folder, incrementally from the active one; make it active
    when `activate`. Nothing changed (and not `force`): no version is made."""
    storage = build_version_storage(settings)
    registry = VersionRegistry(settings.home)
    with registry.build_lock():
        state = registry.load()
        if reap_interrupted_builds(storage, registry, state):
            registry.save(state)
        parent = registry.location(state.active)
        builder = build_memory_builder(settings, parent)
        builder.validate()  # before anything is written
        if state.active is not None and not force:
            unchanged = builder.plan(None, embedder.model_name, embedder.dimension)
            prompts = settings.resolved_data_dir / SYSTEM_PROMPTS_FOLDER
            same_prompts = _same_files(prompts, parent.root / SYSTEM_PROMPTS_FOLDER)
            if not unchanged.has_changes and same_prompts:  # `make run` rebuilds every time
                return VersionBuild(state.get(state.active), unchanged, None, False)
        version = VersionInfo(
            id=state.next_id(now or datetime.now()),
            created_at=(now or datetime.now()).isoformat(timespec="seconds"),
            parent=state.active,
            embedding_model=embedder.model_name,
        )
        target = registry.location(version.id)
        state.versions.append(version)
        registry.save(state)  # recorded as `building` before its memory exists
        try:
            plan, report = _build_into(settings, storage, embedder, parent, target, force, progress)
            # The system prompt is part of the version: a rollback brings it back too.
            shutil.copytree(
                settings.resolved_data_dir / SYSTEM_PROMPTS_FOLDER,
                target.root / SYSTEM_PROMPTS_FOLDER,
            )
        except BaseException as exc:
            version.status = "failed"
            version.error = f"{type(exc).__name__}: {exc}"[:500]
            registry.save(state)
            # Qdrant may have gone away too: then cleanup removes the failed version later.
            with contextlib.suppress(Exception):
                storage.delete(target)
            raise
        version.status = "ready"
        version.points = {m.value: n for m, n in report.points.items()}
        version.hashes = _hashes(load_manifest(target.manifest_path))
        version.changes = {m.value: c.to_dict() for m, c in plan.changes.items()}
        version.system_prompt = system_prompt_path(
            settings.resolved_data_dir, settings.system_prompt_file
        ).name
        if activate:
            state.active, state.prompt_version = version.id, None
        registry.save(state)
        if activate:
            storage.publish(target)
    return VersionBuild(version, plan, report, activate)


def _build_into(
    settings: Settings,
    storage: VersionStorage,
    embedder: Embedder,
    parent: MemoryLocation,
    target: MemoryLocation,
    force: bool,
    progress: ProgressReporter | None,
) -> tuple[RebuildPlan, RebuildReport]:
    # Start from the parent's points and hashes, so only changed files are embedded. A forced
    # build re-embeds every file, so it starts from an empty store.
    target.root.mkdir(parents=True)
    if parent.manifest_path.exists():
        shutil.copy2(parent.manifest_path, target.manifest_path)
    store = storage.open(target) if force else storage.open_copy(parent, target)
    try:
        builder = build_memory_builder(settings, target)
        plan = builder.plan(store, embedder.model_name, embedder.dimension, force=force)
        report = builder.apply(plan, store, embedder, progress)
    finally:
        store.close()
    return plan, report


def _same_files(folder: Path, snapshot: Path) -> bool:
    """Do two folders hold the same files with the same bytes (a system prompt edit)?"""

    def contents(root: Path) -> dict[str, bytes]:
        if not root.is_dir():
            return {}
        return {
            p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()
        }

    return contents(folder) == contents(snapshot)


def _hashes(manifest: Manifest | None) -> dict[str, dict[str, str]]:
    if manifest is None:
        return {}
    return {m.value: {f: r.hash for f, r in manifest.files_of(m).items()} for m in MemoryType}

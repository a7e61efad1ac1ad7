"""Build a new memory version beside the active one, compare versions, clean old ones up.

A build copies the active version's store and file hashes (the folder when embedded, its
collections on a Qdrant server), applies only what changed in the data folder to the copy, and
records the version. The active version is never opened for writing, so a server keeps
answering from it; activation is one atomic registry write (then, on a Qdrant server, one
atomic alias switch).
A crash leaves the new version `building`; the next build or `cleanup` marks it failed and
removes its folder and collections (the build lock proves nobody is still working on it).
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twinself.config.settings import Settings
from twinself.embedding.embedder import Embedder
from twinself.memory.builder import (
    ProgressReporter,
    RebuildPlan,
    RebuildReport,
    build_memory_builder,
)
from twinself.memory.documents import (
    SYSTEM_PROMPTS_FOLDER,
    MemoryType,
    collection_name,
    system_prompt_path,
)
from twinself.memory.manifest import Manifest, ManifestCorrupt, load_manifest
from twinself.memory.vector_store import StoredPoint, VectorStore
from twinself.memory.versions import (
    MemoryLocation,
    Registry,
    VersionError,
    VersionInfo,
    VersionRegistry,
)

if TYPE_CHECKING:
    from twinself.memory.store import QdrantVectorStore


@dataclass(frozen=True)
class VersionBuild:
    version: VersionInfo
    plan: RebuildPlan
    report: RebuildReport | None  # None: nothing changed, no version was made
    activated: bool

    @property
    def created(self) -> bool:
        return self.report is not None


def _reap_unfinished(settings: Settings, registry: VersionRegistry, state: Registry) -> list[str]:
    """Versions left `building` by a build that died: only call under the build lock."""
    reaped = []
    for version in state.versions:
        if version.status == "building":
            version.status = "failed"
            version.error = version.error or "the build was interrupted"
            _drop(settings, registry.location(version.id))
            reaped.append(version.id)
    return reaped


def _open_store(settings: Settings, location: MemoryLocation) -> QdrantVectorStore:
    # qdrant_client loads only when a store is opened: `versions activate` and `rollback` on
    # the embedded store never need one, and start in under a second.
    from twinself.memory.store import build_vector_store

    return build_vector_store(settings, location)


def _memory_names(settings: Settings) -> list[str]:
    return [collection_name(settings.user_prefix, memory) for memory in MemoryType]


def _drop(settings: Settings, location: MemoryLocation) -> None:
    """Delete a version's memory: its folder, and on a Qdrant server its collections."""
    if location.version is None:
        raise VersionError("The unversioned memory is never deleted by a version operation.")
    if settings.qdrant_url:
        store = _open_store(settings, location)
        try:
            for name in _memory_names(settings):
                store.delete_collection(name)
        finally:
            store.close()
    shutil.rmtree(location.root, ignore_errors=True)


def _publish(settings: Settings, location: MemoryLocation) -> None:
    """On a Qdrant server, switch the plain collection names (aliases) to the active version,
    for readers that do not know about versions. twinself's own readers go by the registry."""
    if not settings.qdrant_url:
        return
    try:
        store = _open_store(settings, location)
        try:
            store.publish(_memory_names(settings))
        finally:
            store.close()
    except Exception as exc:  # the registry already switched; say how to finish the job
        raise VersionError(
            f"Version {location.version} is active, but the Qdrant aliases still point at the "
            f"previous version ({type(exc).__name__}: {exc}). Run `twinself versions activate "
            f"{location.version}` again once Qdrant at {settings.qdrant_url} answers."
        ) from None


def create_version(
    settings: Settings,
    embedder: Embedder,
    *,
    activate: bool = True,
    force: bool = False,
    progress: ProgressReporter | None = None,
    now: datetime | None = None,
) -> VersionBuild:
    registry = VersionRegistry(settings.home)
    with registry.build_lock():
        state = registry.load()
        if _reap_unfinished(settings, registry, state):
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
        registry.save(state)  # recorded as `building` before its folder exists
        try:
            plan, report = _build_into(settings, embedder, parent, target, force, progress)
            # The system prompt is part of the version: a rollback brings it back too.
            shutil.copytree(
                settings.resolved_data_dir / SYSTEM_PROMPTS_FOLDER,
                target.root / SYSTEM_PROMPTS_FOLDER,
            )
        except BaseException as exc:
            version.status = "failed"
            version.error = f"{type(exc).__name__}: {exc}"[:500]
            registry.save(state)
            # Qdrant may have gone away too: then `cleanup` removes the failed version later.
            with contextlib.suppress(Exception):
                _drop(settings, target)
            raise
        manifest = load_manifest(target.manifest_path)
        version.status = "ready"
        version.points = {m.value: n for m, n in report.points.items()}
        version.hashes = _hashes(manifest)
        version.changes = {m.value: c.to_dict() for m, c in plan.changes.items()}
        version.system_prompt = system_prompt_path(
            settings.resolved_data_dir, settings.system_prompt_file
        ).name
        if activate:
            state.active, state.prompt_version = version.id, None
        registry.save(state)
        if activate:
            _publish(settings, target)
    return VersionBuild(version, plan, report, activate)


def _build_into(
    settings: Settings,
    embedder: Embedder,
    parent: MemoryLocation,
    target: MemoryLocation,
    force: bool,
    progress: ProgressReporter | None,
) -> tuple[RebuildPlan, RebuildReport]:
    # Start from the parent's store and hashes, so only changed files are embedded.
    target.root.mkdir(parents=True)
    if parent.manifest_path.exists():
        shutil.copy2(parent.manifest_path, target.manifest_path)
    if not settings.qdrant_url and parent.qdrant_path.exists():
        shutil.copytree(parent.qdrant_path, target.qdrant_path, ignore=_lock_files)
    builder = build_memory_builder(settings, target)
    store = _open_store(settings, target)
    try:
        if settings.qdrant_url and not force:
            _copy_collections(settings, parent, store)
        plan = builder.plan(store, embedder.model_name, embedder.dimension, force=force)
        report = builder.apply(plan, store, embedder, progress)
    finally:
        store.close()
    return plan, report


def _copy_collections(settings: Settings, parent: MemoryLocation, target: VectorStore) -> None:
    """On a Qdrant server: copy the parent version's points into the new version's collections,
    a page at a time (the server has no collection copy)."""
    source = _open_store(settings, parent)
    try:
        for name in _memory_names(settings):
            target.delete_collection(name)  # left by an earlier try under the same id
            batch: list[StoredPoint] = []
            for point in source.points(name):
                if not batch and not target.collection_exists(name):
                    target.ensure_collection(name, len(point.vectors[0]))
                batch.append(point)
                if len(batch) == 256:
                    target.upsert(name, batch)
                    batch = []
            if batch:
                target.upsert(name, batch)
    finally:
        source.close()


def _same_files(folder: Path, snapshot: Path) -> bool:
    """Do two folders hold the same files with the same bytes (a system prompt edit)?"""

    def contents(root: Path) -> dict[str, bytes]:
        if not root.is_dir():
            return {}
        return {
            p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()
        }

    return contents(folder) == contents(snapshot)


def _lock_files(_folder: str, names: list[str]) -> set[str]:
    return {name for name in names if name == ".lock"}  # the parent's reader holds its own


def _hashes(manifest: Manifest | None) -> dict[str, dict[str, str]]:
    if manifest is None:
        return {}
    return {m.value: {f: r.hash for f, r in manifest.files_of(m).items()} for m in MemoryType}


def activate(
    settings: Settings,
    version_id: str,
    gate: dict[str, Any] | None = None,
    make_active: bool = True,
    data_only: bool = False,
) -> VersionInfo:
    """Make a ready version active; `gate` records the evaluation gate's verdict with it.
    `data_only` takes that version's memory but keeps the system prompt served now."""
    registry = VersionRegistry(settings.home)
    with registry.build_lock():
        state = registry.load()
        version = state.get(version_id)
        if version.status != "ready":
            raise VersionError(f"Version {version_id} is {version.status}; it cannot be active.")
        if gate is not None:
            version.gate = gate
        if make_active:
            speaking = state.prompt_version or state.active
            state.prompt_version = speaking if data_only and speaking != version.id else None
            state.active = version.id
        registry.save(state)
        if make_active:
            _publish(settings, registry.location(version.id))
    return version


def diff_versions(settings: Settings, first: str, second: str) -> dict[str, Any]:
    """Files and chunks added, removed or changed per memory, from A to B."""
    registry = VersionRegistry(settings.home)
    state = registry.load()
    manifests = []
    for version_id in (first, second):
        state.get(version_id)
        try:
            manifests.append(load_manifest(registry.location(version_id).manifest_path))
        except ManifestCorrupt as exc:
            unreadable = f"Version {version_id}'s file hashes are unreadable: {exc}"
            raise VersionError(unreadable) from None
    old, new = manifests
    result: dict[str, Any] = {"from": first, "to": second, "memories": {}}
    for memory in MemoryType:
        before = old.files_of(memory) if old else {}
        after = new.files_of(memory) if new else {}
        changed = sorted(f for f in before.keys() & after.keys() if before[f].hash != after[f].hash)
        added, removed = sorted(after.keys() - before.keys()), sorted(before.keys() - after.keys())
        result["memories"][memory.value] = {
            "added": added,
            "removed": removed,
            "changed": changed,
            "chunks_added": sum(after[f].chunks for f in added),
            "chunks_removed": sum(before[f].chunks for f in removed),
            "chunks_changed": sum(after[f].chunks for f in changed),
        }
    return result


def cleanup(settings: Settings, keep: int) -> list[str]:
    """Remove all but the `keep` newest ready versions; never the active one or its parent.
    Failed and interrupted builds are removed too. Returns the removed ids."""
    if keep < 1:
        raise VersionError("--keep must be at least 1.")
    registry = VersionRegistry(settings.home)
    with registry.build_lock():
        state = registry.load()
        _reap_unfinished(settings, registry, state)
        ready = [v for v in state.versions if v.status == "ready"]
        protected = {v.id for v in ready[-keep:]}
        if state.active is not None:
            protected.add(state.active)
            active_parent = state.get(state.active).parent
            if active_parent is not None:
                protected.add(active_parent)
        removed = [v.id for v in state.versions if v.id not in protected]
        # The registry first: a crash between the two leaves stray folders, never an entry
        # pointing at a deleted folder.
        state.versions = [v for v in state.versions if v.id in protected]
        registry.save(state)
        for version_id in removed:
            _drop(settings, registry.location(version_id))
    return removed

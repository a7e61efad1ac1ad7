"""What happens to built memory versions: the gate's verdict is recorded, one version is made
active (a rollback is the same, optionally keeping today's system prompt), two are compared,
and old ones are removed.

Each change is one registry write under the build lock; a version's memory is never edited.
"""

from __future__ import annotations

from typing import Any

from twinself.config.settings import Settings
from twinself.memory.documents import MemoryType
from twinself.memory.manifest import ManifestCorrupt, load_manifest
from twinself.memory.version_builder import reap_interrupted_builds
from twinself.memory.version_storage import build_version_storage
from twinself.memory.versions import Registry, VersionError, VersionInfo, VersionRegistry


def _ready(state: Registry, version_id: str) -> VersionInfo:
    version = state.get(version_id)
    if version.status != "ready":
        raise VersionError(
            f"Version {version_id} is {version.status}; only a ready version can be gated or "
            "active. Pick a ready one from `twinself versions list`, or build a new one with "
            "`twinself rebuild --create-version`."
        )
    return version


def record_gate_verdict(
    settings: Settings, version_id: str, verdict: dict[str, Any]
) -> VersionInfo:
    """Keep the evaluation gate's verdict with a ready version; what is active stays."""
    registry = VersionRegistry(settings.home)
    with registry.build_lock():
        state = registry.load()
        version = _ready(state, version_id)
        version.gate = verdict
        registry.save(state)
    return version


def activate_version(
    settings: Settings, version_id: str, *, data_only: bool = False
) -> VersionInfo:
    """Make a ready version the active memory; a running server follows within seconds.

    Going back to an earlier version (a rollback) is the same call. `data_only` takes that
    version's memory but keeps the system prompt served now.
    """
    storage = build_version_storage(settings)
    registry = VersionRegistry(settings.home)
    with registry.build_lock():
        state = registry.load()
        version = _ready(state, version_id)
        speaking = state.prompt_version or state.active
        state.prompt_version = speaking if data_only and speaking != version.id else None
        state.active = version.id
        registry.save(state)
        storage.publish(registry.location(version.id))
    return version


def diff_versions(settings: Settings, first: str, second: str) -> dict[str, Any]:
    """Files and chunks added, removed or changed per memory, from `first` to `second`."""
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


def remove_old_versions(settings: Settings, keep: int) -> list[str]:
    """Remove all but the `keep` newest ready versions; never the active one or its parent.
    Failed and interrupted builds are removed too. Returns the removed ids."""
    if keep < 1:
        raise VersionError("--keep must be at least 1.")
    storage = build_version_storage(settings)
    registry = VersionRegistry(settings.home)
    with registry.build_lock():
        state = registry.load()
        reap_interrupted_builds(storage, registry, state)
        ready = [v for v in state.versions if v.status == "ready"]
        protected = {v.id for v in ready[-keep:]}
        if state.active is not None:
            protected.add(state.active)
            active_parent = state.get(state.active).parent
            if active_parent is not None:
                protected.add(active_parent)
        removed = [v.id for v in state.versions if v.id not in protected]
        # The registry first: a crash between the two leaves stray memory, never an entry
        # pointing at deleted memory.
        state.versions = [v for v in state.versions if v.id in protected]
        registry.save(state)
        for version_id in removed:
            storage.delete(registry.location(version_id))
    return removed

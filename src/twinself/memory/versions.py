"""Immutable memory versions: where each lives, which one is active, and the registry file.

Layout under TWINSELF_HOME:

    versions/registry.json        {"active": id, "versions": [...]}, written atomically
    versions/build.lock           held by the one build that may run at a time
    versions/<id>/qdrant_edge/    that version's embedded store (never written after its build)
    versions/<id>/memory_manifest.json

Without a registry, the memory is the unversioned one TwinSelf users start with
(TWINSELF_HOME/qdrant_edge); the first `rebuild --create-version` starts from a copy of it.
"""

from __future__ import annotations

import json
import re
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from twinself.config.settings import Settings
from twinself.errors import TwinselfError
from twinself.file_lock import exclusive_lock
from twinself.memory.manifest import write_json_atomically

VersionStatus = Literal["building", "ready", "failed"]
_ID = re.compile(r"^v(\d+)_\d{8}_\d{6}$")


class VersionError(TwinselfError):
    """A version operation cannot be done; the message says why and what to do."""


class RegistryCorrupt(VersionError):
    """The registry file cannot be read."""


class BuildInProgress(VersionError):
    """Another build holds the build lock."""


@dataclass(frozen=True)
class MemoryLocation:
    """Where one memory's store and file hashes live."""

    root: Path
    version: str | None  # None: the unversioned memory
    # The folder whose `system_prompts/` the twin speaks with: a version's snapshot (another
    # version's after `rollback --data-only`), or None for the live data folder.
    prompt_root: Path | None = None

    @property
    def qdrant_path(self) -> Path:
        """qdrant-client's embedded store: what releases before Qdrant Edge wrote; read once,
        to convert it into `edge_path`, and then left as it was."""
        return self.root / "qdrant"

    @property
    def edge_path(self) -> Path:
        """The embedded store (Qdrant Edge, one shard folder per collection)."""
        return self.root / "qdrant_edge"

    @property
    def has_embedded_store(self) -> bool:
        return self.edge_path.is_dir() or self.qdrant_path.is_dir()

    @property
    def manifest_path(self) -> Path:
        return self.root / "memory_manifest.json"


@dataclass
class VersionInfo:
    id: str
    created_at: str
    parent: str | None
    status: VersionStatus = "building"
    points: dict[str, int] = field(default_factory=dict)
    hashes: dict[str, dict[str, str]] = field(default_factory=dict)  # memory -> file -> hash
    changes: dict[str, Any] = field(default_factory=dict)
    system_prompt: str = ""
    embedding_model: str = ""
    error: str = ""
    gate: dict[str, Any] = field(default_factory=dict)  # the evaluation gate's verdict


@dataclass
class Registry:
    active: str | None = None
    versions: list[VersionInfo] = field(default_factory=list)
    prompt_version: str | None = None  # whose system prompt is served; None = the active's

    def get(self, version_id: str) -> VersionInfo:
        for version in self.versions:
            if version.id == version_id:
                return version
        known = ", ".join(v.id for v in self.versions) or "none yet"
        raise VersionError(f"No version {version_id!r}; known: {known} (`twinself versions list`).")

    def next_id(self, now: datetime) -> str:
        numbers = [int(m.group(1)) for v in self.versions if (m := _ID.match(v.id))]
        return f"v{max(numbers, default=0) + 1}_{now:%Y%m%d_%H%M%S}"


class VersionRegistry:
    def __init__(self, home: Path) -> None:
        self.root = home / "versions"
        self.path = self.root / "registry.json"
        self._legacy = MemoryLocation(home, None)

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> Registry:
        if not self.path.exists():
            if self.root.exists() and any(p.is_dir() for p in self.root.iterdir()):
                # Never start a new registry over versions that exist on disk.
                raise RegistryCorrupt(
                    f"{self.path} is missing but {self.root} holds version folders. Restore "
                    "the registry from a backup, or move the folder aside to start afresh."
                )
            return Registry()
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            return Registry(
                active=raw.get("active"),
                versions=[VersionInfo(**v) for v in raw.get("versions", [])],
                prompt_version=raw.get("prompt_version"),
            )
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError, AttributeError) as exc:
            raise RegistryCorrupt(
                f"The version registry {self.path} is unreadable ({exc}). It is never recreated "
                "over existing versions: restore it from a backup, or fix the JSON by hand."
            ) from None

    def save(self, registry: Registry) -> None:
        payload = {
            "active": registry.active,
            "prompt_version": registry.prompt_version,
            "versions": [asdict(v) for v in registry.versions],
        }
        write_json_atomically(self.path, payload)

    def location(self, version_id: str | None) -> MemoryLocation:
        if version_id is None:
            return self._legacy
        return MemoryLocation(self.root / version_id, version_id)

    def version_location(self, version_id: str) -> MemoryLocation:
        """A ready version's memory with its own system prompt, active or not."""
        version = self.load().get(version_id)
        if version.status != "ready":
            raise VersionError(f"Version {version_id} is {version.status}; it has no memory.")
        location = self.location(version_id)
        has_prompts = (location.root / "system_prompts").is_dir()
        return MemoryLocation(location.root, version_id, location.root if has_prompts else None)

    def active_location(self) -> MemoryLocation:
        state = self.load()
        location = self.location(state.active)
        prompt_from = state.prompt_version or state.active
        if prompt_from is None:
            return location
        prompts = self.location(prompt_from).root
        if not (prompts / "system_prompts").is_dir():  # a version from before the snapshots
            return location
        return MemoryLocation(location.root, location.version, prompts)

    def build_lock(self) -> AbstractContextManager[None]:
        """One build (or version operation) at a time."""
        return exclusive_lock(
            self.root / "build.lock",
            lambda: BuildInProgress(
                "Another `twinself rebuild --create-version` is running on "
                f"{self.root.parent}; wait for it to finish."
            ),
        )


def active_location(settings: Settings) -> MemoryLocation:
    """The memory a reader (server, ask, chat) should open now."""
    return VersionRegistry(settings.home).active_location()

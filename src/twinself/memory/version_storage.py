"""Where a memory version's points live, per store mode, behind one interface.

Embedded, each version is a folder with its own Qdrant store: a new version starts as a copy of
its parent's folder, and deleting a version deletes its folder. On a Qdrant server, a version's
collections carry its id as a suffix (`<name>__<version>`): a new version starts as a copy of
the parent's points, page by page, and activation switches the plain names, as aliases, to it.

`build_version_storage` picks the mode once from the settings; the build and the version
operations call the interface and never ask which mode they run in.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Protocol

from twinself.config.settings import Settings
from twinself.memory.documents import MemoryType, collection_name
from twinself.memory.vector_store import VectorStore, copy_points
from twinself.memory.versions import MemoryLocation, VersionError

if TYPE_CHECKING:
    from twinself.memory.edge_store import EdgeVectorStore
    from twinself.memory.store import QdrantVectorStore


class VersionStorage(Protocol):
    def exists(self, location: MemoryLocation) -> bool:
        """Can `location`'s store be opened without creating it?"""
        ...

    def open(self, location: MemoryLocation) -> VectorStore:
        """The store of `location`, created if it does not exist yet."""
        ...

    def open_copy(self, parent: MemoryLocation, target: MemoryLocation) -> VectorStore:
        """The new version `target`'s store, starting with a copy of `parent`'s points (only
        changed files are then embedded). `target.root` exists; `parent` is only read."""
        ...

    def delete(self, location: MemoryLocation) -> None:
        """Delete a version's memory: its folder and every point it holds."""
        ...

    def publish(self, location: MemoryLocation) -> None:
        """Show the active version under the plain collection names, for readers that do not
        know about versions (twinself's own readers go by the registry)."""
        ...


def _open_store(
    settings: Settings, location: MemoryLocation
) -> QdrantVectorStore | EdgeVectorStore:
    # qdrant_client loads only when a store is opened: `versions activate` and `rollback` on
    # the embedded store never need one, and start in under a second.
    from twinself.memory.store import build_vector_store

    return build_vector_store(settings, location)


def _deletable(location: MemoryLocation) -> MemoryLocation:
    if location.version is None:
        raise VersionError("The unversioned memory is never deleted by a version operation.")
    return location


class EmbeddedVersionStorage:
    """Each version is a folder with its own store (the store locks its folder to one
    process; a copy of the parent's files never opens it, so a server reading the parent
    never blocks a build)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def exists(self, location: MemoryLocation) -> bool:
        return location.has_embedded_store

    def open(self, location: MemoryLocation) -> VectorStore:
        return _open_store(self._settings, location)

    def open_copy(self, parent: MemoryLocation, target: MemoryLocation) -> VectorStore:
        # A parent an earlier release built in qdrant-client's format is copied as it is and
        # converted in the copy when it is opened: the parent is only ever read.
        for folder in (parent.edge_path, parent.qdrant_path):
            if folder.is_dir():
                shutil.copytree(folder, target.root / folder.name, ignore=_lock_files)
                break
        return self.open(target)

    def delete(self, location: MemoryLocation) -> None:
        shutil.rmtree(_deletable(location).root, ignore_errors=True)

    def publish(self, location: MemoryLocation) -> None:
        """Nothing reads an embedded version by a plain name."""


def _lock_files(_folder: str, names: list[str]) -> set[str]:
    # The parent's reader holds its own lock (Edge's `.lock`, qdrant-client's `.lock`).
    return {name for name in names if name == ".lock"}


class QdrantServerVersionStorage:
    """Each version is a set of collections named `<name>__<version>` on one server; the
    folder keeps only its file hashes and system prompts."""

    def __init__(self, settings: Settings, url: str) -> None:
        self._settings = settings
        self._url = url
        self._names = [collection_name(settings.user_prefix, memory) for memory in MemoryType]

    def exists(self, location: MemoryLocation) -> bool:
        return True  # a server creates nothing when a store is opened

    def open(self, location: MemoryLocation) -> VectorStore:
        return _open_store(self._settings, location)

    def open_copy(self, parent: MemoryLocation, target: MemoryLocation) -> VectorStore:
        store = _open_store(self._settings, target)
        try:
            self._copy_points(parent, store)
        except BaseException:
            store.close()
            raise
        return store

    def _copy_points(self, parent: MemoryLocation, target: VectorStore) -> None:
        # The server has no collection copy: read the parent a page at a time.
        source = _open_store(self._settings, parent)
        try:
            copy_points(source, target, self._names)
        finally:
            source.close()

    def delete(self, location: MemoryLocation) -> None:
        store = _open_store(self._settings, _deletable(location))
        try:
            for name in self._names:
                store.delete_collection(name)
        finally:
            store.close()
        shutil.rmtree(location.root, ignore_errors=True)

    def publish(self, location: MemoryLocation) -> None:
        """Switch every plain name to `location`'s collections in one atomic alias update."""
        try:
            store = _open_store(self._settings, location)
            try:
                store.publish(self._names)
            finally:
                store.close()
        except Exception as exc:  # the registry already switched; say how to finish the job
            raise VersionError(
                f"Version {location.version} is active, but the Qdrant aliases still point at "
                f"the previous version ({type(exc).__name__}: {exc}). Run `twinself versions "
                f"activate {location.version}` again once Qdrant at {self._url} answers."
            ) from None


def build_version_storage(settings: Settings) -> VersionStorage:
    if settings.qdrant_url:
        return QdrantServerVersionStorage(settings, settings.qdrant_url)
    return EmbeddedVersionStorage(settings)

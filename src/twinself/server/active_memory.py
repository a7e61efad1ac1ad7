"""The memory the server answers from, following the active version without a restart.

A watcher thread looks at the version registry twice a second. When another version
becomes active (`rebuild --create-version`, `versions activate` or `rollback`) it opens that
version's store beside the current one, then swaps: requests that already started finish on
the old version (each holds its own `Serving`), new ones get the new version. The old store is
closed after a grace period longer than any request can take.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from twinself.config.settings import Settings
from twinself.memory.store import MissingVersionStore, open_version_store
from twinself.memory.versions import VersionError, VersionRegistry
from twinself.twin.factory import TwinRuntime, build_twin
from twinself.twin.twin import Twin

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Serving:
    """One request's view: the twin and the data version it answers from."""

    twin: Twin
    data_version: str
    runtime: TwinRuntime
    owned: bool = True  # a runtime lent by the caller (tests) is never closed here


class ActiveMemory:
    def __init__(
        self,
        settings: Settings,
        runtime: TwinRuntime,
        *,
        owns_runtime: bool = True,
        poll_seconds: float = 0.5,  # a stat() of registry.json: cheap enough to look often
        grace_seconds: float | None = None,
    ) -> None:
        self._settings = settings
        self._registry = VersionRegistry(settings.home)
        self._poll = poll_seconds
        self._grace = grace_seconds or settings.llm_timeout_seconds * 2 + 10
        # The twin follows these settings, not the (possibly shared) runtime's.
        twin = build_twin(settings, runtime.store, runtime.embedder, runtime.location)
        self._current = Serving(twin, runtime.data_version(), runtime, owns_runtime)
        self._prompt_root = runtime.location.prompt_root if runtime.location else None
        self._retired: dict[str, tuple[float, Serving]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._seen = self._registry_stamp()
        self._thread = threading.Thread(target=self._watch, name="memory-watcher", daemon=True)

    @property
    def current(self) -> Serving:
        return self._current

    def start(self) -> None:
        self._thread.start()

    def _registry_stamp(self) -> float | None:
        try:
            return self._registry.path.stat().st_mtime_ns / 1e9
        except FileNotFoundError:
            return None

    def _watch(self) -> None:
        while not self._stop.wait(self._poll):
            try:
                self.refresh()
            except Exception:  # the server keeps answering from what it has
                logger.exception("Could not switch to the active memory version")
            self._close_expired()

    def refresh(self) -> bool:
        """Switch to the registry's active version if it changed; True if it switched."""
        stamp = self._registry_stamp()
        if self._restored():
            return True
        if stamp is None or stamp == self._seen:
            return False
        try:
            location = self._registry.active_location()
        except VersionError as exc:
            logger.error("Keeping memory %s: %s", self._current.data_version, exc)
            return False
        self._seen = stamp
        same_memory = location.version == self._current.data_version
        if location.version is None or (same_memory and location.prompt_root == self._prompt_root):
            return False
        with self._lock:
            reused = self._retired.pop(location.version, None)
            if same_memory:  # only the system prompt changed (rollback --data-only)
                # The old twin is left to in-flight requests, not closed: it shares this store.
                runtime = self._current.runtime
                twin = build_twin(self._settings, runtime.store, runtime.embedder, location)
                serving = Serving(twin, location.version, runtime, self._current.owned)
                previous, self._current = self._current, serving
                self._prompt_root = location.prompt_root
                return True
            owned = True
            if reused is not None:  # still open (grace period): a second open would be refused
                reused[1].twin.close()
                store, owned = reused[1].runtime.store, reused[1].owned
            else:
                store = open_version_store(self._settings, location)
            embedder = self._current.runtime.embedder
            runtime = TwinRuntime(self._settings, store, embedder, location)
            twin = build_twin(self._settings, store, embedder, location)
            serving = Serving(twin, location.version, runtime, owned)
            previous, self._current = self._current, serving
            self._prompt_root = location.prompt_root
            self._retired[previous.data_version] = (time.monotonic() + self._grace, previous)
        logger.info(
            "Answering from memory version %s (was %s)", serving.data_version, previous.data_version
        )
        return True

    def _restored(self) -> bool:
        """The active version's missing folder is back (the owner restored it): open it."""
        missing = self._current.runtime.store
        if not isinstance(missing, MissingVersionStore) or not missing.restored():
            return False
        with self._lock:
            runtime = TwinRuntime.open(self._settings, self._current.runtime.embedder)
            if isinstance(runtime.store, MissingVersionStore):  # the registry moved meanwhile
                return False
            twin = build_twin(self._settings, runtime.store, runtime.embedder, runtime.location)
            # Nothing to retire: the stand-in holds no files, and no answer came from it.
            previous, self._current = self._current, Serving(twin, runtime.data_version(), runtime)
            previous.twin.close()
            self._prompt_root = runtime.location.prompt_root if runtime.location else None
            self._seen = self._registry_stamp()
        logger.info("Memory version %s is back; answering from it", self._current.data_version)
        return True

    def _close_expired(self) -> None:
        now = time.monotonic()
        with self._lock:
            expired = [v for v, (due, _) in self._retired.items() if due <= now]
            closing = [self._retired.pop(v)[1] for v in expired]
        for serving in closing:
            _close(serving)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self._poll + 5)
        with self._lock:
            closing = [s for _, s in self._retired.values()] + [self._current]
            self._retired.clear()
        for serving in closing:
            _close(serving)


def _close(serving: Serving) -> None:
    serving.twin.close()
    if serving.owned:
        serving.runtime.close()

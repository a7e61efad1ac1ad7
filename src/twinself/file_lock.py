"""One process at a time: an exclusive lock on a file, which the OS drops when the holder dies,
even by kill -9, so a crash never leaves a stale lock behind."""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def exclusive_lock(path: Path, when_held: Callable[[], Exception]) -> Iterator[None]:
    """Hold `path` locked while inside; raise `when_held()` at once if another process has it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise when_held() from None
        yield

"""What the server does when the outbox cannot be written (disk full, file read-only, I/O
error): it stops answering rather than answer untracked.

Every answer twinself gives is recorded, costed and checked; an answer that cannot be recorded
is also invisible to the daily spend cap on other processes. So the request whose record fails
gets a 503 instead of its answer, and further chat requests are refused with 503 before any
model call, until a write succeeds again: one request is let through every `retry_seconds` to
find out. Each failed write is logged and counted (`twinself_outbox_write_errors_total`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

OUTBOX_UNWRITABLE = (
    "The twin cannot record answers right now, so it is not answering; please try again later."
)


class OutboxWriteGate:
    def __init__(
        self,
        retry_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        self._retry = retry_seconds
        self._clock = clock
        self._on_failure = on_failure
        self._lock = threading.Lock()
        self._failed_at: float | None = None  # None: the last write succeeded

    def failed(self) -> None:
        with self._lock:
            self._failed_at = self._clock()
        if self._on_failure is not None:
            self._on_failure()

    def succeeded(self) -> None:
        with self._lock:
            self._failed_at = None

    def blocked(self) -> bool:
        """Refuse this request before it costs anything? No, once per `retry_seconds`: that
        request's write tells whether the outbox works again."""
        with self._lock:
            if self._failed_at is None:
                return False
            if self._clock() - self._failed_at < self._retry:
                return True
            self._failed_at = self._clock()  # this one probes; the others keep waiting
            return False

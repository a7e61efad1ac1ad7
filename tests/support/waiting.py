"""The one place a test polls: for another process or thread to get somewhere.

In-process waits for time to pass use a `FakeClock` instead; this is for what a test cannot
step itself (a server starting, a worker process draining).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

_PAUSE_SECONDS = 0.05


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Return as soon as `condition()` is truthy; fail after `timeout` seconds, naming `what`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(_PAUSE_SECONDS)


def answers(url: str) -> bool:
    """GET `url` says 2xx (a server that is down or starting says no)."""
    try:
        return httpx.get(url, timeout=1.0).is_success
    except httpx.HTTPError:
        return False

"""The one backoff formula, for every retry: a provider call inside a request, the shipper's and
the evaluation worker's background retries, a supervised process that keeps dying.

Attempt 1, 2, 3, ... waits base, 2*base, 4*base, ... up to the cap, scaled by 0.5-1.0 at random
so that clients which failed together do not all come back together. A server's own hint
(Retry-After, Gemini's RetryInfo) is honoured when it is longer, within the cap.
"""

from __future__ import annotations


def backoff_delay(
    attempt: int,
    base_seconds: float,
    max_seconds: float,
    jitter: float,
    hint_seconds: float | None = None,
) -> float:
    """Seconds to wait before retry `attempt` (1 = the first retry). `jitter` is a random
    fraction in [0, 1) from the caller's generator, so tests can fix it."""
    ceiling = min(max_seconds, base_seconds * 2.0 ** max(0, attempt - 1))
    delay = ceiling * (0.5 + 0.5 * jitter)
    if hint_seconds is not None:
        delay = max(delay, min(max(0.0, hint_seconds), max_seconds))
    return delay

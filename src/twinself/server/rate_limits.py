"""Per-client rate limits: the `limits` library's moving windows, in this process's memory.

A client is its API key when it sent a valid one, else its address. X-Forwarded-For is read
only from the proxies in TWINSELF_TRUSTED_PROXIES: anyone else could write any address there.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Collection

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import Request


class RateLimits:
    def __init__(
        self,
        spec: str,
        trusted_proxies: Collection[str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._items: list[RateLimitItem] = parse_many(spec) if spec.strip() else []
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._trusted = set(trusted_proxies)
        self._clock = clock

    def client_address(self, request: Request) -> str:
        peer = request.client.host if request.client else "unknown"
        if peer not in self._trusted:
            return peer
        # The nearest address a trusted proxy did not add: the one the visitor connected from.
        forwarded = [a.strip() for a in request.headers.get("x-forwarded-for", "").split(",")]
        for address in reversed([a for a in forwarded if a]):
            if address not in self._trusted:
                return address
        return peer

    def client(self, request: Request, valid_key: str | None) -> str:
        if valid_key:  # a hash: the limiter's keys never hold a secret
            return "key:" + hashlib.sha256(valid_key.encode()).hexdigest()[:16]
        return "ip:" + self.client_address(request)

    def retry_after(self, client: str) -> int | None:
        """None when `client` may go on (and the request is counted); else the seconds until
        the fullest window lets it."""
        if not self._items:
            return None
        full = [item for item in self._items if not self._limiter.test(item, client)]
        if not full:
            for item in self._items:
                self._limiter.hit(item, client)
            return None
        resets = [self._limiter.get_window_stats(item, client).reset_time for item in full]
        return max(1, math.ceil(max(resets) - self._clock()))

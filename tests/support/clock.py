"""A wall clock the test moves: queues, shipper and evaluation worker take it as `clock`."""

from __future__ import annotations

import time


class FakeClock:
    def __init__(self, now: float | None = None) -> None:
        # Real epoch seconds by default, so ages against records' real created_at make sense.
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

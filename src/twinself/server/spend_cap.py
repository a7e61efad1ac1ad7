"""The daily spend cap (TWINSELF_DAILY_SPEND_CAP_USD): once the last 24 hours of chat answers
cost that much, chat answers 503 until the window has room again.

The outbox is the record of what was spent, whichever process answered: it is summed now and
then (every `refresh_seconds`), and this process's own spend since is added in between.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from twinself.pipeline.records import RequestRecord
from twinself.pipeline.request_queue import RequestQueue
from twinself.pipeline.retention import DAY_SECONDS


class SpendCap:
    def __init__(
        self,
        cap_usd: float,
        requests: RequestQueue | None,
        clock: Callable[[], float] = time.time,
        refresh_seconds: float = 30.0,
    ) -> None:
        self.cap_usd = cap_usd
        self._requests = requests
        self._clock = clock
        self._refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._summed = 0.0  # the outbox's last 24 hours, as of _summed_at
        self._summed_at = float("-inf")
        self._since = 0.0  # this process's spend after _summed_at

    def observe(self, record: RequestRecord) -> None:
        """Every record the recorder builds (a callback, like the metrics)."""
        with self._lock:
            self._since += record.metrics.get("total_cost_usd", 0.0)

    def spent(self) -> float:
        """The last 24 hours' chat spend, at most `refresh_seconds` behind other processes."""
        now = self._clock()
        with self._lock:
            if self._requests is not None and now - self._summed_at >= self._refresh_seconds:
                self._summed = self._requests.spent_since(now - DAY_SECONDS)
                self._summed_at, self._since = now, 0.0
            return self._summed + self._since

    def exhausted(self) -> bool:
        return self.cap_usd > 0 and self.spent() >= self.cap_usd

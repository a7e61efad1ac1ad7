"""Retry provider calls that may succeed later: quota (429), server or network trouble, timeouts."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from twinself.backoff import backoff_delay
from twinself.errors import (
    ProviderError,
    ProviderQuotaExceeded,
    ProviderTimeout,
    ProviderUnavailable,
)

T = TypeVar("T")

RETRYABLE_ERRORS = (ProviderQuotaExceeded, ProviderUnavailable, ProviderTimeout)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter (`twinself.backoff`); a longer Retry-After from the
    provider wins over the backoff.

    Providers raise typed errors inside the callable; only the retryable ones are retried.
    """

    max_retries: int
    base_seconds: float
    max_seconds: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep)
    # Each timeout already cost a full timeout period, so it gets fewer second chances.
    max_timeout_retries: int = 1
    random_fraction: Callable[[], float] = field(default=random.random)

    def run(self, call: Callable[[], T]) -> T:
        attempt = 0
        timeouts = 0
        while True:
            attempt += 1
            try:
                return call()
            except RETRYABLE_ERRORS as error:
                if isinstance(error, ProviderTimeout):
                    timeouts += 1
                retries_done = attempt - 1
                if retries_done >= self.max_retries or timeouts > self.max_timeout_retries:
                    if retries_done == 0:
                        raise
                    raise _gave_up(error, attempt) from error
                delay = self.delay_before_retry(retries_done, _retry_after_of(error))
                logging.getLogger(__name__).warning(
                    "Attempt %d failed (%s); retrying in %.2fs", attempt, error, delay
                )
                self.sleep(delay)

    def delay_before_retry(self, retries_done: int, retry_after: float | None) -> float:
        return backoff_delay(
            retries_done + 1,
            self.base_seconds,
            self.max_seconds,
            self.random_fraction(),
            retry_after,
        )


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header, which is either a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def _retry_after_of(error: ProviderError) -> float | None:
    # Only quota errors carry it today; getattr keeps working if other errors gain it.
    value = getattr(error, "retry_after", None)
    return float(value) if isinstance(value, int | float) else None


def _gave_up(error: ProviderError, attempts: int) -> ProviderError:
    message = f"{error} (gave up after {attempts} attempts)"
    if isinstance(error, ProviderQuotaExceeded):
        return ProviderQuotaExceeded(message, error.retry_after)
    return type(error)(message)

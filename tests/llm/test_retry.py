from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from tests.fakes.recording_sleep import RecordingSleep
from twinself.errors import (
    ProviderAuthError,
    ProviderBadResponse,
    ProviderError,
    ProviderQuotaExceeded,
    ProviderRequestRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from twinself.llm.retry import RetryPolicy, parse_retry_after


def failing(errors: list[ProviderError], then: str = "ok") -> tuple[Callable[[], str], list[int]]:
    """A call that raises each error in turn, then returns `then`; also counts its calls."""
    calls = [0]

    def call() -> str:
        calls[0] += 1
        if errors:
            raise errors.pop(0)
        return then

    return call, calls


def policy(sleeps: RecordingSleep, **overrides: float) -> RetryPolicy:
    options = {"max_retries": 3, "base_seconds": 0.01, "max_seconds": 30.0} | overrides
    return RetryPolicy(
        max_retries=int(options["max_retries"]),
        base_seconds=options["base_seconds"],
        max_seconds=options["max_seconds"],
        sleep=sleeps,
        random_fraction=lambda: 0.5,
    )


def test_success_needs_no_sleep(sleeps: RecordingSleep) -> None:
    call, calls = failing([])
    assert policy(sleeps).run(call) == "ok"
    assert calls == [1]
    assert sleeps.delays == []


def test_backoff_doubles_with_jitter_and_is_capped(sleeps: RecordingSleep) -> None:
    call, _ = failing([ProviderUnavailable("503")] * 3)
    policy(sleeps, base_seconds=1.0, max_seconds=3.0).run(call)
    # base * 2**n (1, 2, then the cap of 3), three quarters of it at half a jitter.
    assert sleeps.delays == [0.75, 1.5, 2.25]


def test_retry_after_wins_over_backoff_and_is_capped(sleeps: RecordingSleep) -> None:
    call, _ = failing([ProviderQuotaExceeded("429", 4.0), ProviderQuotaExceeded("429", 99.0)])
    assert policy(sleeps, max_seconds=10.0).run(call) == "ok"
    assert sleeps.delays == [4.0, 10.0]


def test_gives_up_after_max_retries_with_the_same_error_type(sleeps: RecordingSleep) -> None:
    call, calls = failing([ProviderQuotaExceeded("quota", 2.0)] * 10)
    with pytest.raises(ProviderQuotaExceeded) as caught:
        policy(sleeps, max_retries=2).run(call)
    assert calls == [3]
    assert caught.value.retry_after == 2.0
    assert "gave up after 3 attempts" in str(caught.value)


@pytest.mark.parametrize(
    "error",
    [
        ProviderAuthError("401"),
        ProviderBadResponse("garbage"),
        ProviderRequestRejected("400"),
    ],
)
def test_failures_that_will_not_pass_are_not_retried(
    sleeps: RecordingSleep, error: ProviderError
) -> None:
    call, calls = failing([error])
    with pytest.raises(type(error)) as caught:
        policy(sleeps).run(call)
    assert caught.value is error
    assert calls == [1]
    assert sleeps.delays == []


def test_timeouts_get_fewer_retries(sleeps: RecordingSleep) -> None:
    call, calls = failing([ProviderTimeout("slow")] * 10)
    with pytest.raises(ProviderTimeout):
        RetryPolicy(max_retries=5, base_seconds=0.01, sleep=sleeps, max_timeout_retries=1).run(call)
    assert calls == [2]


def test_no_retries_raises_the_original_error(sleeps: RecordingSleep) -> None:
    error = ProviderUnavailable("down")
    call, calls = failing([error])
    with pytest.raises(ProviderUnavailable) as caught:
        policy(sleeps, max_retries=0).run(call)
    assert caught.value is error
    assert calls == [1]


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 1.5 ", 1.5),
        ("-3", 0.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after(header, now=now) == seconds

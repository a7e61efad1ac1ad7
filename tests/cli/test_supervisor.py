"""The restart backoff of supervised workers: it grows with crashes in a row, and a healthy
run starts it over."""

from __future__ import annotations

from tests.support.clock import FakeClock
from twinself.cli.supervisor import RestartBackoff


def crash_after(backoff: RestartBackoff, clock: FakeClock, ran_seconds: float) -> float:
    backoff.child_started()
    clock.advance(ran_seconds)
    delay = backoff.delay_after_exit()
    clock.advance(delay)  # the supervisor waits this long before the next start
    return delay


def test_quick_crashes_double_the_delay_up_to_the_cap() -> None:
    clock = FakeClock(1000.0)
    backoff = RestartBackoff(1.0, 30.0, healthy_after_seconds=60.0, clock=clock, jitter=lambda: 0.0)

    delays = [crash_after(backoff, clock, 2.0) for _ in range(7)]

    # jitter 0 waits half of each ceiling: 1, 2, 4, 8, 16, 30, 30.
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0]
    assert backoff.crashes_in_a_row == 7


def test_a_healthy_run_starts_the_backoff_over() -> None:
    clock = FakeClock(1000.0)
    backoff = RestartBackoff(1.0, 30.0, healthy_after_seconds=60.0, clock=clock, jitter=lambda: 0.0)
    for _ in range(8):
        crash_after(backoff, clock, 1.0)

    assert crash_after(backoff, clock, 59.0) == 15.0  # not healthy long enough: still capped
    assert crash_after(backoff, clock, 60.0) == 0.5  # ran a minute: a first crash again
    assert backoff.crashes_in_a_row == 1
    assert crash_after(backoff, clock, 1.0) == 1.0  # and it grows again from there


def test_time_spent_waiting_to_restart_is_not_a_healthy_run() -> None:
    clock = FakeClock(1000.0)
    backoff = RestartBackoff(
        1.0, 120.0, healthy_after_seconds=60.0, clock=clock, jitter=lambda: 0.99
    )
    delays = [crash_after(backoff, clock, 1.0) for _ in range(8)]

    assert delays[6] > 60.0  # the wait before the last start was longer than the healthy period
    assert backoff.crashes_in_a_row == 8 and delays[7] > delays[6]

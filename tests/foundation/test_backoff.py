from __future__ import annotations

import pytest

from twinself.backoff import backoff_delay


@pytest.mark.parametrize(
    ("attempt", "expected"), [(1, 0.75), (2, 1.5), (3, 3.0), (4, 4.5), (9, 4.5)]
)
def test_doubles_from_the_base_and_stops_at_the_cap(attempt: int, expected: float) -> None:
    # Half a jitter: three quarters of the ceiling (1, 2, 4, then the cap of 6).
    assert backoff_delay(attempt, 1.0, 6.0, jitter=0.5) == expected


def test_jitter_spreads_between_half_and_all_of_the_ceiling() -> None:
    assert backoff_delay(3, 1.0, 60.0, jitter=0.0) == 2.0
    assert backoff_delay(3, 1.0, 60.0, jitter=0.999) == pytest.approx(4.0, abs=0.01)


def test_a_longer_server_hint_wins_within_the_cap() -> None:
    assert backoff_delay(1, 1.0, 60.0, jitter=0.0, hint_seconds=27.0) == 27.0
    assert backoff_delay(1, 1.0, 60.0, jitter=0.0, hint_seconds=600.0) == 60.0
    assert backoff_delay(4, 1.0, 60.0, jitter=0.0, hint_seconds=0.2) == 4.0  # shorter: ignored

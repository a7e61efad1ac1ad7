"""The period a report covers, from --since or --from/--to, at a fixed now."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from twinself.reporting.period import InvalidPeriod, period_between, period_since

NOW = datetime(2026, 11, 30, 7, 30, tzinfo=UTC)


def test_since_counts_back_from_now() -> None:
    period = period_since("7d", NOW)
    assert (period.start, period.end) == (datetime(2026, 11, 23, 7, 30, tzinfo=UTC), NOW)
    assert period.days()[0] == date(2026, 11, 23) and period.days()[-1] == date(2026, 11, 30)
    assert len(period.days()) == 8  # a part of the first day and of today
    assert period_since("24h", NOW).start == datetime(2026, 11, 29, 7, 30, tzinfo=UTC)
    assert period_since("2w", NOW).label == "2026-11-16_2026-11-30"


def test_from_to_are_whole_utc_days_both_included() -> None:
    period = period_between("2026-11-23", "2026-11-29", NOW)
    assert period.start == datetime(2026, 11, 23, tzinfo=UTC)
    assert period.end == datetime(2026, 11, 30, tzinfo=UTC)  # excluded
    assert period.label == "2026-11-23_2026-11-29"
    assert len(period.days()) == 7
    assert period_between("2026-11-28", None, NOW).last_day == date(2026, 11, 30)


@pytest.mark.parametrize(
    ("since", "first", "last", "says"),
    [
        ("7 days", None, None, "--since '7 days' is not a duration"),
        ("0d", None, None, "is not a duration"),
        (None, "23/11/2026", None, "--from '23/11/2026' is not a date; use YYYY-MM-DD"),
        (None, "2026-11-29", "2026-11-23", "is before --from"),
    ],
)
def test_a_period_that_cannot_be_read_says_how_to_write_it(
    since: str | None, first: str | None, last: str | None, says: str
) -> None:
    with pytest.raises(InvalidPeriod, match=says):
        if since is not None:
            period_since(since, NOW)
        else:
            assert first is not None
            period_between(first, last, NOW)

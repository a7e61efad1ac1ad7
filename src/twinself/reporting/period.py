"""The period a report covers: `--since 7d` back from now, or whole UTC days `--from`..`--to`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from twinself.errors import TwinselfError

_SINCE = re.compile(r"^\s*(\d+)\s*([hdw])\s*$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


class InvalidPeriod(TwinselfError):
    """--since, --from or --to cannot be read, or the period is empty or reversed."""


@dataclass(frozen=True)
class ReportPeriod:
    """[start, end) in UTC."""

    start: datetime
    end: datetime

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        return int(self.end.timestamp() * 1000)

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        """The day of the period's last moment (the end itself is excluded)."""
        return (self.end - timedelta(microseconds=1)).date()

    def days(self) -> list[date]:
        first, last = self.first_day, self.last_day
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    @property
    def label(self) -> str:
        return f"{self.first_day.isoformat()}_{self.last_day.isoformat()}"


def period_since(since: str, now: datetime) -> ReportPeriod:
    """`7d`, `24h`, `2w`: that long up to `now`."""
    match = _SINCE.match(since)
    if match is None or int(match.group(1)) == 0:
        raise InvalidPeriod(
            f"--since {since!r} is not a duration; use a number and h, d or w, e.g. --since 7d."
        )
    return ReportPeriod(now - int(match.group(1)) * _UNITS[match.group(2)], now)


def period_between(first: str, last: str | None, now: datetime) -> ReportPeriod:
    """Whole UTC days from `first` to `last` (both included); `last` defaults to today."""
    start = _day(first, "--from")
    last_day = _day(last, "--to") if last else now.astimezone(UTC).date()
    if last_day < start:
        raise InvalidPeriod(f"--to {last_day} is before --from {start}; swap them.")
    return ReportPeriod(_midnight(start), _midnight(last_day + timedelta(days=1)))


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidPeriod(
            f"{option} {text!r} is not a date; use YYYY-MM-DD, e.g. {option} 2026-11-23."
        ) from None


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)

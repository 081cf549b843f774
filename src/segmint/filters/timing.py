"""Dates and times in filters: ISO values, day ranges and calendar periods in a project's zone.

Pure functions of an explicit `now`, so SQL and Python evaluation see the same instants.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from segmint.clock import as_utc

PERIODS: Final = (
    "today",
    "yesterday",
    "this_week",
    "last_week",
    "this_month",
    "last_month",
    "this_year",
)
MICROSECOND: Final = timedelta(microseconds=1)


@dataclass(frozen=True)
class TimeContext:
    """The moment a filter is evaluated at and the zone its calendar periods use."""

    now: datetime
    zone: ZoneInfo

    @classmethod
    def of(cls, now: datetime, zone: ZoneInfo | str = "UTC") -> TimeContext:
        return cls(as_utc(now), zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone))


def parse_when(text: str) -> date | datetime:
    """An ISO date (`2024-01-31`) or datetime; raises ValueError otherwise."""
    if len(text) <= 10:
        return date.fromisoformat(text)
    return datetime.fromisoformat(text)


def date_key(text: str) -> str:
    """The `YYYY-MM-DD` a date-typed value is compared as."""
    when = parse_when(text)
    return (when.date() if isinstance(when, datetime) else when).isoformat()


def day_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def instant_range(text: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) an ISO value denotes: a whole local day for a date, one instant otherwise."""
    when = parse_when(text)
    if not isinstance(when, datetime):
        return day_start(when, zone), day_start(when + timedelta(days=1), zone)
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    start = when.astimezone(UTC)
    return start, start + MICROSECOND


def local_date(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def _month_start(day: date, months_back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


def period_dates(name: str, tc: TimeContext) -> tuple[date, date]:
    """[first day, day after the last) of a calendar period; weeks start on Monday."""
    today = local_date(tc.now, tc.zone)
    monday = today - timedelta(days=today.weekday())
    ranges = {
        "today": (today, today + timedelta(days=1)),
        "yesterday": (today - timedelta(days=1), today),
        "this_week": (monday, monday + timedelta(days=7)),
        "last_week": (monday - timedelta(days=7), monday),
        "this_month": (_month_start(today), _month_start(today, -1)),
        "last_month": (_month_start(today, 1), _month_start(today)),
        "this_year": (date(today.year, 1, 1), date(today.year + 1, 1, 1)),
    }
    if name not in ranges:
        raise ValueError(f"unknown period {name!r}")
    return ranges[name]

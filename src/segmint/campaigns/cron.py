"""Cron expressions (`minute hour day-of-month month day-of-week`) and their next moment in a
time zone.

Five fields, each `*`, a number, a range `a-b`, a step `*/n` or `a-b/n`, or a comma list of
those; months and weekdays may be named (`jan`, `mon`); weekday 0 and 7 are Sunday. As in
Vixie cron, when both day fields are restricted a day matching either runs. Times are wall-clock
times in the campaign's zone: a time skipped by a daylight-saving jump does not run that day,
and a repeated one runs once (its first occurrence).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from segmint.errors import InvalidInput

MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
SEARCH_DAYS = 366 * 5  # "0 0 29 2 1" (Feb 29th, or Mondays) still answers within this


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0


FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, tuple(MONTHS), 1),
    _Field("day of week", 0, 7, tuple(WEEKDAYS), 0),
)


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day of month is `*`
    any_weekday: bool  # day of week is `*`

    def runs_on(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        in_month = day.day in self.days
        in_week = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return in_month and in_week
        return in_month or in_week

    def next_after(self, moment: datetime, zone: ZoneInfo) -> datetime | None:
        """The first run strictly after `moment`, in UTC (None if there is none in 5 years)."""
        local = moment.astimezone(zone)
        day = local.date()
        for _ in range(SEARCH_DAYS):
            if self.runs_on(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        wall = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
                        at = wall.astimezone(UTC)
                        if at.astimezone(zone).replace(tzinfo=None) != wall.replace(tzinfo=None):
                            continue  # skipped by a daylight-saving jump
                        if at > moment:
                            return at
            day += timedelta(days=1)
        return None


def parse_cron(text: str, path: str = "cron") -> Cron:
    """A cron expression, or InvalidInput naming the field that is wrong."""
    parts = (text or "").split()
    if len(parts) != 5:
        raise InvalidInput(
            "expected five fields: minute hour day-of-month month day-of-week, e.g. '0 10 * * 1-5'",
            path,
        )
    values = [_parse_field(part, spec, path) for part, spec in zip(parts, FIELDS, strict=True)]
    weekdays = frozenset(0 if day == 7 else day for day in values[4])
    cron = Cron(
        minutes=values[0],
        hours=values[1],
        days=values[2],
        months=values[3],
        weekdays=weekdays,
        any_day=parts[2] == "*",
        any_weekday=parts[4] == "*",
    )
    if cron.next_after(datetime(2000, 1, 1, tzinfo=UTC), ZoneInfo("UTC")) is None:
        raise InvalidInput("this expression never runs", path)
    return cron


def _parse_field(text: str, spec: _Field, path: str) -> frozenset[int]:
    found: set[int] = set()
    for item in text.lower().split(","):
        span, _, step_text = item.partition("/")
        step = _number(step_text, spec, path) if step_text else 1
        if step < 1:
            raise InvalidInput(f"{spec.name}: a step must be at least 1", path)
        if span == "*":
            low, high = spec.low, spec.high
        elif "-" in span:
            first, _, last = span.partition("-")
            low, high = _value(first, spec, path), _value(last, spec, path)
            if low > high:
                raise InvalidInput(f"{spec.name}: range {span!r} runs backwards", path)
        else:
            low = _value(span, spec, path)
            high = spec.high if step_text else low
        found.update(range(low, high + 1, step))
    return frozenset(found)


def _value(text: str, spec: _Field, path: str) -> int:
    if text in spec.names:
        return spec.names.index(text) + spec.name_base
    value = _number(text, spec, path)
    if not spec.low <= value <= spec.high:
        raise InvalidInput(f"{spec.name}: {value} is out of range {spec.low}-{spec.high}", path)
    return value


def _number(text: str, spec: _Field, path: str) -> int:
    if not text.isdigit():
        raise InvalidInput(f"{spec.name}: {text!r} is not a number", path)
    return int(text)

"""Cron expressions (`minute hour day-of-month month day-of-week`) and their next moment in a
time zone.

cronsim parses the expression and finds the wall-clock times that match it; this module keeps
what is Segmint's own: five fields only (no seconds field, no `L`, `W` or `#`), errors that
name the field and the JSON path, and how wall-clock times become moments in the campaign's
zone. Fields are `*`, a number, a range `a-b`, a step `*/n` or `a-b/n`, or a comma list of
those; months and weekdays may be named (`jan`, `mon`); weekday 0 and 7 are Sunday. As in Vixie
cron, when both day fields are restricted a day matching either runs (a day field is
unrestricted only when it is exactly `*`). A time skipped by a daylight-saving jump does not
run that day, and a repeated one runs once (its first occurrence). cronsim is handed naive
wall-clock times and this module applies the zone: given the zone itself, cronsim runs a skipped
time at the end of the jump (`30 2 * * *` at 03:00) and, when the minute or hour field starts
with `*`, a repeated time twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

from segmint.errors import InvalidInput

# Each field: its name in errors, what it accepts, and its full range (for `*` in a day field).
FIELDS = (
    ("minute", "0-59", "0-59"),
    ("hour", "0-23", "0-23"),
    ("day of month", "1-31", "1-31"),
    ("month", "1-12 or jan-dec", "1-12"),
    ("day of week", "0-7 or sun-sat (0 and 7 are Sunday)", "0-7"),
)
DAY_FIELDS = (2, 4)
EXTENSIONS = "L#"  # cronsim's last-day and nth-weekday marks (no weekday name has either)
NAMES = {
    3: ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    4: ("sun", "mon", "tue", "wed", "thu", "fri", "sat"),
}
START = datetime(2000, 1, 1)
MAX_SKIPPED = 24 * 60  # wall-clock times passed over in one search (a DST hour is at most 60)


@dataclass(frozen=True)
class Cron:
    expression: str  # five fields, single-spaced, as cronsim reads them

    def next_after(self, moment: datetime, zone: ZoneInfo) -> datetime | None:
        """The first run strictly after `moment`, in UTC (None if cronsim finds none)."""
        local = moment.astimezone(zone).replace(tzinfo=None)
        times = CronSim(self.expression, local)  # naive: wall-clock times, no DST rule of its own
        for _ in range(MAX_SKIPPED):
            try:
                wall = next(times)
            except StopIteration:  # cronsim gives up after 50 years without a match
                return None
            at = wall.replace(tzinfo=zone).astimezone(UTC)  # fold 0: a repeated time's first
            if at.astimezone(zone).replace(tzinfo=None) != wall:
                continue  # skipped by a daylight-saving jump
            if at > moment:  # a repeated hour's first pass may lie before `moment`
                return at
        return None


def parse_cron(text: str, path: str = "cron") -> Cron:
    """A cron expression, or InvalidInput naming the field that is wrong."""
    parts = (text or "").split()
    if len(parts) != 5:
        raise InvalidInput(
            "expected five fields: minute hour day-of-month month day-of-week, e.g. '0 10 * * 1-5'",
            path,
        )
    for index, part in enumerate(parts):
        _check_field(index, part, path)
        parts[index] = ",".join(_one_value_range(index, item) for item in part.split(","))
    # cronsim, like Vixie cron, takes a day field starting with `*` (`*/2`) as unrestricted;
    # Segmint takes only `*` itself as unrestricted, so `*/2` is written as the range `1-31/2`.
    for index in DAY_FIELDS:
        if parts[index].startswith("*") and parts[index] != "*":
            parts[index] = FIELDS[index][2] + parts[index][1:]
    expression = " ".join(parts)
    try:
        CronSim(expression, START)
    except CronSimError:  # every field is fine alone: the days asked for are never in the months
        raise InvalidInput("this expression never runs", path) from None
    return Cron(expression)


def _check_field(index: int, part: str, path: str) -> None:
    """One field, checked by cronsim alone (the others `*`) so the error can name it."""
    name, accepted, _ = FIELDS[index]
    fields = ["*"] * 5
    fields[index] = part
    try:
        if index in DAY_FIELDS and any(mark in part.upper() for mark in EXTENSIONS):
            raise CronSimError(name)
        CronSim(" ".join(fields), START)
    except CronSimError:
        raise InvalidInput(
            f"{name}: {part!r} is not valid; expected {accepted}, a range a-b, a step */n "
            "or a comma list of those",
            path,
        ) from None


def _one_value_range(index: int, item: str) -> str:
    """`a-a/n` is the one value `a`. cronsim 2.8 reads a range of one value with a step as
    `a/n` (every n-th from `a` to the field's end: `1-1/4` as 1 and 5), so the step goes."""
    span, slash, _ = item.partition("/")
    first, dash, last = span.partition("-")
    if slash and dash and _number(index, first) == _number(index, last) is not None:
        return first
    return item


def _number(index: int, text: str) -> int | None:
    """A field value's number (month names count from 1, weekday names from 0)."""
    if text.isascii() and text.isdigit():
        return int(text)
    names = NAMES.get(index, ())
    if text.lower() in names:
        return names.index(text.lower()) + (1 if index == 3 else 0)
    return None

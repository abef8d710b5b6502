"""A small cron evaluator for CronJob schedules (5 fields, names, ranges, steps,
macros, ``@every``, ``CRON_TZ=``/``spec.timeZone``), used to tell when runs are missed.

Kept separate from the analyzers: it is pure date arithmetic with its own tests.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {m: i for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), 1)}
_WEEKDAYS = {d: i for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split())}
_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
# Never search further than this for the next run (an impossible date like Feb 30).
_HORIZON_YEARS = 5


@dataclass(frozen=True)
class _Field:
    values: frozenset[int]
    star: bool  # "*" or "?": matters for the day-of-month / day-of-week OR rule


def _parse_field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> _Field:
    values: set[int] = set()
    for part in text.split(","):
        values |= _parse_range(part, low, high, names)
    return _Field(frozenset(values), text in ("*", "?"))


def _parse_range(part: str, low: int, high: int, names: dict[str, int] | None) -> set[int]:
    body, _, step_text = part.partition("/")
    step = int(step_text) if step_text.isdigit() else (1 if not step_text else 0)
    if step <= 0:
        raise ValueError(f"bad step in {part!r}")
    if body in ("*", "?"):
        start, end = low, high
    else:
        first, dash, last = body.partition("-")
        start = _value(first, names)
        # "5/15" means "from 5 to the end, every 15" (as in robfig/cron, which Kubernetes uses).
        end = _value(last, names) if dash else (high if step_text else start)
    if start < low or end > high or start > end:
        raise ValueError(f"{part!r} is outside {low}-{high}")
    values = set(range(start, end + 1, step))
    return {v % 7 for v in values} if names is _WEEKDAYS else values  # day-of-week 7 is Sunday too


def _value(text: str, names: dict[str, int] | None) -> int:
    if text.isdigit():
        return int(text)
    if names is not None and text.upper() in names:
        return names[text.upper()]
    raise ValueError(f"{text!r} is not a number")


def _go_duration(text: str) -> dt.timedelta:
    pos, seconds = 0, 0.0
    for match in _GO_DURATION.finditer(text):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _GO_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or seconds <= 0:
        raise ValueError(f"bad @every duration {text!r}")
    return dt.timedelta(seconds=seconds)


@dataclass(frozen=True)
class CronSchedule:
    """A parsed CronJob schedule that can list its next run times."""

    minutes: _Field
    hours: _Field
    days: _Field
    months: _Field
    weekdays: _Field
    zone: dt.tzinfo
    every: dt.timedelta | None = None

    @classmethod
    def parse(cls, text: str, time_zone: str | None = None) -> CronSchedule:
        """Standard 5 fields, macros, ``@every <go duration>``, optional ``CRON_TZ=``/``TZ=`` prefix."""
        spec = text.strip()
        if spec.startswith(("CRON_TZ=", "TZ=")):
            prefix, _, spec = spec.partition(" ")
            time_zone = prefix.split("=", 1)[1]
            spec = spec.strip()
        zone = _zone(time_zone)
        if spec.startswith("@every "):
            full = _Field(frozenset(), True)
            return cls(full, full, full, full, full, zone, _go_duration(spec[len("@every "):].strip()))
        fields = _MACROS.get(spec.lower(), spec).split()
        if len(fields) != 5:
            raise ValueError(f"expected 5 fields, got {len(fields)}")
        return cls(
            _parse_field(fields[0], 0, 59),
            _parse_field(fields[1], 0, 23),
            _parse_field(fields[2], 1, 31),
            _parse_field(fields[3], 1, 12, _MONTHS),
            _parse_field(fields[4], 0, 7, _WEEKDAYS),
            zone,
        )

    def _day_matches(self, day: dt.datetime) -> bool:
        in_month = day.day in self.days.values
        in_week = (day.isoweekday() % 7) in self.weekdays.values
        # Cron's rule: if both fields are restricted, either may match.
        if self.days.star or self.weekdays.star:
            return in_month and in_week
        return in_month or in_week

    def next_after(self, when: dt.datetime) -> dt.datetime | None:
        """The first run strictly after ``when`` (aware, UTC); None if there is none within years."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        if self.every is not None:
            return when + self.every
        local = when.astimezone(self.zone).replace(tzinfo=None, second=0, microsecond=0) + dt.timedelta(minutes=1)
        horizon = local.year + _HORIZON_YEARS
        while local.year <= horizon:
            if local.month not in self.months.values:
                local = (local.replace(day=1, hour=0, minute=0) + dt.timedelta(days=32)).replace(day=1)
            elif not self._day_matches(local):
                local = local.replace(hour=0, minute=0) + dt.timedelta(days=1)
            elif local.hour not in self.hours.values:
                local = local.replace(minute=0) + dt.timedelta(hours=1)
            elif local.minute not in self.minutes.values:
                local += dt.timedelta(minutes=1)
            else:
                return local.replace(tzinfo=self.zone).astimezone(dt.UTC)
        return None

    def fire_times(self, after: dt.datetime, *, limit: int, until: dt.datetime | None = None) -> list[dt.datetime]:
        """Up to ``limit`` run times after ``after`` (and not after ``until``)."""
        out: list[dt.datetime] = []
        current: dt.datetime | None = after
        while len(out) < limit:
            current = self.next_after(current) if current is not None else None
            if current is None or (until is not None and current > until):
                break
            out.append(current)
        return out


def _zone(name: str | None) -> dt.tzinfo:
    if not name:
        return dt.UTC  # kube-controller-manager's zone; UTC on every managed control plane
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # The API server validated the name; only our tz database lacks it. UTC is off by
        # hours at most, which cannot turn "on time" into "3 runs missed" for any schedule.
        return dt.UTC

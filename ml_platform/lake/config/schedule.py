"""Glue schedules: the six-field cron syntax, and the shortest gap between two runs of a schedule.

Glue schedules are ``cron(minutes hours day-of-month month day-of-week year)`` in UTC, exactly one of the two day
fields is ``?``, and "the minimum precision for a schedule is 5 minutes" ("Time-based schedules for jobs and
crawlers", AWS Glue Developer Guide, https://docs.aws.amazon.com/glue/latest/dg/monitor-data-warehouse-schedule.html).
"""

from __future__ import annotations

import itertools
import re

_GLUE_CRON = re.compile(r"^cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)$")
_MINUTES_PER_DAY = 24 * 60


def check_glue_cron(value: str) -> str:
    """``value`` if it is a six-field Glue cron expression with exactly one ``?`` day field."""
    match = _GLUE_CRON.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a Glue schedule like 'cron(0 3 * * ? *)' (six fields)")
    day_of_month, day_of_week = match.group(3), match.group(5)
    if (day_of_month == "?") == (day_of_week == "?"):
        raise ValueError(f"{value!r}: exactly one of day-of-month and day-of-week must be '?'")
    return value


def _values(field: str, name: str, upper: int) -> set[int]:
    """The values ``0..upper`` a cron minutes or hours field selects (``*``, ``n``, ``a-b``, ``*/n``, ``a/n``,
    ``a-b/n`` and comma lists of them)."""
    result: set[int] = set()
    for part in field.split(","):
        match = re.fullmatch(r"(\*|\d+)(?:-(\d+))?(?:/(\d+))?", part)
        if not match:
            raise ValueError(f"{name} field {field!r} is not supported (use *, n, a-b, */n, a/n or a-b/n, or a list)")
        start_text, end_text, step_text = match.groups()
        start = 0 if start_text == "*" else int(start_text)
        end = upper if start_text == "*" else int(end_text) if end_text else (upper if step_text else start)
        step = int(step_text) if step_text else 1
        if not 0 <= start <= end <= upper or step < 1:
            raise ValueError(f"{name} field {field!r} is outside 0-{upper}")
        result.update(range(start, end + 1, step))
    return result


def _times_of_day(value: str) -> list[int]:
    match = _GLUE_CRON.match(check_glue_cron(value))
    assert match is not None
    minutes = _values(match.group(1), "minutes", 59)
    hours = _values(match.group(2), "hours", 23)
    return sorted(hour * 60 + minute for hour in hours for minute in minutes)


def runs_per_day(value: str) -> int:
    """How often the Glue cron ``value`` runs on a day it runs (the day fields are not read: an upper bound)."""
    return len(_times_of_day(value))


def minimum_interval_minutes(value: str) -> int:
    """The shortest time between two runs of the Glue cron ``value``, in minutes.

    Computed over one day from the minutes and hours fields, with the gap from the day's last run to the next day's
    first: the day fields can only leave days out, which makes gaps longer, never shorter.
    """
    times = _times_of_day(value)
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    gaps.append(times[0] + _MINUTES_PER_DAY - times[-1])
    return min(gaps)

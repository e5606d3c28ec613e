"""Cron arithmetic for quality schedules: how close together a cron expression fires, and when a schedule
may next run without coming sooner than the minimum interval."""

from datetime import UTC, datetime, timedelta

from croniter import croniter

from quality.limits import min_schedule_minutes

__all__ = ["cron_shortest_gap_minutes", "schedule_next_run"]

# A cron expression repeats at the latest every week (minute, hour and weekday fields) or month; eight days
# of firings show its shortest gap except for day-of-month patterns, which fire at most daily anyway.
_WINDOW = timedelta(days=8)
_START = datetime(2025, 1, 1, tzinfo=UTC)


def cron_shortest_gap_minutes(cron: str) -> float | None:
    """The shortest time between two consecutive firings of `cron`, in minutes (None: fires at most once).

    Stops as soon as a gap below the minimum interval is found, so `* * * * *` costs two steps."""
    least = min_schedule_minutes()
    times = croniter(cron, _START)
    previous = times.get_next(datetime)
    shortest = None
    while previous < _START + _WINDOW:
        following = times.get_next(datetime)
        gap = (following - previous).total_seconds() / 60
        shortest = gap if shortest is None else min(shortest, gap)
        if shortest < least:
            break
        previous = following
    return shortest


def schedule_next_run(cron: str, now: datetime, *, fired_at: datetime | None = None) -> datetime:
    """The next firing of `cron` after `now`, but never sooner than the minimum interval after the firing
    that is being run (`fired_at`, the time it was due; default `now`).

    A schedule saved before the minimum existed (or written straight to the database) still runs at most
    that often."""
    earliest = (fired_at or now) + timedelta(minutes=min_schedule_minutes())
    following = croniter(cron, now).get_next(type(now))
    if following >= earliest:
        return following
    return croniter(cron, earliest - timedelta(seconds=1)).get_next(type(now))

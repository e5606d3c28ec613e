"""Ranges of whole days, as the pages that filter by date mean them: from the first day's midnight to the
midnight after the last day, in the current time zone."""

from datetime import date, datetime, time, timedelta

from django.db.models import QuerySet
from django.utils import timezone

__all__ = ["day_start", "days_in"]


def day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def days_in(rows: QuerySet, field: str, first: date | None, last: date | None) -> QuerySet:
    """Rows whose `field` falls on a day from `first` to `last` (either may be open)."""
    if first:
        rows = rows.filter(**{f"{field}__gte": day_start(first)})
    if last:
        rows = rows.filter(**{f"{field}__lt": day_start(last + timedelta(days=1))})
    return rows

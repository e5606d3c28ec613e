"""The date field every date-range filter uses (audit trail, compliance report).

A range ends at the start of the day after its last date and is made time-zone aware, so a date must
leave room for both: 9999-12-31 has no next day and used to end in an OverflowError (HTTP 500).
"""

from datetime import date

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

__all__ = ["RangeDateField", "EARLIEST_DATE", "LATEST_DATE"]

EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(9998, 12, 31)


class RangeDateField(forms.DateField):
    """A date between 1900-01-01 and 9998-12-31, with the bounds on the browser's date picker too."""

    def __init__(self, **kwargs):
        bounds = {"type": "date", "min": EARLIEST_DATE.isoformat(), "max": LATEST_DATE.isoformat()}
        kwargs.setdefault("widget", forms.DateInput(attrs=bounds))
        message = f"Enter a date between {EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}."
        kwargs.setdefault(
            "validators",
            [
                MinValueValidator(EARLIEST_DATE, message=message),
                MaxValueValidator(LATEST_DATE, message=message),
            ],
        )
        super().__init__(**kwargs)

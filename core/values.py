"""Database values as JSON can hold them, for records that keep rows (samples, reports, findings)."""

import base64
from datetime import date, datetime, time
from decimal import Decimal
from uuid import UUID

__all__ = ["json_safe"]


def json_safe(value):
    """A database value as JSON can hold it: numbers, text, ISO dates; binary as base64."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (Decimal, UUID)):
        return str(value)
    if isinstance(value, (bytes, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, (list, dict)):
        return value
    return str(value)

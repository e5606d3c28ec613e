"""Rows read from a data store, made fit to show or store: JSON-safe and, unless the reader may see
personal data, with every PII column masked (the column's strategy, else redacted)."""

import base64
from datetime import date, datetime, time
from decimal import Decimal
from uuid import UUID

from catalog.models import Column
from core.masking import column_masking, mask_value

__all__ = ["json_safe", "rows_as_dicts", "pii_strategies"]


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


def pii_strategies(columns: list[Column]) -> dict[str, str]:
    """Column name → how its values are masked for readers without catalog.view_pii."""
    strategies = {}
    for column in columns:
        if column.is_pii:
            strategy = column_masking(column)
            strategies[column.name] = strategy if strategy != "none" else "redact"
    return strategies


def rows_as_dicts(names: list[str], rows: list[tuple], columns: list[Column], *, masked: bool) -> list[dict]:
    """Rows as {column: value}, JSON-safe, with personal data masked when `masked`."""
    strategies = pii_strategies(columns) if masked else {}
    result = []
    for row in rows:
        record = {}
        for name, value in zip(names, row, strict=True):
            if name in strategies:
                value = mask_value(value, strategies[name])
            record[name] = json_safe(value)
        result.append(record)
    return result

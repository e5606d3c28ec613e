"""Rows read from a data store, made fit to show or store: JSON-safe and, unless the reader may see
personal data, with every PII column masked (the column's strategy, else redacted)."""

from catalog.models import Column
from core.masking import column_masking, mask_value
from core.values import json_safe

__all__ = ["rows_as_dicts", "pii_strategies"]


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

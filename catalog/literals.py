"""Literal values written by stewards (defaults, check bounds, allowed values), parsed per catalog type."""

import datetime
import decimal
import json
import uuid

from catalog.choices import TYPE_FAMILIES, DataType

__all__ = ["ALLOWED_DEFAULT_FUNCTIONS", "parse_literal", "is_orderable", "is_string_type"]

# Functions a column default may call, by the type families they suit.
ALLOWED_DEFAULT_FUNCTIONS = {
    "now()": {"timestamp", "date"},
    "current_timestamp": {"timestamp", "date"},
    "localtimestamp": {"timestamp"},
    "current_date": {"date", "timestamp"},
    "current_time": {"time"},
    "gen_random_uuid()": {"uuid"},
}

_ORDERABLE_FAMILIES = {"integer", "numeric", "float", "date", "time", "timestamp"}


def is_orderable(data_type: str) -> bool:
    """Whether min/max checks make sense for the type."""
    return TYPE_FAMILIES[DataType(data_type)] in _ORDERABLE_FAMILIES


def is_string_type(data_type: str) -> bool:
    return TYPE_FAMILIES[DataType(data_type)] == "string"


def parse_literal(data_type: str, text: str):
    """The Python value of `text` as a literal of `data_type`; ValueError with a reason if it is not one."""
    family = TYPE_FAMILIES[DataType(data_type)]
    text = text.strip() if family != "string" else text
    try:
        return _PARSERS[family](text)
    except (ValueError, decimal.InvalidOperation, json.JSONDecodeError) as exc:
        raise ValueError(f"'{text}' is not a valid {DataType(data_type).label} value") from exc


def _parse_integer(text: str) -> int:
    return int(text)


def _parse_numeric(text: str) -> decimal.Decimal:
    value = decimal.Decimal(text)
    if not value.is_finite():
        raise ValueError(text)
    return value


def _parse_boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered in {"true", "t", "1", "yes"}:
        return True
    if lowered in {"false", "f", "0", "no"}:
        return False
    raise ValueError(text)


def _parse_binary(text: str) -> bytes:
    if not text.startswith("\\x"):
        raise ValueError(text)
    return bytes.fromhex(text[2:])


_PARSERS = {
    "uuid": uuid.UUID,
    "string": str,
    "integer": _parse_integer,
    "numeric": _parse_numeric,
    "float": float,
    "boolean": _parse_boolean,
    "date": datetime.date.fromisoformat,
    "time": datetime.time.fromisoformat,
    "timestamp": datetime.datetime.fromisoformat,
    "json": json.loads,
    "binary": _parse_binary,
}

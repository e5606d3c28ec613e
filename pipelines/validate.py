"""Validation of transformed rows against the catalog, as Polars expressions over a whole batch.

For every target column: the value converted to the column's type (or why it could not be), nullability,
length, min/max, pattern, allowed values; and keys unique within the batch. Each rule is one vectorized
expression; a row fails when any column has a reason, and the reasons are kept per column.
"""

import json
from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from catalog.models import Column
from pipelines.transforms import Check, boolean_parse

__all__ = ["ColumnSpec", "column_spec", "value_convert", "column_checks", "POLARS_TYPES", "python_value"]

INTEGER_RANGES = {
    "smallint": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}
TIMESTAMP_FORMATS = [
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d",
]
ZONED_FORMATS = [
    "%Y-%m-%d %H:%M:%S%.f%:z",
    "%Y-%m-%dT%H:%M:%S%.f%:z",
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M:%S%.fZ",
    "%Y-%m-%d %H:%M:%S%.f%#z",
]
TIME_FORMATS = ["%H:%M:%S%.f", "%H:%M"]
UUID_PATTERN = r"^\{?[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\}?$"
POLARS_TYPES = {
    "smallint": pl.Int16,
    "integer": pl.Int32,
    "bigint": pl.Int64,
    "real": pl.Float64,
    "double": pl.Float64,
    "numeric": pl.Float64,
    "boolean": pl.Boolean,
    "date": pl.Date,
    "time": pl.Time,
    "timestamp": pl.Datetime("us"),
    "timestamptz": pl.Datetime("us", "UTC"),
}


@dataclass(frozen=True)
class ColumnSpec:
    """What validation needs to know of a target column (read once per run from the catalog)."""

    name: str
    data_type: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    nullable: bool = True
    is_key: bool = False
    min_value: str = ""
    max_value: str = ""
    min_length: int | None = None
    pattern: str = ""
    allowed_values: tuple = ()


def column_spec(column: Column) -> ColumnSpec:
    return ColumnSpec(
        name=column.name,
        data_type=column.data_type,
        length=column.length,
        precision=column.precision,
        scale=column.scale,
        nullable=column.nullable and not column.primary_key_position,
        min_value=column.min_value or "",
        max_value=column.max_value or "",
        min_length=column.min_length,
        pattern=column.pattern or "",
        allowed_values=tuple(str(v) for v in (column.allowed_values or [])),
    )


def _first_parse(text: pl.Expr, parsers: list, dtype) -> pl.Expr:
    """Each value read by the first parser that can; later parsers see only what earlier ones could not read.

    pl.coalesce over one parse per format runs every format over every row (11 for timestamptz), although
    nearly all rows match the first: parsing only the leftovers costs about one parse.
    """

    def parse(series: pl.Series) -> pl.Series:
        frame = series.to_frame("custodian_text")
        result = frame.select(parsers[0](pl.col("custodian_text"))).to_series()
        for parser in parsers[1:]:
            left = (result.is_null() & series.is_not_null()).arg_true()
            if not left.len():
                break
            result = result.scatter(left, frame[left].select(parser(pl.col("custodian_text"))).to_series())
        return result.rename(series.name)

    return text.map_batches(parse, return_dtype=dtype, is_elementwise=True)


def _coalesce_parse(text: pl.Expr, formats: list[str], parse, dtype) -> pl.Expr:
    return _first_parse(text, [lambda t, fmt=fmt: parse(t, fmt) for fmt in formats], dtype)


def value_convert(expr: pl.Expr, spec: ColumnSpec, source_is_text: bool = True) -> pl.Expr:
    """The value as the column's type (NULL where it cannot be converted)."""
    kind = spec.data_type
    text = expr.cast(pl.String).str.strip_chars()
    if kind in INTEGER_RANGES:
        low, high = INTEGER_RANGES[kind]
        if source_is_text:
            value = text.cast(pl.Int64, strict=False)
        else:  # a parsed number: whole numbers only, never truncated
            number = expr.cast(pl.Float64, strict=False)
            value = (
                pl.when(number == number.floor()).then(number.cast(pl.Int64, strict=False)).otherwise(None)
            )
        return pl.when(value.is_between(low, high)).then(value).otherwise(None)
    if kind in ("real", "double", "numeric"):
        return text.cast(pl.Float64, strict=False) if source_is_text else expr.cast(pl.Float64, strict=False)
    if kind == "boolean":
        return boolean_parse(expr) if source_is_text else expr.cast(pl.Boolean, strict=False)
    if kind == "date":
        return (
            text.str.to_date("%Y-%m-%d", strict=False) if source_is_text else expr.cast(pl.Date, strict=False)
        )
    if kind == "time":
        if not source_is_text:
            return expr.cast(pl.Time, strict=False)
        return _coalesce_parse(text, TIME_FORMATS, lambda t, f: t.str.to_time(f, strict=False), pl.Time)
    if kind == "timestamp":
        if not source_is_text:
            return expr.cast(pl.Datetime("us"), strict=False)
        return _coalesce_parse(
            text,
            TIMESTAMP_FORMATS,
            lambda t, f: t.str.to_datetime(f, strict=False, time_unit="us"),
            pl.Datetime("us"),
        )
    if kind == "timestamptz":
        if not source_is_text:
            return expr.cast(pl.Datetime("us", "UTC"), strict=False)
        zoned = [
            lambda t, f=f: t.str.to_datetime(f, strict=False, time_unit="us", time_zone="UTC")
            for f in ZONED_FORMATS
        ]
        naive = [
            lambda t, f=f: t.str.to_datetime(f, strict=False, time_unit="us").dt.replace_time_zone("UTC")
            for f in TIMESTAMP_FORMATS
        ]
        return _first_parse(text, zoned + naive, pl.Datetime("us", "UTC"))
    if kind == "uuid":
        return pl.when(text.str.contains(UUID_PATTERN)).then(text).otherwise(None)
    if kind in ("json", "jsonb"):
        return text.map_batches(_json_valid, return_dtype=pl.String)
    if kind == "bytea":
        return pl.when(text.str.contains(r"^\\x([0-9a-fA-F]{2})*$")).then(text).otherwise(None)
    return expr.cast(pl.String)


def _json_valid(series: pl.Series) -> pl.Series:
    def valid(value):
        if value is None:
            return None
        try:
            json.loads(value)
        except ValueError:
            return None
        return value

    return pl.Series(series.name, [valid(v) for v in series.to_list()], dtype=pl.String)


TYPE_WORDS = {
    "smallint": "a smallint (−32768 to 32767)",
    "integer": "an integer (32-bit)",
    "bigint": "a bigint",
    "real": "a number",
    "double": "a number",
    "numeric": "a number",
    "boolean": "a boolean (true/false)",
    "date": "a date (YYYY-MM-DD)",
    "time": "a time (HH:MM[:SS])",
    "timestamp": "a timestamp (YYYY-MM-DD HH:MM:SS)",
    "timestamptz": "a timestamp with time zone",
    "uuid": "a UUID",
    "json": "JSON",
    "jsonb": "JSON",
    "bytea": "hex bytes (\\x…)",
}


def _literal(spec: ColumnSpec, text: str):
    """A min/max bound as a Python value comparable with the converted column."""
    from datetime import date, datetime, time

    kind = spec.data_type
    if kind in INTEGER_RANGES:
        return int(Decimal(text))
    if kind in ("real", "double", "numeric"):
        return float(text)
    if kind == "date":
        return date.fromisoformat(text)
    if kind == "time":
        return time.fromisoformat(text)
    if kind in ("timestamp", "timestamptz"):
        value = datetime.fromisoformat(text)
        if kind == "timestamptz" and value.tzinfo is None:
            from datetime import UTC

            value = value.replace(tzinfo=UTC)
        return value
    return text


def python_value(spec: ColumnSpec, text: str):
    """A text value (a watermark) as the Python value of the column's type."""
    return _literal(spec, text)


def _shown(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.String).str.slice(0, 80)


def column_checks(raw: pl.Expr, typed: pl.Expr, spec: ColumnSpec, source_is_text: bool) -> list[Check]:
    """Why a value of this column fails, as checks over the raw (transformed) and typed expressions."""
    checks: list[Check] = []
    is_text_type = spec.data_type in ("varchar", "char", "text")
    present = raw.is_not_null() & (
        raw.cast(pl.String).str.strip_chars() != "" if not is_text_type else pl.lit(True)
    )
    if spec.data_type in TYPE_WORDS:
        checks.append(
            Check(
                present & typed.is_null(),
                pl.format(f"'{{}}' is not {TYPE_WORDS[spec.data_type]}", _shown(raw)),
            )
        )
    if not spec.nullable:
        missing = typed.is_null() & ~present if spec.data_type in TYPE_WORDS else raw.is_null()
        checks.append(Check(missing, pl.lit("required (the column is NOT NULL)")))
    if spec.data_type == "numeric" and spec.precision:
        digits = spec.precision - (spec.scale or 0)
        checks.append(
            Check(
                typed.abs() >= 10.0**digits,
                pl.format(f"{{}} has more than {digits} digits before the decimal point", _shown(raw)),
            )
        )
    if is_text_type and spec.length:
        checks.append(
            Check(
                typed.str.len_chars() > spec.length,
                pl.format(f"{{}} characters; at most {spec.length} allowed", typed.str.len_chars()),
            )
        )
    if spec.min_length:
        checks.append(
            Check(
                typed.cast(pl.String).str.len_chars() < spec.min_length,
                pl.format(
                    f"{{}} characters; at least {spec.min_length} required",
                    typed.cast(pl.String).str.len_chars(),
                ),
            )
        )
    if spec.min_value:
        bound = _literal(spec, spec.min_value)
        checks.append(
            Check(
                typed < pl.lit(bound), pl.format(f"{{}} is below the minimum {spec.min_value}", _shown(raw))
            )
        )
    if spec.max_value:
        bound = _literal(spec, spec.max_value)
        checks.append(
            Check(
                typed > pl.lit(bound), pl.format(f"{{}} is above the maximum {spec.max_value}", _shown(raw))
            )
        )
    if spec.pattern:
        checks.append(
            Check(
                ~typed.cast(pl.String).str.contains(spec.pattern),
                pl.format(
                    "'{}' does not match the pattern " + spec.pattern.replace("{", "{{").replace("}", "}}"),
                    _shown(raw),
                ),
            )
        )
    if spec.allowed_values:
        shown = ", ".join(spec.allowed_values[:10]) + (" …" if len(spec.allowed_values) > 10 else "")
        checks.append(
            Check(
                ~typed.cast(pl.String).is_in(list(spec.allowed_values)),
                pl.format("'{}' is not one of: " + shown.replace("{", "{{").replace("}", "}}"), _shown(raw)),
            )
        )
    return checks

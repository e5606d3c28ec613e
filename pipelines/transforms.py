"""The transform step registry: each step turns a Polars expression into another, column at a time.

A mapping's steps are a list; each item is a step name ("trim") or a dict with "op" and its arguments
({"op": "regex_replace", "pattern": "\\s+", "replacement": " "}). `steps_normalize` checks them against the
registry when a pipeline is saved, so a run never meets an unknown step or a missing argument.

Steps that can fail on a value (parsing, casting, lookups) report a check: a condition over the row and
the reason, which validation turns into a rejected row instead of a silent NULL.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl

from core.masking import column_masking, mask_value

__all__ = [
    "STEPS",
    "MASKING_STEPS",
    "Check",
    "StepContext",
    "steps_normalize",
    "steps_compile",
    "steps_describe",
    "masking_step",
    "column_masking",
    "mask_value",
    "format_shown",
]


@dataclass
class Check:
    """Rows where `failed` is true are rejected with `reason` (a string expression)."""

    failed: pl.Expr
    reason: pl.Expr


@dataclass
class StepContext:
    """What steps may need beyond their own column: other source fields and reference lookups."""

    source_fields: list[str] = field(default_factory=list)
    lookups: dict[tuple, dict] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    name: str
    help: str
    build: Callable  # (expr, args, context) -> expr, or (expr, [Check])
    required: tuple = ()
    optional: dict = field(default_factory=dict)
    masking: bool = False


STEPS: dict[str, Step] = {}


def _step(name: str, help: str, required=(), optional=None, masking=False):
    def register(build):
        STEPS[name] = Step(name, help, build, tuple(required), dict(optional or {}), masking)
        return build

    return register


def _shown(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.String).str.slice(0, 80)


# Text clean-up ------------------------------------------------------------------------------------------


@_step("trim", "Remove spaces at both ends.")
def _trim(expr, args, ctx):
    return expr.cast(pl.String).str.strip_chars()


@_step("collapse_whitespace", "Trim and turn every run of whitespace into one space.")
def _collapse(expr, args, ctx):
    return expr.cast(pl.String).str.replace_all(r"\s+", " ").str.strip_chars()


@_step("lower", "Lower case.")
def _lower(expr, args, ctx):
    return expr.cast(pl.String).str.to_lowercase()


@_step("upper", "Upper case.")
def _upper(expr, args, ctx):
    return expr.cast(pl.String).str.to_uppercase()


@_step("title", "Title Case.")
def _title(expr, args, ctx):
    return expr.cast(pl.String).str.to_titlecase()


@_step("regex_replace", "Replace every match of a regular expression.", ["pattern"], {"replacement": ""})
def _regex_replace(expr, args, ctx):
    return expr.cast(pl.String).str.replace_all(args["pattern"], args.get("replacement", ""))


@_step(
    "map",
    "Replace values through a lookup table; others kept, or NULL with default_null, or rejected with strict.",
    ["values"],
    {"strict": False, "default_null": False},
)
def _map(expr, args, ctx):
    values = {str(k): (None if v is None else str(v)) for k, v in args["values"].items()}
    source = expr.cast(pl.String)
    default = pl.lit(None, pl.String) if (args.get("default_null") or args.get("strict")) else source
    mapped = source.replace_strict(
        list(values), list(values.values()), default=default, return_dtype=pl.String
    )
    checks = []
    if args.get("strict"):
        known = source.is_in(list(values))
        checks.append(
            Check(source.is_not_null() & ~known, pl.format("'{}' is not in the value map", _shown(source)))
        )
    return mapped, checks


@_step("default", "Use a value when the field is NULL or empty.", ["value"])
def _default(expr, args, ctx):
    source = expr.cast(pl.String)
    return (
        pl.when(source.is_null() | (source.str.strip_chars() == ""))
        .then(pl.lit(str(args["value"])))
        .otherwise(source)
    )


@_step("concat", "Append other source fields, joined by a separator.", ["fields"], {"separator": " "})
def _concat(expr, args, ctx):
    parts = [expr.cast(pl.String)] + [pl.col(name).cast(pl.String) for name in args["fields"]]
    return pl.concat_str(parts, separator=str(args.get("separator", " ")), ignore_nulls=True)


@_step(
    "split",
    "Split on a separator and keep one part (index from 0; -1 is the last).",
    ["separator"],
    {"index": 0},
)
def _split(expr, args, ctx):
    return (
        expr.cast(pl.String)
        .str.split(str(args["separator"]))
        .list.get(int(args.get("index", 0)), null_on_oob=True)
    )


# Parsing ------------------------------------------------------------------------------------------------


# The strftime directives a reader knows by another name: 31.01.2024 is DD.MM.YYYY.
FORMAT_WORDS = {
    "%d": "DD",
    "%e": "D",
    "%m": "MM",
    "%Y": "YYYY",
    "%y": "YY",
    "%b": "Mon",
    "%B": "Month",
    "%H": "hh",
    "%I": "hh",
    "%M": "mm",
    "%S": "ss",
    "%f": "ffffff",
    "%p": "AM/PM",
    "%z": "±hhmm",
    "%%": "%",
}
FORMAT_EXAMPLE = datetime(2024, 1, 31, 13, 45, 30, tzinfo=UTC)


def format_shown(fmt: str) -> str:
    """A strftime format as a reader knows it, with an example: 'written DD.MM.YYYY (e.g. 31.01.2024)';
    a format with directives that have no common name is shown by its example alone."""
    try:
        example = FORMAT_EXAMPLE.strftime(fmt)
    except ValueError:
        example = ""
    directives = re.findall(r"%.", fmt)
    if all(d in FORMAT_WORDS for d in directives):
        written = re.sub(r"%.", lambda m: FORMAT_WORDS[m.group(0)], fmt)
        return f"written {written} (e.g. {example})" if example else f"written {written}"
    return f"like {example}" if example and "%" not in example else f"in the format {fmt}"


def _parsed(source: pl.Expr, parsed: pl.Expr, what: str) -> tuple[pl.Expr, list[Check]]:
    failed = source.is_not_null() & (source.cast(pl.String).str.strip_chars() != "") & parsed.is_null()
    return parsed, [
        Check(failed, pl.format("'{}' is not " + what.replace("{", "{{").replace("}", "}}"), _shown(source)))
    ]


@_step("parse_date", "Parse a date with a strftime format, e.g. %d/%m/%Y.", ["format"])
def _parse_date(expr, args, ctx):
    source = expr.cast(pl.String).str.strip_chars()
    return _parsed(
        source, source.str.to_date(args["format"], strict=False), f"a date {format_shown(args['format'])}"
    )


@_step("parse_datetime", "Parse a date and time with a strftime format, e.g. %d/%m/%Y %H:%M.", ["format"])
def _parse_datetime(expr, args, ctx):
    source = expr.cast(pl.String).str.strip_chars()
    parsed = source.str.to_datetime(args["format"], strict=False, time_unit="us")
    return _parsed(source, parsed, f"a date and time {format_shown(args['format'])}")


@_step("parse_time", "Parse a time of day with a strftime format, e.g. %H:%M.", ["format"])
def _parse_time(expr, args, ctx):
    source = expr.cast(pl.String).str.strip_chars()
    return _parsed(
        source, source.str.to_time(args["format"], strict=False), f"a time {format_shown(args['format'])}"
    )


@_step(
    "parse_number",
    "Parse a number written with a decimal mark and thousands separator, e.g. 1.234,50.",
    (),
    {"decimal": ".", "thousands": ","},
)
def _parse_number(expr, args, ctx):
    source = expr.cast(pl.String).str.strip_chars()
    text = source
    thousands = str(args.get("thousands", ","))
    if thousands:
        text = text.str.replace_all(thousands, "", literal=True)
    decimal = str(args.get("decimal", "."))
    if decimal != ".":
        text = text.str.replace_all(decimal, ".", literal=True)
    return _parsed(source, text.cast(pl.Float64, strict=False), "a number")


CAST_TYPES = {
    "string": pl.String,
    "integer": pl.Int64,
    "number": pl.Float64,
    "boolean": pl.Boolean,
    "date": pl.Date,
}
BOOLEAN_WORDS = {
    "true": True,
    "t": True,
    "yes": True,
    "y": True,
    "1": True,
    "on": True,
    "false": False,
    "f": False,
    "no": False,
    "n": False,
    "0": False,
    "off": False,
}


def boolean_parse(source: pl.Expr) -> pl.Expr:
    words = source.cast(pl.String).str.strip_chars().str.to_lowercase()
    return words.replace_strict(
        list(BOOLEAN_WORDS), list(BOOLEAN_WORDS.values()), default=None, return_dtype=pl.Boolean
    )


@_step("cast", "Convert to string, integer, number, boolean or date (ISO).", ["type"])
def _cast(expr, args, ctx):
    kind = args["type"]
    if kind == "boolean":
        return _parsed(expr, boolean_parse(expr), "a boolean")
    if kind == "date":
        source = expr.cast(pl.String).str.strip_chars()
        return _parsed(source, source.str.to_date("%Y-%m-%d", strict=False), "an ISO date")
    if kind == "string":
        return expr.cast(pl.String)
    source = expr.cast(pl.String).str.strip_chars()
    return _parsed(
        source, source.cast(CAST_TYPES[kind], strict=False), f"a{'n' if kind == 'integer' else ''} {kind}"
    )


@_step(
    "lookup",
    "Replace the value with a column of a reference entity found by a key column (enrichment).",
    ["entity", "key", "value"],
    {"on_missing": "null"},
)
def _lookup(expr, args, ctx):
    table = ctx.lookups.get(lookup_key(args), {})
    source = expr.cast(pl.String)
    found = source.replace_strict(list(table), list(table.values()), default=None, return_dtype=pl.String)
    checks = []
    if args.get("on_missing", "null") == "reject":
        missing = source.is_not_null() & ~source.is_in(list(table))
        checks.append(
            Check(missing, pl.format(f"no {args['entity']} with {args['key']} = '{{}}'", _shown(source)))
        )
    return found, checks


def lookup_key(args: dict) -> tuple:
    return (args["entity"], args["key"], args["value"])


# Masking ------------------------------------------------------------------------------------------------


def _map_values(expr: pl.Expr, func) -> pl.Expr:
    return expr.cast(pl.String).map_batches(
        lambda s: pl.Series(s.name, [None if v is None else func(v) for v in s.to_list()], dtype=pl.String),
        return_dtype=pl.String,
    )


@_step("hash", "Mask: HMAC-SHA256 with the secret pepper (same input, same output).", masking=True)
def _hash(expr, args, ctx):
    return _map_values(expr, lambda v: mask_value(v, "hash"))


@_step("tokenize", "Mask: a stable token 'tok_…' (joins still work; not reversible).", masking=True)
def _tokenize(expr, args, ctx):
    return _map_values(expr, lambda v: mask_value(v, "tokenize"))


@_step("redact", "Mask: replace with [redacted].", optional={"text": "[redacted]"}, masking=True)
def _redact(expr, args, ctx):
    return (
        pl.when(expr.is_null())
        .then(pl.lit(None, pl.String))
        .otherwise(pl.lit(str(args.get("text", "[redacted]"))))
    )


@_step("partial_mask", "Mask all but the last characters (keep: 4).", optional={"keep": 4}, masking=True)
def _partial(expr, args, ctx):
    keep = int(args.get("keep", 4))
    return _map_values(expr, lambda v: mask_value(v, "partial", keep))


@_step("nullify", "Mask: set to NULL.", masking=True)
def _nullify(expr, args, ctx):
    return pl.lit(None, pl.String)


MASKING_STEPS = {name for name, step in STEPS.items() if step.masking}
STRATEGY_STEPS = {
    "hash": "hash",
    "tokenize": "tokenize",
    "redact": "redact",
    "partial": "partial_mask",
    "nullify": "nullify",
}


def masking_step(strategy: str) -> dict | None:
    """The step that applies a catalog masking strategy, or None for 'none'."""
    name = STRATEGY_STEPS.get(strategy)
    return {"op": name} if name else None


# Normalizing and compiling ------------------------------------------------------------------------------


def _check_args(step: Step, args: dict) -> None:
    missing = [name for name in step.required if name not in args]
    if missing:
        raise ValueError(f"Step '{step.name}' needs {', '.join(missing)}.")
    unknown = sorted(set(args) - set(step.required) - set(step.optional))
    if unknown:
        allowed = ", ".join([*step.required, *step.optional]) or "no arguments"
        raise ValueError(f"Step '{step.name}' does not take {', '.join(unknown)} (it takes {allowed}).")
    if step.name == "regex_replace":
        try:
            re.compile(args["pattern"])
            pl.select(pl.lit("x").str.replace_all(args["pattern"], str(args.get("replacement", ""))))
        except (re.error, pl.exceptions.PolarsError) as exc:
            raise ValueError(f"Step 'regex_replace': the pattern is not a valid regular expression: {exc}")
    if step.name == "map" and not isinstance(args["values"], dict):
        raise ValueError("Step 'map' needs values as a mapping of from → to.")
    if step.name == "concat" and not (
        isinstance(args["fields"], list) and all(isinstance(f, str) for f in args["fields"])
    ):
        raise ValueError("Step 'concat' needs fields as a list of source field names.")
    if step.name == "cast" and args["type"] not in CAST_TYPES:
        raise ValueError(f"Step 'cast' takes type {', '.join(CAST_TYPES)}; not '{args['type']}'.")
    if step.name == "lookup" and args.get("on_missing", "null") not in ("null", "reject"):
        raise ValueError("Step 'lookup' takes on_missing: null or reject.")
    if step.name == "split" and not isinstance(args.get("index", 0), int):
        raise ValueError("Step 'split' takes an integer index.")
    if step.name == "partial_mask" and not (
        isinstance(args.get("keep", 4), int) and args.get("keep", 4) >= 0
    ):
        raise ValueError("Step 'partial_mask' takes keep as a whole number of characters.")
    for name in ("format",):
        if name in args and not isinstance(args[name], str):
            raise ValueError(f"Step '{step.name}': {name} must be text.")


def steps_normalize(steps) -> list[dict]:
    """Steps as a list of {"op": name, ...args}; ValueError naming the step that is wrong and why."""
    if steps in (None, ""):
        return []
    if not isinstance(steps, list):
        raise ValueError('Steps must be a list, e.g. ["trim", {"op": "lower"}].')
    normalized = []
    for position, item in enumerate(steps, start=1):
        if isinstance(item, str):
            item = {"op": item}
        elif isinstance(item, dict) and "op" not in item and len(item) == 1:
            # YAML shorthand: {regex_replace: {pattern: ..., replacement: ...}}
            ((name, args),) = item.items()
            item = {"op": name, **(args if isinstance(args, dict) else {})}
        if not isinstance(item, dict) or not isinstance(item.get("op"), str):
            raise ValueError(f"Step {position} is not a step name or a mapping with 'op'.")
        step = STEPS.get(item["op"])
        if step is None:
            raise ValueError(
                f"Step {position}: unknown step '{item['op']}'. Known steps: {', '.join(sorted(STEPS))}."
            )
        args = {k: v for k, v in item.items() if k != "op"}
        try:
            _check_args(step, args)
        except ValueError as exc:
            raise ValueError(f"Step {position}: {exc}") from None
        normalized.append({"op": step.name, **args})
    return normalized


def steps_compile(expr: pl.Expr, steps: list[dict], context: StepContext) -> tuple[pl.Expr, list[Check]]:
    """The expression after every step, and the checks the steps raised along the way."""
    checks: list[Check] = []
    for item in steps:
        args = {k: v for k, v in item.items() if k != "op"}
        result = STEPS[item["op"]].build(expr, args, context)
        if isinstance(result, tuple):
            expr, step_checks = result
            checks.extend(step_checks)
        else:
            expr = result
    return expr, checks


def steps_describe(steps: list[dict]) -> str:
    """Steps in one line, for lineage and run pages: trim → lower → map(3 values)."""
    parts = []
    for item in steps:
        args = {k: v for k, v in item.items() if k != "op"}
        if item["op"] == "map":
            parts.append(f"map({len(args.get('values', {}))} values)")
        elif args:
            parts.append(f"{item['op']}({', '.join(f'{k}={v!r}' for k, v in args.items())})")
        else:
            parts.append(item["op"])
    return " → ".join(parts)

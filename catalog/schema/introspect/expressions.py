"""Expressions: the SQL a database wrote for a DEFAULT, a CHECK or a partial index's condition, parsed with
sqlglot and said in the catalog's words, or refused with the reason.

`catalog_default` and `default_normalize` read a DEFAULT (an allowed function, a bare literal, or an
expression the catalog cannot hold); `check_rules` splits a CHECK into catalog rules (min, max, allowed
values, length, pattern), taken whole or not at all; `catalog_condition` simplifies a condition to what a
steward would write. Nothing here reads a database or writes the catalog.
"""

import functools
from dataclasses import dataclass

import sqlglot
from django.core.exceptions import ValidationError
from sqlglot import exp

from catalog.choices import TYPE_FAMILIES, DataType
from catalog.literals import ALLOWED_DEFAULT_FUNCTIONS, parse_literal
from catalog.schema.dialects import PROFILES, DialectProfile
from catalog.sql_conditions import validate_condition

__all__ = [
    "default_read",
    "default_normalize",
    "catalog_default",
    "CheckRule",
    "check_rules",
    "catalog_condition",
]

_FUNCTION_NODES = {
    exp.CurrentTimestamp: "now()",
    exp.Localtimestamp: "localtimestamp",
    exp.CurrentDate: "current_date",
    exp.CurrentTime: "current_time",
    exp.Uuid: "gen_random_uuid()",
}


def _parse(text: str, dialect: str) -> exp.Expression | None:
    try:
        return sqlglot.parse_one(text, read=dialect)
    except sqlglot.errors.SqlglotError:
        return None


def _unwrap(node: exp.Expression) -> exp.Expression:
    """The node without the parentheses and casts around it."""
    while isinstance(node, exp.Paren | exp.Cast):
        node = node.this
    return node


def _literal(node: exp.Expression) -> str | None:
    """The value of a literal as the catalog writes it (no quotes, no casts); None if it is not one."""
    node = _unwrap(node)
    if isinstance(node, exp.Literal):
        return str(node.this)
    if isinstance(node, exp.Neg) and isinstance(_unwrap(node.this), exp.Literal):
        inner = _unwrap(node.this)
        return f"-{inner.this}" if not inner.is_string else None
    if isinstance(node, exp.Boolean):
        return "true" if node.this else "false"
    return None


def _spelling(sql: str, dialect: str) -> str:
    """An expression in one spelling: as sqlglot writes it, without outer parentheses (SQLite drops them
    from a stored DEFAULT (...)), lower case; if it does not parse, the text with its blanks collapsed."""
    tree = _parse(sql, dialect)
    while isinstance(tree, exp.Paren):
        tree = tree.this
    text = tree.sql(dialect=dialect) if tree is not None else sql
    return " ".join(text.split()).lower()


@functools.lru_cache(maxsize=4096)
def _default_read_cached(text: str, profile_name: str) -> tuple[str, str]:
    return _default_parse(text, PROFILES[profile_name])


def default_read(text: str, profile: DialectProfile) -> tuple[str, str]:
    """(kind, value) of a DEFAULT expression: function (catalog name), literal (bare value), null, or
    expression (its spelling). Cached: a schema repeats a few defaults (now(), 0) thousands of times."""
    if PROFILES.get(profile.name) is profile:
        return _default_read_cached(text, profile.name)
    return _default_parse(text, profile)


def _default_parse(text: str, profile: DialectProfile) -> tuple[str, str]:
    tree = _parse(text, profile.sqlglot)
    node = _unwrap(tree) if tree is not None else None
    if node is not None and type(node) in _FUNCTION_NODES:
        return "function", _FUNCTION_NODES[type(node)]
    if isinstance(node, exp.Null):
        return "null", ""
    value = _literal(tree) if tree is not None else None
    if value is not None:
        return "literal", value
    # The dialect's own spelling of a catalog function, e.g. SQLite's expression for gen_random_uuid()
    spelled = _spelling(text, profile.sqlglot)
    for function, sql in profile.default_functions.items():
        if sql and _spelling(sql, profile.sqlglot) == spelled:
            return "function", function
    return "expression", spelled


def default_normalize(text: str | None, *, profile: DialectProfile) -> str:
    """A DEFAULT as written in DDL or reflected from a database, in one comparable form: the catalog's
    name of a function (now(), gen_random_uuid()), a literal as its quoted bare value ('retail'), ""
    for none."""
    if text is None:
        return ""
    kind, value = default_read(str(text), profile)
    return f"'{value}'" if kind == "literal" else value


def catalog_default(text: str | None, *, data_type: str, profile: DialectProfile) -> str:
    """A reflected DEFAULT in the catalog's words (an allowed function or a bare literal, "" for none);
    ValueError saying why when it is neither or does not suit the column's type."""
    if text is None:
        return ""
    kind, value = default_read(str(text), profile)
    family = TYPE_FAMILIES[DataType(data_type)]
    if kind == "null":
        return ""
    if kind == "function":
        if family not in ALLOWED_DEFAULT_FUNCTIONS[value]:
            raise ValueError(f"default {text} does not suit a {data_type} column")
        return value
    if kind == "expression":
        raise ValueError(
            f"default {text} is neither a literal nor one of {', '.join(ALLOWED_DEFAULT_FUNCTIONS)}"
        )
    parsed = parse_literal(data_type, value)  # ValueError names the value and the type
    if family == "boolean":
        return "true" if parsed else "false"
    if value.rstrip().endswith(")"):
        raise ValueError(f"default {text} would read as a function call in the catalog")
    return value


@dataclass(frozen=True)
class CheckRule:
    """One catalog rule a CHECK constraint says: `field` (min_value, ...) of `column` is `value`."""

    column: str
    field: str
    value: object


def _column_name(node: exp.Expression) -> str | None:
    """The column a node names, seeing through parentheses and casts to text types (PostgreSQL writes
    (status)::text for a varchar column); None for anything else."""
    while isinstance(node, exp.Paren) or (
        isinstance(node, exp.Cast) and node.to.is_type(*exp.DataType.TEXT_TYPES)
    ):
        node = node.this
    return node.name if isinstance(node, exp.Column) and not node.table else None


def _array_literals(node: exp.Expression) -> list[str] | None:
    node = _unwrap(node)
    if isinstance(node, exp.Any):
        node = _unwrap(node.this)
    if not isinstance(node, exp.Array | exp.Tuple):
        return None
    values = [_literal(item) for item in node.expressions]
    return None if any(v is None for v in values) else values


def _comparison_rule(node: exp.Expression) -> list[CheckRule] | None:
    """col >= n, col <= n (either side), char_length(col) >= n."""
    left, right, is_min = node.this, node.expression, isinstance(node, exp.GTE)
    if _literal(left) is not None and _literal(right) is None:
        left, right, is_min = right, left, not is_min
    value = _literal(right)
    if value is None:
        return None
    if isinstance(_unwrap(left), exp.Length) and is_min and value.isdigit():
        column = _column_name(_unwrap(left).this)
        return [CheckRule(column, "min_length", int(value))] if column else None
    column = _column_name(left)
    return [CheckRule(column, "min_value" if is_min else "max_value", value)] if column else None


def _conjunct_rules(node: exp.Expression) -> list[CheckRule] | None:
    """The rules of one conjunct of a CHECK; None when the catalog has no way to say it."""
    node = _unwrap(node) if isinstance(node, exp.Paren) else node
    if isinstance(node, exp.GTE | exp.LTE):
        return _comparison_rule(node)
    column = _column_name(node.this) if node.args.get("this") is not None else None
    if column is None:
        return None
    if isinstance(node, exp.Between):
        low, high = _literal(node.args["low"]), _literal(node.args["high"])
        if low is None or high is None:
            return None
        return [CheckRule(column, "min_value", low), CheckRule(column, "max_value", high)]
    if isinstance(node, exp.In) and not node.args.get("query"):
        values = [_literal(item) for item in node.expressions]
        return None if any(v is None for v in values) else [CheckRule(column, "allowed_values", values)]
    if isinstance(node, exp.EQ) and isinstance(_unwrap(node.expression), exp.Any):
        values = _array_literals(node.expression)
        return [CheckRule(column, "allowed_values", values)] if values is not None else None
    if isinstance(node, exp.RegexpLike):
        pattern = _unwrap(node.expression)
        if isinstance(pattern, exp.Literal) and pattern.is_string:
            return [CheckRule(column, "pattern", str(pattern.this))]
    return None


def _conjuncts(node: exp.Expression) -> list[exp.Expression]:
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And):
        return _conjuncts(node.this) + _conjuncts(node.expression)
    return [node]


def check_rules(sqltext: str, *, dialect: str = "postgres") -> list[CheckRule]:
    """The catalog rules a CHECK constraint expresses (several when it ANDs them); ValueError when any
    part has no catalog equivalent, so a check is taken whole or not at all."""
    tree = _parse(sqltext, dialect)
    if tree is None:
        raise ValueError("it does not parse")
    rules = []
    for conjunct in _conjuncts(tree):
        found = _conjunct_rules(conjunct)
        if found is None:
            raise ValueError(f"'{conjunct.sql(dialect=dialect)}' has no catalog equivalent")
        rules += found
    return rules


# Where PostgreSQL's cast of a literal only spells out the type the comparison gives it anyway
_LITERAL_CONTEXTS = (
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.In,
    exp.Between,
    exp.Like,
    exp.ILike,
)


def _condition_simplify(node: exp.Expression, text_columns: frozenset) -> exp.Expression:
    """One rewriting step towards the condition a steward would write: no casts PostgreSQL added (of a
    text column to text, of a literal compared with something), no parentheses it added, and
    x = ANY (ARRAY[...]) as x IN (...). Casts that change a value's meaning stay."""
    if isinstance(node, exp.Cast):
        inner = node.this.unnest()
        if (
            isinstance(inner, exp.Column)
            and inner.name in text_columns
            and node.to.is_type(*exp.DataType.TEXT_TYPES)
        ):
            return node.this
        if _literal(inner) is not None and isinstance(node.parent, _LITERAL_CONTEXTS):
            return node.this
    if isinstance(node, exp.Paren) and isinstance(node.this, exp.Column | exp.Literal):
        return node.this
    # Comparisons bind tighter than AND and OR: parentheses around them say nothing
    if (
        isinstance(node, exp.Paren)
        and isinstance(node.this, exp.Predicate)
        and (node.parent is None or isinstance(node.parent, exp.Connector))
    ):
        return node.this
    if isinstance(node, exp.EQ) and isinstance(_unwrap(node.expression), exp.Any):
        values = _array_literals(node.expression)
        if values is not None:
            items = [item.copy() for item in _unwrap(_unwrap(node.expression).this).expressions]
            return exp.In(this=node.this.copy(), expressions=items)
    return node


def catalog_condition(
    text: str, *, column_names: set[str], text_columns: set[str] = frozenset(), dialect: str = "postgres"
) -> str:
    """A partial-index condition as the database wrote it, simplified to what a steward would write
    (PostgreSQL syntax, as the catalog keeps it); ValidationError when the catalog refuses it.
    `text_columns` are the columns of text types, whose casts to text PostgreSQL adds on its own."""
    tree = _parse(text, dialect)
    if tree is None:
        raise ValidationError(f"'{text}' does not parse as SQL")
    for _step in range(10):  # sqlglot's transform does not revisit a replaced node: repeat to a fixpoint
        simpler = tree.transform(_condition_simplify, frozenset(text_columns))
        if simpler == tree:
            break
        tree = simpler
    while isinstance(tree, exp.Paren):
        tree = tree.this
    condition = tree.sql(dialect="postgres")
    validate_condition(condition, column_names=column_names)
    return condition

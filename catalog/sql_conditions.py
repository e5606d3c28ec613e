"""Free-form SQL conditions (partial-index WHERE clauses) parsed into a tree and checked against an allowlist.

A condition is accepted only if it is one boolean expression over the entity's own columns, built from
comparisons, boolean logic, arithmetic, literals and a short list of pure functions: no statements, no
subqueries, no other tables, no functions with side effects (pg_sleep, set_config, ...).
"""

import sqlglot
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from sqlglot import exp

__all__ = ["validate_condition", "ALLOWED_NODES"]

ALLOWED_NODES = (
    exp.Column,
    exp.Identifier,
    exp.Literal,
    exp.Null,
    exp.Boolean,
    exp.Paren,
    exp.Tuple,
    exp.And,
    exp.Or,
    exp.Not,
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.Is,
    exp.In,
    exp.Between,
    exp.Like,
    exp.ILike,
    exp.RegexpLike,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Mod,
    exp.Neg,
    exp.Cast,
    exp.DataType,
    exp.Lower,
    exp.Upper,
    exp.Coalesce,
    exp.Length,
    exp.Trim,
    exp.Abs,
    exp.CurrentDate,
    exp.CurrentTimestamp,
    exp.Interval,
    exp.Var,
)
PREDICATES = (exp.Predicate, exp.Connector, exp.Not, exp.Paren, exp.Boolean, exp.Column)


def validate_condition(text: str, *, column_names: set[str], dialect: str = "postgres") -> exp.Expression:
    """The parsed condition; ValidationError naming the first thing that is not allowed."""
    try:
        statements = [tree for tree in sqlglot.parse(text, read=dialect) if tree is not None]
    except sqlglot.errors.ParseError as exc:
        raise ValidationError(_("The condition is not valid SQL: %(reason)s") % {"reason": exc}) from exc
    if len(statements) != 1:
        raise ValidationError(_("Write one condition, not %(n)d statements.") % {"n": len(statements)})
    tree = statements[0]
    if not isinstance(tree, PREDICATES):
        raise ValidationError(_("'%(sql)s' is not a condition (true or false per row).") % {"sql": text})
    for node in tree.walk():
        if not isinstance(node, ALLOWED_NODES):
            raise ValidationError(
                _(
                    "'%(part)s' is not allowed in a condition: use comparisons, AND/OR/NOT and simple "
                    "functions on this entity's columns."
                )
                % {"part": node.sql(dialect=dialect)[:80]}
            )
        if isinstance(node, exp.Column):
            if node.table:
                raise ValidationError(
                    _("Refer to columns without a table name: '%(col)s'.") % {"col": node.sql()}
                )
            if node.name not in column_names:
                raise ValidationError(_("'%(col)s' is not a column of this entity.") % {"col": node.name})
    return tree

"""Failing samples masked by where each value comes from, not by what its column is called.

A sample row is kept twice: as everyone who may see quality sees it (`RuleResult.samples`) and, when that
differs, as users with `catalog.view_pii` see it (`RuleResult.samples_pii`). A value is in clear for everyone
only when Custodian knows it derives from catalog columns classified non-personal. For the entity's own
columns (column rules, uniqueness, referential integrity) that is the column itself; for custom SQL it is
the column lineage of the steward's SELECT (sqlglot `qualify` + `lineage`, with the catalog as schema), so
`email AS contact` and `upper(email)` are masked like `email`. An output whose origin cannot be resolved is
masked. Credentials, payment and health data stay masked even for `view_pii`, as they are on load. Values a
pattern rule checks are shown by their shape (`aaa@aaaaaaa.aaa (15)`) to those who may not see them.
"""

import logging
import re
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.lineage import lineage
from sqlglot.optimizer.qualify import qualify

from catalog.models import Column, Entity
from core.masking import column_masking, load_masking, mask_value, value_shape
from core.values import json_safe

__all__ = ["SampleMasking", "entity_sample_masking", "custom_sql_sample_masking", "custom_sql_origins"]

logger = logging.getLogger(__name__)

CLEAR = "none"
SHAPE = "shape"
UNKNOWN_ORIGIN = "redact"
# Names sqlglot gives unnamed outputs when it qualifies a query (PostgreSQL names them differently).
_GENERATED_ALIAS = re.compile(r"^_col_\d+$")


def _masked(value, strategy: str):
    if strategy == CLEAR:
        return json_safe(value)
    if strategy == SHAPE:
        return value_shape(value)
    return json_safe(mask_value(value, strategy))


@dataclass
class SampleMasking:
    """Per sample column, the strategy for viewers without `view_pii` and the one for viewers with it.

    A column in neither map is of unknown origin: masked for the first, clear for the second."""

    everyone: dict[str, str] = field(default_factory=dict)
    pii_viewers: dict[str, str] = field(default_factory=dict)

    def apply(self, rows: list[dict]) -> tuple[list[dict], list[dict], bool]:
        """(samples for everyone, samples for view_pii, whether the first hides anything)."""
        shown, for_pii, masked = [], [], False
        for row in rows:
            shown.append(
                {name: _masked(value, self.everyone.get(name, UNKNOWN_ORIGIN)) for name, value in row.items()}
            )
            for_pii.append(
                {name: _masked(value, self.pii_viewers.get(name, CLEAR)) for name, value in row.items()}
            )
            masked = masked or any(
                self.everyone.get(name, UNKNOWN_ORIGIN) != CLEAR and value is not None
                for name, value in row.items()
            )
        return shown, for_pii, masked


def _column_strategies(column: Column, *, shaped: bool) -> tuple[str, str]:
    """(strategy for everyone, strategy for view_pii) of values taken from one catalog column."""
    if not column.is_pii:
        return CLEAR, CLEAR
    strategy = column_masking(column)
    everyone = SHAPE if shaped else (strategy if strategy != CLEAR else UNKNOWN_ORIGIN)
    kept = load_masking(column)  # categories never shown in clear, even with view_pii
    return everyone, (SHAPE if shaped and kept != CLEAR else kept)


def entity_sample_masking(columns: list[Column], *, shaped=(), counts=()) -> SampleMasking:
    """Masking of samples made of an entity's own `columns`; `shaped`: the columns a pattern rule checks,
    `counts`: columns Custodian adds (a duplicate count), clear for everyone."""
    masking = SampleMasking()
    for column in columns:
        everyone, pii = _column_strategies(column, shaped=column.name in shaped)
        masking.everyone[column.name], masking.pii_viewers[column.name] = everyone, pii
    for name in counts:
        masking.everyone[name] = masking.pii_viewers[name] = CLEAR
    return masking


def custom_sql_sample_masking(query: str, entity: Entity) -> SampleMasking:
    """Masking of a custom SQL rule's samples by the lineage of each output column."""
    masking = SampleMasking()
    for name, sources in custom_sql_origins(query, entity.datastore).items():
        if sources is None:
            continue  # unknown origin: masked for everyone without view_pii
        personal = [c for c in sources if c.is_pii]
        if not personal:
            masking.everyone[name] = masking.pii_viewers[name] = CLEAR
        elif len(personal) == 1:
            masking.everyone[name], masking.pii_viewers[name] = _column_strategies(personal[0], shaped=False)
        else:
            kept = [load_masking(c) for c in personal if load_masking(c) != CLEAR]
            masking.everyone[name], masking.pii_viewers[name] = UNKNOWN_ORIGIN, (kept[0] if kept else CLEAR)
    return masking


def _catalog(datastore) -> tuple[str, dict[tuple[str, str], dict[str, Column]]]:
    schema = datastore.schema_name or "public"
    tables: dict[tuple[str, str], dict[str, Column]] = {}
    for column in Column.objects.filter(entity__datastore=datastore).select_related("entity"):
        tables.setdefault((schema, column.entity.name), {})[column.name] = column
    return schema, tables


def _postgres_name(expression: exp.Expression) -> str:
    """The name PostgreSQL gives an unaliased output: a column's name, a function's, else ?column?."""
    if isinstance(expression, exp.Column):
        return expression.name
    if isinstance(expression, exp.Cast):
        inner = _postgres_name(expression.this)
        return inner if inner != "?column?" else expression.to.sql("postgres").lower()
    if isinstance(expression, exp.Anonymous):
        return expression.name.lower()
    if isinstance(expression, exp.Func):
        return expression.sql_name().lower()
    return "?column?"


def _output_name(select: exp.Expression) -> str:
    if isinstance(select, exp.Alias):
        if _GENERATED_ALIAS.match(select.alias):
            return _postgres_name(select.this)
        return select.alias
    return _postgres_name(select)


def _leaf_sources(leaf, schema: str, tables) -> list[Column] | None:
    """The catalog column a lineage leaf reads, [] for a value computed from no column, None: unknown."""
    if isinstance(leaf.expression, exp.Table) and isinstance(leaf.source, exp.Table):
        table = (leaf.source.db or schema, leaf.source.name)
        column = tables.get(table, {}).get(exp.to_column(leaf.name).name)
        return [column] if column is not None else None
    if isinstance(leaf.expression, exp.Alias) and not leaf.expression.this.find(exp.Column):
        return []  # a literal or count(*): derived from no column
    return None


def custom_sql_origins(query: str, datastore) -> dict[str, list[Column] | None]:
    """Per output column (as PostgreSQL names it) of a custom SQL query, the catalog columns its values
    derive from; None when they cannot all be resolved. Outputs sharing a name share their origins."""
    schema, tables = _catalog(datastore)
    shape = {db: {} for db, _ in tables}
    for (db, table), columns in tables.items():
        shape[db][table] = {name: "text" for name in columns}
    try:
        tree = qualify(sqlglot.parse_one(query, read="postgres"), schema=shape, db=schema, dialect="postgres")
        selects = tree.selects
        names = tree.named_selects
    except Exception as exc:  # sqlglot cannot place every column: everything is of unknown origin
        logger.info("Custom SQL lineage unresolved: %s", exc)
        return {}
    origins: dict[str, list[Column] | None] = {}
    for select, sqlglot_name in zip(selects, names, strict=True):
        name = _output_name(select)
        try:
            node = lineage(sqlglot_name, tree, schema=shape, dialect="postgres")
            found = [_leaf_sources(leaf, schema, tables) for leaf in node.walk() if not leaf.downstream]
        except Exception as exc:
            logger.info("Lineage of %s unresolved: %s", name, exc)
            found = [None]
        sources = None if any(s is None for s in found) else [c for s in found for c in s]
        if name in origins:  # PostgreSQL gives both the name; the JSON keeps one: the stricter wins
            sources = None if origins[name] is None or sources is None else origins[name] + sources
        origins[name] = sources
    return origins

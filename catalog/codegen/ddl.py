"""What Custodian's own DDL says about a table, for the generators to repeat it word for word.

Check constraints come from `catalog.schema.metadata` (the rules the DDL uses, with the DDL's names), index
conditions are translated to the data store's dialect, and a table is named as the DDL qualifies it.
"""

import re
import textwrap

import sqlalchemy as sa
import sqlglot

from catalog.codegen.base import CodeColumn, CodegenError, CodeModel
from catalog.schema.dialects import DialectProfile, profile_for
from catalog.schema.metadata import constraint_name, sa_type, schema_tables_build
from catalog.schema.model import Column, ColumnChecks, ColumnType, SchemaModel, Store, Table
from core.errors import SchemaError

__all__ = [
    "CHECK_SUFFIXES",
    "profile_of",
    "column_type",
    "ddl_checks",
    "condition_sql",
    "qualified",
    "line_comment",
]

# The suffixes of the per-column check constraints the DDL names (min, max, allowed values, length, pattern).
CHECK_SUFFIXES = ("min", "max", "in", "len", "re")


def profile_of(model: CodeModel) -> DialectProfile:
    """The dialect of the model's data store (PostgreSQL when it names none); CodegenError if unknown."""
    try:
        return profile_for(model.engine or "postgresql")
    except SchemaError as exc:
        raise CodegenError(exc.message) from None


def column_type(profile: DialectProfile, column: CodeColumn) -> sa.types.TypeEngine:
    """The SQLAlchemy type Custodian's DDL gives the column in this dialect."""
    return sa_type(profile, ColumnType(column.data_type, column.length, column.precision, column.scale))


def ddl_checks(model: CodeModel, profile: DialectProfile) -> tuple[dict, dict]:
    """The check constraints Custodian's DDL creates, by (entity, column) -> [(name, SQL)], and by entity the
    notes on what the dialect cannot say."""
    # Only the columns matter here: keys, indexes and foreign keys name no check.
    tables = tuple(
        Table(id=entity.id, name=entity.name, columns=tuple(_schema_column(c) for c in entity.columns))
        for entity in model.entities
    )
    try:
        schema = schema_tables_build(
            SchemaModel(Store(name=model.datastore, engine=model.engine, schema=model.schema), tables),
            profile,
        )
    except SchemaError as exc:
        raise CodegenError(exc.message) from None
    compiler = profile.sqla.ddl_compiler(profile.sqla, None).sql_compiler
    checks: dict = {}
    for entity in model.entities:
        sql = {
            c.name: compiler.process(c.sqltext, include_table=False, literal_binds=True)
            for c in schema.tables[entity.id].constraints
            if isinstance(c, sa.CheckConstraint)
        }
        for column in entity.columns:
            names = [
                constraint_name(profile, entity.name, [column.name], suffix) for suffix in CHECK_SUFFIXES
            ]
            found = [(name, sql[name]) for name in names if name in sql]
            if found:
                checks[(entity.name, column.name)] = found
    return checks, {e.name: list(schema.notes.get(e.id, [])) for e in model.entities}


def _schema_column(column: CodeColumn) -> Column:
    """A codegen column as the schema model's column (what the DDL is built from)."""
    return Column(
        id=column.id,
        name=column.name,
        position=column.position,
        type=ColumnType(column.data_type, column.length, column.precision, column.scale),
        nullable=column.nullable,
        default_value=column.default_value,
        primary_key_position=column.primary_key_position,
        is_unique=column.is_unique,
        checks=ColumnChecks(
            min_value=column.min_value,
            max_value=column.max_value,
            allowed_values=tuple(column.allowed_values),
            min_length=column.min_length,
            pattern=column.pattern,
        ),
    )


def condition_sql(profile: DialectProfile, condition: str) -> str:
    """An index condition (PostgreSQL, as the catalog holds it) in the dialect, every name quoted."""
    try:
        return sqlglot.transpile(condition, read="postgres", write=profile.sqlglot, identify=True)[0]
    except sqlglot.errors.SqlglotError as exc:
        raise CodegenError(f"Index condition {condition!r} is not SQL Custodian can read: {exc}") from None


def qualified(model: CodeModel, profile: DialectProfile, table: str) -> str:
    """schema.table where the dialect has schemas and the store names one, else the table."""
    return f"{model.schema}.{table}" if model.schema and profile.supports_schemas else table


def line_comment(text: str, indent: str = "", width: int = 110) -> list[str]:
    """`// Custodian: ...` lines wrapped to `width` (a line break in `text` becomes a space: it would end the
    comment)."""
    room = width - len(indent) - len("// Custodian: ")
    flat = re.sub(r"\s+", " ", text).strip()
    lines = textwrap.wrap(flat, room, break_long_words=False, break_on_hyphens=False) or [""]
    return [f"{indent}// Custodian: {lines[0]}".rstrip()] + [f"{indent}//   {line}" for line in lines[1:]]

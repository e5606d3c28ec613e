"""A snapshot as SQLAlchemy Core tables for one dialect, plus what that dialect cannot express.

SQLAlchemy compiles types, keys, checks, foreign keys and indexes per dialect; this module decides names
(deterministic, always quoted), maps catalog types and rules onto it, and records every catalog feature a
dialect lacks as a note, so the DDL says it instead of dropping it silently.
"""

import functools
import hashlib
from dataclasses import dataclass, field

import sqlalchemy as sa
import sqlglot
from sqlalchemy.sql.elements import quoted_name

from catalog.choices import TYPE_FAMILIES, DataType
from catalog.literals import ALLOWED_DEFAULT_FUNCTIONS, parse_literal
from catalog.schema.dialects import DialectProfile
from core.errors import SchemaError
from core.quoting import forced

__all__ = ["SchemaModel", "schema_model_build", "constraint_name", "AUDIT_COLUMNS", "sa_type"]

AUDIT_COLUMNS = ["created_at", "updated_at", "created_by", "updated_by", "version"]
ON_DELETE_SQL = {
    "no_action": None,
    "restrict": "RESTRICT",
    "cascade": "CASCADE",
    "set_null": "SET NULL",
    "set_default": "SET DEFAULT",
}
LARGE_TYPES = {"text", "json", "jsonb", "bytea"}


def q(name: str) -> quoted_name:
    """A name SQLAlchemy will always quote."""
    return forced(name)


def constraint_name(profile: DialectProfile, table: str, columns: list[str], suffix: str) -> str:
    """<table>_<cols>_<hash8>_<suffix>, cut to the dialect's limit (as Django names its indexes)."""
    digest = hashlib.sha256("|".join([table, *columns, suffix]).encode()).hexdigest()[:8]
    room = profile.max_identifier_bytes - len(digest) - len(suffix) - 2
    stem = f"{table}_{'_'.join(columns)}"[:room].rstrip("_")
    return f"{stem}_{digest}_{suffix}"


def sa_type(profile: DialectProfile, column: dict):
    """The SQLAlchemy type of a catalog column in a dialect (one shared instance per distinct type: SQLAlchemy
    caches its per-dialect form on the instance, which is most of the cost of compiling 20,000 columns)."""
    return _sa_type(profile.name, column["data_type"], column["length"], column["precision"], column["scale"])


@functools.lru_cache(maxsize=1024)
def _sa_type(dialect: str, data_type: str, length, precision, scale):
    column = {"length": length, "precision": precision, "scale": scale}
    if data_type == "uuid":
        return sa.Uuid() if dialect in ("postgresql", "sqlserver") else sa.CHAR(36)
    if data_type == "jsonb" and dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import JSONB

        return JSONB()
    simple = {
        "varchar": lambda: sa.String(column["length"]),
        "char": lambda: sa.CHAR(column["length"]),
        "text": sa.Text,
        "smallint": sa.SmallInteger,
        "integer": sa.Integer,
        "bigint": sa.BigInteger,
        "numeric": lambda: sa.Numeric(column["precision"], column["scale"] if column["precision"] else None),
        "real": sa.REAL,
        "double": sa.Double,
        "boolean": sa.Boolean,
        "date": sa.Date,
        "time": sa.Time,
        "timestamp": sa.DateTime,
        "timestamptz": lambda: sa.DateTime(timezone=True),
        "json": sa.JSON,
        "jsonb": sa.JSON,
        "bytea": sa.LargeBinary,
    }
    return simple[data_type]()


@dataclass
class SchemaModel:
    """The tables of a snapshot for one dialect, with notes on what the dialect could not express."""

    profile: DialectProfile
    schema: str | None
    metadata: sa.MetaData
    tables: dict = field(default_factory=dict)  # entity id -> Table
    columns: dict = field(default_factory=dict)  # column id -> (entity id, Column)
    indexes: dict = field(default_factory=dict)  # entity id -> [Index]
    notes: dict = field(default_factory=dict)  # entity id -> [str]
    partitions: dict = field(default_factory=dict)  # entity id -> partition column name

    def note(self, entity_id: str, text: str) -> None:
        self.notes.setdefault(entity_id, []).append(text)


def _default_sql(profile: DialectProfile, column: dict) -> str | None:
    """The DEFAULT expression of a column: an allowed function in this dialect's words, or a literal."""
    text = (column["default_value"] or "").strip()
    if not text:
        return None
    if text.lower() in ALLOWED_DEFAULT_FUNCTIONS:
        sql = profile.default_functions.get(text.lower())
        if sql is None:
            raise SchemaError(
                f"Column '{column['name']}': {profile.label} has no equivalent of default {text}."
            )
        return sql
    value = parse_literal(column["data_type"], column["default_value"])
    family = TYPE_FAMILIES[DataType(column["data_type"])]
    if family == "boolean":
        return profile.boolean_literals[int(value)]
    if family in ("integer", "numeric", "float"):
        return str(value)
    # Everything else is written as a quoted string literal the column's type accepts.
    return profile.literal(column["default_value"] if family == "string" else text, sa.Text())


def _build_columns(model: SchemaModel, entity_id: str, entity: dict) -> list:
    profile = model.profile
    columns = []
    ordered = sorted(entity["columns"].items(), key=lambda item: (item[1]["position"], item[0]))
    for column_id, column in ordered:
        type_ = sa_type(profile, column)
        if column["data_type"] in profile.type_notes:
            model.note(
                entity_id, f"{entity['name']}.{column['name']}: {profile.type_notes[column['data_type']]}"
            )
        default = _default_sql(profile, column)
        sa_column = sa.Column(
            q(column["name"]),
            type_,
            nullable=column["nullable"],
            autoincrement=False,
            server_default=sa.text(default) if default else None,
            comment=(column["description"] or None) if profile.supports_comments else None,
        )
        columns.append((column_id, column, sa_column))
    return columns


def _audit_columns(profile: DialectProfile) -> list[sa.Column]:
    now = sa.text(profile.default_functions["now()"])
    updated_default = (
        sa.text("CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP") if profile.name == "mysql" else now
    )
    return [
        sa.Column(q("created_at"), sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column(
            q("updated_at"), sa.DateTime(timezone=True), nullable=False, server_default=updated_default
        ),
        sa.Column(q("created_by"), sa.String(150)),
        sa.Column(q("updated_by"), sa.String(150)),
        sa.Column(q("version"), sa.Integer(), nullable=False, server_default=sa.text("1")),
    ]


def _checks(model: SchemaModel, entity_id: str, table: sa.Table, columns) -> None:
    profile = model.profile
    for _column_id, column, sa_column in columns:
        name, data_type = column["name"], column["data_type"]
        col = table.c[name]

        def add(expression, suffix, col_name=name):
            table.append_constraint(
                sa.CheckConstraint(
                    expression, name=q(constraint_name(profile, table.name, [col_name], suffix))
                )
            )

        if column["min_value"]:
            add(col >= sa.literal(parse_literal(data_type, column["min_value"]), sa_column.type), "min")
        if column["max_value"]:
            add(col <= sa.literal(parse_literal(data_type, column["max_value"]), sa_column.type), "max")
        if column["allowed_values"]:
            values = [parse_literal(data_type, str(v)) for v in column["allowed_values"]]
            add(col.in_([sa.literal(v, sa_column.type) for v in values]), "in")
        if column["min_length"] is not None:
            add(sa.func.__getattr__(profile.length_function)(col) >= column["min_length"], "len")
        if column["pattern"]:
            if profile.supports_regex_check:
                add(col.regexp_match(column["pattern"]), "re")
            else:
                model.note(
                    entity_id,
                    f"{table.name}.{name}: {profile.label} has no regular expressions in CHECK constraints; "
                    f"pattern {column['pattern']!r} is not enforced by the database.",
                )


def _primary_and_unique(model: SchemaModel, entity_id: str, table: sa.Table, columns) -> None:
    profile = model.profile
    key = sorted((c["primary_key_position"], c["name"]) for _i, c, _s in columns if c["primary_key_position"])
    if key:
        names = [name for _p, name in key]
        table.append_constraint(
            sa.PrimaryKeyConstraint(
                *[q(n) for n in names], name=q(constraint_name(profile, table.name, names, "pk"))
            )
        )
    for _column_id, column, _sa_column in columns:
        if column["is_unique"] and not (column["primary_key_position"] and len(key) == 1):
            table.append_constraint(
                sa.UniqueConstraint(
                    q(column["name"]), name=q(constraint_name(profile, table.name, [column["name"]], "uniq"))
                )
            )
    if profile.name in ("mysql", "sqlserver"):
        keyed = {n for _p, n in key} | {c["name"] for _i, c, _s in columns if c["is_unique"]}
        large = [c["name"] for _i, c, _s in columns if c["name"] in keyed and c["data_type"] in LARGE_TYPES]
        if large:
            raise SchemaError(
                f"Entity '{table.name}': {profile.label} cannot key or make unique the "
                f"{', '.join(large)} column(s) of unbounded type; use varchar(n)."
            )


def _partition(model: SchemaModel, entity_id: str, entity: dict, table: sa.Table) -> None:
    column_id = entity["partition_column_id"]
    if not column_id:
        return
    column = entity["columns"][column_id]["name"]
    if not model.profile.supports_partitioning:
        model.note(
            entity_id,
            f"{model.profile.label} DDL has no range partitioning here; the table is not "
            f"partitioned on {column}.",
        )
        return
    for constraint in table.constraints:
        if isinstance(constraint, sa.UniqueConstraint) and column not in constraint.columns.keys():
            raise SchemaError(
                f"Entity '{table.name}' is partitioned on {column}, so each unique key must include "
                f"it; {constraint.name} does not."
            )
    table.dialect_kwargs["postgresql_partition_by"] = f"RANGE ({model.profile.quote(column)})"
    model.partitions[entity_id] = column


def _foreign_keys(model: SchemaModel, snapshot: dict, focus: set[str] | None) -> None:
    profile = model.profile
    for entity_id, entity in sorted(snapshot["entities"].items()):
        if focus is not None and entity_id not in focus:
            continue
        table = model.tables[entity_id]
        for _column_id, column in sorted(entity["columns"].items()):
            target_id = column["references_id"]
            if not target_id:
                continue
            if target_id not in model.columns:
                raise SchemaError(
                    f"Column '{entity['name']}.{column['name']}' references a column outside "
                    "this data store's snapshot."
                )
            _target_entity, target = model.columns[target_id]
            on_delete = ON_DELETE_SQL[column["on_delete"]]
            if on_delete == "RESTRICT" and profile.name == "sqlserver":
                model.note(
                    entity_id,
                    f"{entity['name']}.{column['name']}: SQL Server has no ON DELETE RESTRICT; NO ACTION "
                    "refuses the delete the same way.",
                )
                on_delete = None
            table.append_constraint(
                sa.ForeignKeyConstraint(
                    [table.c[column["name"]]],
                    [target],
                    ondelete=on_delete,
                    name=q(constraint_name(profile, table.name, [column["name"]], "fk")),
                )
            )


def _condition_sql(model: SchemaModel, condition: str) -> str:
    return sqlglot.transpile(condition, read="postgres", write=model.profile.sqlglot, identify=True)[0]


def _indexes(model: SchemaModel, entity_id: str, entity: dict, table: sa.Table) -> None:
    profile = model.profile
    names = {cid: c["name"] for cid, c in entity["columns"].items()}
    result = []
    for _index_id, index in sorted(entity["indexes"].items(), key=lambda item: item[1]["name"]):
        if not index["columns"]:
            model.note(entity_id, f"index {index['name']} has no columns and is left out.")
            continue
        if index.get("is_constraint"):
            # Kept as the database had it: a table constraint, compared and migrated with the other keys.
            columns = [table.c[names[cid]] for cid, _order in index["columns"]]
            table.append_constraint(sa.UniqueConstraint(*columns, name=q(index["name"])))
            continue
        keys = [
            table.c[names[cid]].desc() if order == "desc" else table.c[names[cid]]
            for cid, order in index["columns"]
        ]
        options = {}
        if index["condition"]:
            if profile.supports_partial_index:
                options[f"{profile.sqla.name}_where"] = sa.text(_condition_sql(model, index["condition"]))
            elif index["is_unique"]:
                model.note(
                    entity_id,
                    f"index {index['name']}: {profile.label} has no partial indexes; a unique "
                    f"index WHERE {index['condition']} cannot be expressed and is left out.",
                )
                continue
            else:
                model.note(
                    entity_id,
                    f"index {index['name']}: {profile.label} has no partial indexes; it covers "
                    f"all rows, not only WHERE {index['condition']}.",
                )
        if index["include"]:
            included = [q(names[cid]) for cid in index["include"]]
            if profile.supports_index_include:
                options[f"{profile.sqla.name}_include"] = included
            else:
                model.note(
                    entity_id,
                    f"index {index['name']}: {profile.label} has no INCLUDE columns; "
                    f"{', '.join(names[c] for c in index['include'])} are not included.",
                )
        if index["method"] != "btree":
            if profile.supports_index_method:
                options["postgresql_using"] = index["method"]
            else:
                model.note(
                    entity_id,
                    f"index {index['name']}: {profile.label} has no {index['method']} "
                    "method; a default index is created.",
                )
        result.append(sa.Index(q(index["name"]), *keys, unique=index["is_unique"], **options))
    model.indexes[entity_id] = result


def schema_model_build(snapshot: dict, profile: DialectProfile, focus: set[str] | None = None) -> SchemaModel:
    """The snapshot's tables for `profile`; SchemaError when the dialect cannot express the catalog.

    With `focus`, only those entities get their keys, checks, indexes and foreign keys; the other tables are
    there as foreign-key targets (a migration builds just the changed part of a large catalog).
    """
    schema = snapshot["datastore"].get("schema") or None
    if not profile.supports_schemas:
        schema = None
    model = SchemaModel(profile=profile, schema=schema, metadata=sa.MetaData())
    columns_by_entity = {}
    for entity_id, entity in sorted(snapshot["entities"].items(), key=lambda item: item[1]["name"]):
        columns = _build_columns(model, entity_id, entity)
        extra = _audit_columns(profile) if entity["has_audit_columns"] else []
        table = sa.Table(
            q(entity["name"]),
            model.metadata,
            *[c for _i, _c, c in columns],
            *extra,
            schema=q(schema) if schema else None,
            comment=(entity["description"] or None) if profile.supports_comments else None,
        )
        model.tables[entity_id] = table
        for column_id, _column, sa_column in columns:
            model.columns[column_id] = (entity_id, sa_column)
        columns_by_entity[entity_id] = columns
    for entity_id, entity in sorted(snapshot["entities"].items()):
        if focus is not None and entity_id not in focus:
            continue
        table = model.tables[entity_id]
        columns = columns_by_entity[entity_id]
        _primary_and_unique(model, entity_id, table, columns)
        _checks(model, entity_id, table, columns)
        _partition(model, entity_id, entity, table)
        _indexes(model, entity_id, entity, table)
    _foreign_keys(model, snapshot, focus)
    return model

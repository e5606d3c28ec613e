"""A schema model as SQLAlchemy Core tables for one dialect, plus what that dialect cannot express.

SQLAlchemy compiles types, keys, checks, foreign keys and indexes per dialect; this module decides names
(deterministic, always quoted), maps catalog types and rules onto it, and records every catalog feature a
dialect lacks as a note, so the DDL says it instead of dropping it silently. What differs between dialects
is asked of the DialectProfile (dialects.py), never decided here by the dialect's name.
"""

import functools
import hashlib
from dataclasses import dataclass, field

import sqlalchemy as sa
import sqlglot
from sqlalchemy.sql.elements import quoted_name

from catalog.literals import ALLOWED_DEFAULT_FUNCTIONS, parse_literal
from catalog.schema.dialects import DialectProfile
from catalog.schema.model import Column, ColumnType, SchemaModel, Table
from core.errors import SchemaError
from core.quoting import forced

__all__ = [
    "SchemaTables",
    "schema_tables_build",
    "constraint_name",
    "AUDIT_COLUMNS",
    "ON_DELETE_SQL",
    "sa_type",
    "base_type",
    "default_sql",
    "q",
]

AUDIT_COLUMNS = ["created_at", "updated_at", "created_by", "updated_by", "version"]
# Catalog referential action -> SQL, for ON DELETE and ON UPDATE alike.
ON_DELETE_SQL = {
    "no_action": None,
    "restrict": "RESTRICT",
    "cascade": "CASCADE",
    "set_null": "SET NULL",
    "set_default": "SET DEFAULT",
}
LARGE_TYPES = {"text", "json", "jsonb", "bytea"}

# Catalog type -> SQLAlchemy type in every dialect, unless the profile stores it natively.
_PORTABLE_TYPES = {
    "uuid": lambda t: sa.CHAR(36),
    "varchar": lambda t: sa.String(t.length),
    "char": lambda t: sa.CHAR(t.length),
    "text": lambda t: sa.Text(),
    "smallint": lambda t: sa.SmallInteger(),
    "integer": lambda t: sa.Integer(),
    "bigint": lambda t: sa.BigInteger(),
    "numeric": lambda t: sa.Numeric(t.precision, t.scale if t.precision else None),
    "real": lambda t: sa.REAL(),
    "double": lambda t: sa.Double(),
    "boolean": lambda t: sa.Boolean(),
    "date": lambda t: sa.Date(),
    "time": lambda t: sa.Time(),
    "timestamp": lambda t: sa.DateTime(),
    "timestamptz": lambda t: sa.DateTime(timezone=True),
    "json": lambda t: sa.JSON(),
    "jsonb": lambda t: sa.JSON(),
    "bytea": lambda t: sa.LargeBinary(),
}


def q(name: str) -> quoted_name:
    """A name SQLAlchemy will always quote."""
    return forced(name)


def constraint_name(profile: DialectProfile, table: str, columns: list[str], suffix: str) -> str:
    """<table>_<cols>_<hash8>_<suffix>, cut to the dialect's limit (as Django names its indexes)."""
    digest = hashlib.sha256("|".join([table, *columns, suffix]).encode()).hexdigest()[:8]
    room = profile.max_identifier_bytes - len(digest) - len(suffix) - 2
    stem = f"{table}_{'_'.join(columns)}"[:room].rstrip("_")
    return f"{stem}_{digest}_{suffix}"


def sa_type(profile: DialectProfile, column: ColumnType | Column):
    """The SQLAlchemy type of a catalog type in a dialect (one shared instance per distinct type: SQLAlchemy
    caches its per-dialect form on the instance, which is most of the cost of compiling 20,000 columns).

    `column` is a ColumnType or a model Column.
    """
    if isinstance(column, Column):
        column = column.type
    return _sa_type(profile, column)


@functools.lru_cache(maxsize=1024)
def _sa_type_cached(profile_key: str, column_type: ColumnType, native) -> sa.types.TypeEngine:
    return native() if native else _PORTABLE_TYPES[column_type.name](column_type)


def _sa_type(profile: DialectProfile, column_type: ColumnType) -> sa.types.TypeEngine:
    # Profiles are not hashable (they hold dicts); their name keys the cache.
    return _sa_type_cached(profile.name, column_type, profile.native_types.get(column_type.name))


@dataclass
class SchemaTables:
    """A schema model's tables for one dialect, with notes on what the dialect could not express."""

    profile: DialectProfile
    model: SchemaModel
    schema: str | None
    metadata: sa.MetaData
    tables: dict = field(default_factory=dict)  # table id -> sa.Table
    columns: dict = field(default_factory=dict)  # column id -> (table id, sa.Column)
    indexes: dict = field(default_factory=dict)  # table id -> [sa.Index]
    notes: dict = field(default_factory=dict)  # table id -> [str]
    partitions: dict = field(default_factory=dict)  # table id -> partition column name
    table_options: dict = field(default_factory=dict)  # table id -> SQLAlchemy dialect kwargs of the table

    def note(self, table_id: str, text: str) -> None:
        self.notes.setdefault(table_id, []).append(text)


def _default_sql(profile: DialectProfile, column: Column) -> str | None:
    """The DEFAULT expression of a column: an allowed function in this dialect's words, or a literal."""
    text = (column.default_value or "").strip()
    if not text:
        return None
    if text.lower() in ALLOWED_DEFAULT_FUNCTIONS:
        sql = profile.default_functions.get(text.lower())
        if sql is None:
            raise SchemaError(f"Column '{column.name}': {profile.label} has no equivalent of default {text}.")
        return sql
    value = parse_literal(column.data_type, column.default_value)
    family = column.type.family
    if family == "boolean":
        return profile.boolean_literals[int(value)]
    if family in ("integer", "numeric", "float"):
        return str(value)
    # Everything else is written as a quoted string literal the column's type accepts.
    return profile.literal(column.default_value if family == "string" else text, sa.Text())


def _build_columns(tables: SchemaTables, table: Table) -> list[tuple[Column, sa.Column]]:
    profile = tables.profile
    _check_generated_count(profile, table)
    columns = []
    for column in table.columns:
        if column.data_type in profile.type_notes:
            tables.note(table.id, f"{table.name}.{column.name}: {profile.type_notes[column.data_type]}")
        default = _default_sql(profile, column)
        column_type = _sa_type(profile, column.type)
        generated = None
        if column.generation is not None:
            generated = _GENERATORS[profile.key_generation](tables, table, column, column_type)
        sa_column = sa.Column(
            q(column.name),
            generated.type if generated else column_type,
            *([generated.identity] if generated and generated.identity is not None else []),
            nullable=column.nullable,
            autoincrement=bool(generated and generated.autoincrement),
            server_default=sa.text(default) if default else None,
            comment=(column.description or None) if profile.supports_comments else None,
            # What drift and migrations compare: the plain type, and the generation as the database says it.
            info={
                "base_type": column_type if generated is None or generated.is_serial else generated.type,
                "generation": column.generation,
                "live_generation": generated.live if generated else "",
            },
        )
        columns.append((column, sa_column))
    return columns


def base_type(column: sa.Column) -> sa.types.TypeEngine:
    """A built column's type without its key generation (SERIAL is an integer)."""
    return column.info.get("base_type", column.type)


def default_sql(column: sa.Column) -> str | None:
    """A built column's DEFAULT expression (an identity is none: it is the column's key generation)."""
    default = column.server_default
    if default is None or isinstance(default, sa.Identity):
        return None
    return str(default.arg)


# --- Key generation, one generator per `DialectProfile.key_generation` --------------------------------


class _SerialType(sa.types.UserDefinedType):
    """PostgreSQL's serial pseudo-types: the sequence <table>_<column>_seq, owned by the column, and its
    nextval default, exactly as a database created with `serial` has them."""

    cache_ok = True

    def __init__(self, spelling: str):
        self.spelling = spelling

    def get_col_spec(self, **kw) -> str:
        return self.spelling


@dataclass(frozen=True)
class _Generated:
    """A generated column's SQLAlchemy parts: its type, Identity, autoincrement flag, and the generation as
    the dialect's reflection reports it."""

    type: sa.types.TypeEngine
    identity: sa.Identity | None = None
    autoincrement: bool = False
    live: str = ""

    @property
    def is_serial(self) -> bool:
        """A serial pseudo-type, which stands for the integer type it creates."""
        return isinstance(self.type, _SerialType)


def _check_generated_count(profile: DialectProfile, table: Table) -> None:
    generated = [c.name for c in table.columns if c.generation is not None]
    if profile.generated_per_table is not None and len(generated) > profile.generated_per_table:
        raise SchemaError(
            f"Entity '{table.name}': {profile.label} generates values for at most "
            f"{profile.generated_per_table} column per table; {', '.join(generated)} all ask for it."
        )


def _generation_notes(tables: SchemaTables, table: Table, column: Column, kept: set[str]) -> None:
    """Notes for what the dialect cannot say of an identity: its mode, or options it has no words for."""
    profile, generation = tables.profile, column.generation
    where = f"{table.name}.{column.name}"
    mode = "by_default" if generation.kind == "serial" else generation.kind
    if mode not in profile.identity_modes:
        if mode == "always":
            tables.note(
                table.id,
                f"{where}: {profile.label} cannot enforce GENERATED ALWAYS; an insert that gives a value "
                "keeps it.",
            )
        else:
            tables.note(
                table.id,
                f"{where}: {profile.label} refuses a given value for a generated column (as GENERATED "
                "ALWAYS) unless the session allows it.",
            )
    dropped = [f"{name} {value}" for name, value in generation.options if name not in kept]
    if dropped:
        tables.note(
            table.id, f"{where}: {profile.label} cannot say the sequence options {', '.join(dropped)}."
        )


def _identity(tables: SchemaTables, table: Table, column: Column, column_type) -> _Generated:
    profile, generation = tables.profile, column.generation
    live = profile.live_generation[generation.kind]
    if generation.kind == "serial" and column.data_type in profile.serial_types:
        return _Generated(_SerialType(profile.serial_types[column.data_type]), live=live)
    _generation_notes(tables, table, column, profile.identity_options)
    options = {name: value for name, value in generation.options if name in profile.identity_options}
    return _Generated(column_type, sa.Identity(always=generation.is_always, **options), True, live)


def _auto_increment(tables: SchemaTables, table: Table, column: Column, column_type) -> _Generated:
    profile, generation = tables.profile, column.generation
    # InnoDB needs the counter first in an index; the catalog's is the primary key.
    if column.primary_key_position != 1:
        raise SchemaError(
            f"Column '{table.name}.{column.name}': {profile.label} generates values (AUTO_INCREMENT) only "
            "for the first column of the primary key; make it that or drop its key generation."
        )
    _generation_notes(tables, table, column, profile.identity_options)
    start = generation.option("start")
    if start != 1:
        tables.table_options.setdefault(table.id, {})[f"{profile.sqla.name}_auto_increment"] = str(start)
    return _Generated(column_type, None, True, profile.live_generation[generation.kind])


def _rowid(tables: SchemaTables, table: Table, column: Column, column_type) -> _Generated:
    profile = tables.profile
    where = f"{table.name}.{column.name}"
    if [c.id for c in table.primary_key] != [column.id]:
        tables.note(
            table.id,
            f"{where}: {profile.label} generates values only for a table's single INTEGER PRIMARY KEY "
            "column; this column is not generated.",
        )
        return _Generated(column_type)
    _generation_notes(tables, table, column, profile.identity_options)
    tables.table_options.setdefault(table.id, {})[f"{profile.sqla.name}_autoincrement"] = True
    # Only the type INTEGER makes the column the rowid (which is 64 bits whatever the catalog's width).
    return _Generated(sa.Integer(), None, True, profile.live_generation[column.generation.kind])


_GENERATORS = {"identity": _identity, "auto_increment": _auto_increment, "rowid": _rowid}


def _audit_columns(profile: DialectProfile) -> list[sa.Column]:
    now = sa.text(profile.default_functions["now()"])
    updated_default = sa.text(profile.updated_at_default) if profile.updated_at_default else now
    return [
        sa.Column(q("created_at"), sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column(
            q("updated_at"), sa.DateTime(timezone=True), nullable=False, server_default=updated_default
        ),
        sa.Column(q("created_by"), sa.String(150)),
        sa.Column(q("updated_by"), sa.String(150)),
        sa.Column(q("version"), sa.Integer(), nullable=False, server_default=sa.text("1")),
    ]


def _checks(tables: SchemaTables, table: Table, sa_table: sa.Table, columns) -> None:
    profile = tables.profile
    for column, sa_column in columns:
        name, data_type, checks = column.name, column.data_type, column.checks
        col = sa_table.c[name]

        def add(expression, suffix, col_name=name):
            sa_table.append_constraint(
                sa.CheckConstraint(
                    expression, name=q(constraint_name(profile, sa_table.name, [col_name], suffix))
                )
            )

        if checks.min_value:
            add(col >= sa.literal(parse_literal(data_type, checks.min_value), sa_column.type), "min")
        if checks.max_value:
            add(col <= sa.literal(parse_literal(data_type, checks.max_value), sa_column.type), "max")
        if checks.allowed_values:
            values = [parse_literal(data_type, str(v)) for v in checks.allowed_values]
            add(col.in_([sa.literal(v, sa_column.type) for v in values]), "in")
        if checks.min_length is not None:
            add(sa.func.__getattr__(profile.length_function)(col) >= checks.min_length, "len")
        if checks.pattern:
            if profile.supports_regex_check:
                add(col.regexp_match(checks.pattern), "re")
            else:
                tables.note(
                    table.id,
                    f"{sa_table.name}.{name}: {profile.label} has no regular expressions in CHECK "
                    f"constraints; pattern {checks.pattern!r} is not enforced by the database.",
                )


def _primary_and_unique(tables: SchemaTables, table: Table, sa_table: sa.Table) -> None:
    profile = tables.profile
    key = [column.name for column in table.primary_key]
    if key:
        sa_table.append_constraint(
            sa.PrimaryKeyConstraint(
                *[q(n) for n in key], name=q(constraint_name(profile, sa_table.name, key, "pk"))
            )
        )
    for column in table.columns:
        if column.is_unique and not (column.primary_key_position and len(key) == 1):
            sa_table.append_constraint(
                sa.UniqueConstraint(
                    q(column.name), name=q(constraint_name(profile, sa_table.name, [column.name], "uniq"))
                )
            )
    if not profile.supports_unbounded_keys:
        keyed = set(key) | {c.name for c in table.columns if c.is_unique}
        large = [c.name for c in table.columns if c.name in keyed and c.data_type in LARGE_TYPES]
        if large:
            raise SchemaError(
                f"Entity '{sa_table.name}': {profile.label} cannot key or make unique the "
                f"{', '.join(large)} column(s) of unbounded type; use varchar(n)."
            )


def _partition(tables: SchemaTables, table: Table, sa_table: sa.Table) -> None:
    if table.partitioning is None:
        return
    column = table.column(table.partitioning.column_id).name
    if not tables.profile.supports_partitioning:
        tables.note(
            table.id,
            f"{tables.profile.label} DDL has no range partitioning here; the table is not "
            f"partitioned on {column}.",
        )
        return
    for constraint in sa_table.constraints:
        if isinstance(constraint, sa.UniqueConstraint) and column not in constraint.columns.keys():
            raise SchemaError(
                f"Entity '{sa_table.name}' is partitioned on {column}, so each unique key must include "
                f"it; {constraint.name} does not."
            )
    sa_table.dialect_kwargs[f"{tables.profile.sqla.name}_partition_by"] = (
        f"RANGE ({tables.profile.quote(column)})"
    )
    tables.partitions[table.id] = column


def _foreign_keys(tables: SchemaTables, focus: set[str] | None) -> None:
    profile = tables.profile
    for table in sorted(tables.model.tables, key=lambda t: t.id):
        if focus is not None and table.id not in focus:
            continue
        sa_table = tables.tables[table.id]
        for foreign_key in table.foreign_keys:
            names = [table.column(column_id).name for column_id in foreign_key.column_ids]
            where = f"{table.name}.{', '.join(names)}"
            if not all(target in tables.columns for target in foreign_key.target_column_ids):
                raise SchemaError(f"Column '{where}' references a column outside this data store's snapshot.")
            sa_table.append_constraint(
                sa.ForeignKeyConstraint(
                    [sa_table.c[name] for name in names],
                    [tables.columns[target][1] for target in foreign_key.target_column_ids],
                    ondelete=_action(tables, table, where, "DELETE", foreign_key.on_delete),
                    onupdate=_action(tables, table, where, "UPDATE", foreign_key.on_update),
                    **_deferrability(tables, table, where, foreign_key),
                    name=q(constraint_name(profile, sa_table.name, names, "fk")),
                )
            )


def _action(tables: SchemaTables, table: Table, where: str, event: str, action: str) -> str | None:
    """The ON DELETE / ON UPDATE clause this dialect can say (None: NO ACTION, the default)."""
    profile, action_sql = tables.profile, ON_DELETE_SQL[action]
    if action_sql == "RESTRICT" and not profile.supports_restrict_action:
        tables.note(
            table.id,
            f"{where}: {profile.label} has no ON {event} RESTRICT; NO ACTION refuses the {event.lower()} "
            "the same way.",
        )
        return None
    if action_sql == "SET DEFAULT" and not profile.supports_set_default_action:
        # Any other action would change what the key does, and InnoDB refuses a table that says this one.
        raise SchemaError(
            f"Column '{where}': {profile.label} (InnoDB) refuses ON {event} SET DEFAULT; choose another "
            f"ON {event} action for this column, or another dialect."
        )
    return action_sql


def _deferrability(tables: SchemaTables, table: Table, where: str, foreign_key) -> dict:
    """DEFERRABLE / INITIALLY DEFERRED where the dialect has them; a note saying what was left out if not."""
    if not foreign_key.is_deferrable:
        return {}
    profile = tables.profile
    if not profile.supports_deferrable:
        initially = "INITIALLY DEFERRED" if foreign_key.initially_deferred else "INITIALLY IMMEDIATE"
        tables.note(
            table.id,
            f"{where}: {profile.label} has no DEFERRABLE foreign keys; this one ({initially} in the catalog) "
            "is checked at each statement.",
        )
        return {}
    return {"deferrable": True, "initially": "DEFERRED" if foreign_key.initially_deferred else "IMMEDIATE"}


def _condition_sql(profile: DialectProfile, condition: str) -> str:
    return sqlglot.transpile(condition, read="postgres", write=profile.sqlglot, identify=True)[0]


def _index_options(tables: SchemaTables, table: Table, index) -> dict | None:
    """The dialect options of an index (WHERE, INCLUDE, USING); None when it cannot be created at all."""
    profile, dialect = tables.profile, tables.profile.sqla.name
    options = {}
    if index.condition:
        if profile.supports_partial_index:
            options[f"{dialect}_where"] = sa.text(_condition_sql(profile, index.condition))
        elif index.is_unique:
            tables.note(
                table.id,
                f"index {index.name}: {profile.label} has no partial indexes; a unique "
                f"index WHERE {index.condition} cannot be expressed and is left out.",
            )
            return None
        else:
            tables.note(
                table.id,
                f"index {index.name}: {profile.label} has no partial indexes; it covers "
                f"all rows, not only WHERE {index.condition}.",
            )
    if index.include:
        included = [table.column(column_id).name for column_id in index.include]
        if profile.supports_index_include:
            options[f"{dialect}_include"] = [q(name) for name in included]
        else:
            tables.note(
                table.id,
                f"index {index.name}: {profile.label} has no INCLUDE columns; "
                f"{', '.join(included)} are not included.",
            )
    if index.method != "btree":
        if profile.supports_index_method:
            options[f"{dialect}_using"] = index.method
        else:
            tables.note(
                table.id,
                f"index {index.name}: {profile.label} has no {index.method} method; "
                "a default index is created.",
            )
    return options


def _indexes(tables: SchemaTables, table: Table, sa_table: sa.Table) -> None:
    result = []
    for index in table.indexes:
        if not index.keys:
            tables.note(table.id, f"index {index.name} has no columns and is left out.")
            continue
        columns = [sa_table.c[table.column(key.column_id).name] for key in index.keys]
        if index.is_constraint:
            # Kept as the database had it: a table constraint, compared and migrated with the other keys.
            sa_table.append_constraint(sa.UniqueConstraint(*columns, name=q(index.name)))
            continue
        options = _index_options(tables, table, index)
        if options is None:
            continue
        keys = [
            column.desc() if key.descending else column
            for key, column in zip(index.keys, columns, strict=True)
        ]
        result.append(sa.Index(q(index.name), *keys, unique=index.is_unique, **options))
    tables.indexes[table.id] = result


def schema_tables_build(
    model: SchemaModel, profile: DialectProfile, focus: set[str] | None = None
) -> SchemaTables:
    """The model's tables for `profile`; SchemaError when the dialect cannot express the catalog.

    With `focus`, only those tables get their keys, checks, indexes and foreign keys; the other tables are
    there as foreign-key targets (a migration builds just the changed part of a large catalog).
    """
    schema = (model.store.schema or None) if profile.supports_schemas else None
    tables = SchemaTables(profile=profile, model=model, schema=schema, metadata=sa.MetaData())
    columns_by_table = {}
    for table in model.tables:
        columns = _build_columns(tables, table)
        sa_table = sa.Table(
            q(table.name),
            tables.metadata,
            *[sa_column for _column, sa_column in columns],
            *(_audit_columns(profile) if table.has_audit_columns else []),
            schema=q(schema) if schema else None,
            comment=(table.description or None) if profile.supports_comments else None,
            **tables.table_options.get(table.id, {}),
        )
        tables.tables[table.id] = sa_table
        for column, sa_column in columns:
            tables.columns[column.id] = (table.id, sa_column)
        columns_by_table[table.id] = columns
    for table in sorted(model.tables, key=lambda t: t.id):
        if focus is not None and table.id not in focus:
            continue
        sa_table = tables.tables[table.id]
        _primary_and_unique(tables, table, sa_table)
        _checks(tables, table, sa_table, columns_by_table[table.id])
        _partition(tables, table, sa_table)
        _indexes(tables, table, sa_table)
    _foreign_keys(tables, focus)
    return tables


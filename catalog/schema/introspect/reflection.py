"""Reflection: a live database read through SQLAlchemy's inspector into a neutral, typed description.

`live_tables_read` reads every table of a schema with SQLAlchemy's multi-table reflection, one query per
kind of object (columns, keys, constraints, indexes, comments) whatever the number of tables, and returns
`LiveTable`s: columns, primary key, foreign keys, unique and check constraints and indexes as frozen
dataclasses in the database's own terms. Nothing here knows the catalog's models; `type_sql` and
`catalog_type` say a reflected type as the dialect writes it and as the catalog names it. drift.py and the
introspection writer both read this description.

A new kind of database object is one more field or record: an identity's options on LiveColumn, an enum
or array type, a composite or deferrable foreign key (LiveForeignKey already keeps every column and its
options), a partition bound on LiveTable, an expression key on LiveIndex.
"""

import re
from collections import defaultdict
from dataclasses import dataclass, replace

import sqlalchemy as sa

from catalog.choices import DataType
from catalog.schema.history_table import bookkeeping_tables

__all__ = [
    "LiveColumn",
    "LiveForeignKey",
    "LiveUniqueConstraint",
    "LiveCheck",
    "LiveIndex",
    "LiveTable",
    "live_tables_read",
    "type_sql",
    "catalog_type",
    "identity_options_read",
]


@dataclass(frozen=True)
class LiveColumn:
    """A column as the database has it: its reflected SQLAlchemy type, nullability, DEFAULT text, comment."""

    name: str
    type: sa.types.TypeEngine
    nullable: bool = True
    default: str | None = None  # the DEFAULT expression as the database writes it
    comment: str | None = None
    # Key generation in the dialect's words: serial, always, by_default (PostgreSQL), identity (SQL Server),
    # auto_increment (MySQL); "" for none or where the dialect does not say (SQLite).
    generation: str = ""
    identity_options: tuple = ()  # (name, value) of an identity's sequence options that are not defaults
    # A serial's sequence, or the sequence of a nextval() default the column does not own.
    sequence: str | None = None
    owns_sequence: bool = False

    @property
    def identity(self) -> bool:
        """GENERATED ... AS IDENTITY (or SQL Server's IDENTITY)."""
        return self.generation in ("always", "by_default", "identity")

    generated: str | None = None  # the expression of a GENERATED ALWAYS AS (...) column


@dataclass(frozen=True)
class LiveForeignKey:
    """A FOREIGN KEY: `columns` of the table point at `referred_columns` of `referred_table`; `options`
    holds what SQLAlchemy reflects beside them (ondelete, onupdate, deferrable, initially, match)."""

    name: str | None
    columns: tuple[str, ...]
    referred_table: str
    referred_columns: tuple[str, ...]
    referred_schema: str | None = None
    options: dict | None = None

    @property
    def on_delete(self) -> str | None:
        """ON DELETE in upper case (CASCADE, SET NULL ...); None when the database says none."""
        return ((self.options or {}).get("ondelete") or "").upper() or None

    @property
    def on_update(self) -> str | None:
        """ON UPDATE in upper case; None when the database says none."""
        return ((self.options or {}).get("onupdate") or "").upper() or None


@dataclass(frozen=True)
class LiveUniqueConstraint:
    """A UNIQUE constraint over `columns` (with PostgreSQL's INCLUDE and NULLS NOT DISTINCT)."""

    name: str | None
    columns: tuple[str, ...]
    include: tuple[str, ...] = ()
    nulls_not_distinct: bool = False

    def as_index(self) -> "LiveIndex":
        """The constraint as the catalog keeps a multi-column one: a unique index marked as a constraint."""
        return LiveIndex(
            name=self.name,
            columns=self.columns,
            unique=True,
            include=self.include,
            unsupported=("NULLS NOT DISTINCT",) if self.nulls_not_distinct else (),
            is_constraint=True,
        )


@dataclass(frozen=True)
class LiveCheck:
    """A CHECK constraint: its name (None where the dialect reports none) and its SQL."""

    name: str | None
    sqltext: str


@dataclass(frozen=True)
class LiveIndex:
    """An index as the database has it, in dialect-neutral terms."""

    name: str
    columns: tuple  # key column names in order; None where the key is an expression
    descending: frozenset | None = frozenset()  # None: the dialect does not report the order (SQLite)
    unique: bool = False
    method: str = "btree"
    condition: str | None = None
    include: tuple = ()
    backs_constraint: bool = False  # the index of a PRIMARY KEY or UNIQUE constraint
    is_constraint: bool = False  # a multi-column UNIQUE constraint, read as the index the catalog keeps
    unsupported: tuple = ()  # what neither the catalog nor a release can say (operator classes, ...)


@dataclass
class LiveTable:
    """One table as the database has it: reflected columns in order, keys, constraints and indexes."""

    name: str
    comment: str | None
    columns: list[LiveColumn]
    primary_key: list[str]
    foreign_keys: list[LiveForeignKey]
    unique_constraints: list[LiveUniqueConstraint]
    check_constraints: list[LiveCheck]
    indexes: list[LiveIndex]
    partition_key: str | None = None
    partitions: tuple[tuple[str, str], ...] = ()  # (name, bound) of each partition, read but not modelled


_POSTGRESQL_PARTITIONS = sa.text(
    "SELECT c.relname AS name, c.relispartition AS is_partition, "
    "CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END AS partition_key, "
    "p.relname AS parent, pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS bound "
    "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_catalog.pg_inherits i ON c.relispartition AND i.inhrelid = c.oid "
    "LEFT JOIN pg_catalog.pg_class p ON p.oid = i.inhparent "
    "WHERE n.nspname = coalesce(:schema, current_schema()) AND (c.relispartition OR c.relkind = 'p') "
    "ORDER BY c.relname"
)


def _postgresql_partitions(connection: sa.Connection, schema: str | None) -> tuple[set, dict, dict]:
    """Partitions of partitioned tables (not tables of their own), each partitioned table's key, and each
    one's partitions as (name, bound)."""
    rows = connection.execute(_POSTGRESQL_PARTITIONS, {"schema": schema}).all()
    by_parent = defaultdict(list)
    for r in rows:
        if r.is_partition:
            by_parent[r.parent].append((r.name, r.bound))
    return (
        {r.name for r in rows if r.is_partition},
        {r.name: r.partition_key for r in rows if r.partition_key},
        by_parent,
    )


def _no_partitions(connection: sa.Connection, schema: str | None) -> tuple[set, dict, dict]:
    return set(), {}, {}


# SQLAlchemy reflects partitions as plain tables; only PostgreSQL has them among our dialects.
_PARTITION_READERS = {"postgresql": _postgresql_partitions}
# Dialects whose index reflection reports DESC keys (as `column_sorting`, left out when all are ascending).
INDEX_ORDER_REFLECTED = {"postgresql"}


_POSTGRESQL_OWNED_SEQUENCES = sa.text(
    "SELECT c.relname AS table_name, a.attname AS column_name, s.relname AS sequence_name "
    "FROM pg_catalog.pg_depend d "
    "JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
    "JOIN pg_catalog.pg_class c ON c.oid = d.refobjid "
    "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.refobjsubid "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass "
    "AND d.deptype = 'a' AND n.nspname = coalesce(:schema, current_schema())"
)


def _postgresql_owned_sequences(connection: sa.Connection, schema: str | None) -> dict:
    """{(table, column): sequence} of the sequences a column owns (OWNED BY, as serial makes them)."""
    rows = connection.execute(_POSTGRESQL_OWNED_SEQUENCES, {"schema": schema}).all()
    return {(r.table_name, r.column_name): r.sequence_name for r in rows}


def _no_owned_sequences(connection: sa.Connection, schema: str | None) -> dict:
    return {}


def _sqlite_autoincrement_tables(connection: sa.Connection, schema: str | None) -> set[str]:
    """Tables whose INTEGER PRIMARY KEY is AUTOINCREMENT (only the CREATE TABLE text says so)."""
    rows = connection.execute(sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")).all()
    return {r.name for r in rows if r.sql and re.search(r"\bAUTOINCREMENT\b", r.sql, re.IGNORECASE)}


def _no_autoincrement_tables(connection: sa.Connection, schema: str | None) -> set[str]:
    return set()


# SQLite's reflection does not report AUTOINCREMENT; its table definitions do.
_AUTOINCREMENT_TABLE_READERS = {"sqlite": _sqlite_autoincrement_tables}
# Only PostgreSQL has sequences owned by columns among our dialects (serial).
_SEQUENCE_READERS = {"postgresql": _postgresql_owned_sequences}
# Dialects whose reflected `autoincrement` is the column's own key generation (elsewhere it is a guess).
_AUTOINCREMENT_GENERATION = {"mysql": "auto_increment"}
_NEXTVAL = re.compile(r"^nextval\('(?P<name>(?:[^']|'')+)'(?:::regclass)?\)$", re.IGNORECASE)
# The bounds of an ascending sequence of each integer width (a descending one mirrors them).
_SEQUENCE_MAX = {2: 32767, 4: 2147483647, 8: 9223372036854775807}


def _sequence_name(default: str | None) -> str | None:
    """The sequence a nextval('...') default draws from, without schema or quotes; None for another."""
    match = _NEXTVAL.match((default or "").strip())
    if match is None:
        return None
    name = match.group("name").replace("''", "'")
    last = re.split(r'\.(?=(?:[^"]*"[^"]*")*[^"]*$)', name)[-1]
    return last[1:-1].replace('""', '"') if last.startswith('"') else last.lower()


def identity_options_read(identity: dict, width: int | None) -> tuple:
    """An identity's sequence options that differ from PostgreSQL's defaults for its type, sorted."""
    increment = identity.get("increment") or 1
    top = _SEQUENCE_MAX.get(width or 8, _SEQUENCE_MAX[8])
    low, high = (1, top) if increment > 0 else (-top - 1, -1)
    defaults = {
        "start": low if increment > 0 else high,
        "increment": 1,
        "minvalue": low,
        "maxvalue": high,
        "cache": 1,
        "cycle": False,
    }
    return tuple(
        sorted(
            (name, identity[name])
            for name in defaults
            if identity.get(name) is not None and identity[name] != defaults[name]
        )
    )


def _live_column(raw: dict, dialect: str, owned: str | None) -> LiveColumn:
    identity, generation, options = raw.get("identity"), "", ()
    sequence = _sequence_name(raw.get("default"))
    if identity:
        generation = (
            ("always" if identity["always"] else "by_default") if "always" in identity else "identity"
        )
        width = _integer_width(raw["type"])
        options = identity_options_read(identity, width)
    elif sequence is not None and sequence == owned:
        generation = "serial"
    elif raw.get("autoincrement") is True and dialect in _AUTOINCREMENT_GENERATION:
        generation = _AUTOINCREMENT_GENERATION[dialect]
    return LiveColumn(
        name=raw["name"],
        type=raw["type"],
        nullable=bool(raw["nullable"]),
        default=raw.get("default"),
        comment=raw.get("comment"),
        generation=generation,
        identity_options=options,
        sequence=sequence,
        owns_sequence=sequence is not None and sequence == owned,
        generated=(raw.get("computed") or {}).get("sqltext"),
    )


def _rowid_generated(columns: list[LiveColumn], key: list[str], autoincrement: bool) -> list[LiveColumn]:
    """The columns, the single key column of an AUTOINCREMENT table marked as generated (SQLite)."""
    if not autoincrement or len(key) != 1:
        return columns
    return [replace(c, generation="autoincrement") if c.name == key[0] else c for c in columns]


def _integer_width(type_) -> int | None:
    name = type_.__visit_name__.upper()
    return {"SMALLINT": 2, "SMALL_INTEGER": 2, "INTEGER": 4, "BIGINT": 8, "BIG_INTEGER": 8}.get(name)


def _live_foreign_key(raw: dict) -> LiveForeignKey:
    return LiveForeignKey(
        name=raw.get("name"),
        columns=tuple(raw["constrained_columns"]),
        referred_table=raw["referred_table"],
        referred_columns=tuple(raw["referred_columns"]),
        referred_schema=raw.get("referred_schema"),
        options=dict(raw.get("options") or {}),
    )


def _live_unique(raw: dict, dialect: str) -> LiveUniqueConstraint:
    options = raw.get("dialect_options") or {}
    return LiveUniqueConstraint(
        name=raw["name"],
        columns=tuple(raw["column_names"]),
        include=tuple(options.get(f"{dialect}_include") or ()),
        nulls_not_distinct=bool(options.get(f"{dialect}_nulls_not_distinct")),
    )


def _live_index(raw: dict, dialect: str) -> LiveIndex:
    options = raw.get("dialect_options") or {}
    sorting = raw.get("column_sorting") or {}
    unsupported = []
    if options.get(f"{dialect}_ops"):
        unsupported.append(f"operator classes {options[f'{dialect}_ops']}")
    if any(set(flags) - {"desc"} for flags in sorting.values()):
        unsupported.append("NULLS FIRST/LAST ordering")
    if options.get(f"{dialect}_nulls_not_distinct"):
        unsupported.append("NULLS NOT DISTINCT")
    if options.get(f"{dialect}_with"):
        unsupported.append(f"storage parameters {options[f'{dialect}_with']}")
    if options.get(f"{dialect}_invalid"):
        unsupported.append("it is invalid (a CREATE INDEX CONCURRENTLY that failed)")
    condition = options.get(f"{dialect}_where")
    ordered = dialect in INDEX_ORDER_REFLECTED or "column_sorting" in raw
    return LiveIndex(
        name=raw["name"],
        columns=tuple(raw["column_names"]),
        descending=frozenset(n for n, flags in sorting.items() if "desc" in flags) if ordered else None,
        unique=bool(raw["unique"]),
        method=options.get(f"{dialect}_using", "btree"),
        condition=str(condition) if condition is not None else None,
        include=tuple(options.get(f"{dialect}_include") or ()),
        backs_constraint=bool(raw.get("duplicates_constraint")),
        unsupported=tuple(unsupported),
    )


def live_tables_read(
    connection: sa.Connection, *, schema: str | None, tables: list[str] | None = None
) -> dict[str, LiveTable]:
    """Every table of `schema` (or only `tables`) by name, without Custodian's own tables and without
    partitions of partitioned tables; one reflection query per kind of object, whatever the table count."""
    inspector = sa.inspect(connection)
    scope = {"schema": schema, "filter_names": sorted(set(tables)) if tables else None}
    columns = inspector.get_multi_columns(**scope)
    keys = inspector.get_multi_pk_constraint(**scope)
    foreign_keys = inspector.get_multi_foreign_keys(**scope)
    uniques = inspector.get_multi_unique_constraints(**scope)
    checks = inspector.get_multi_check_constraints(**scope)
    indexes = inspector.get_multi_indexes(**scope)
    comments = inspector.get_multi_table_comment(**scope) if connection.dialect.supports_comments else {}
    dialect = connection.dialect.name
    partitions, partition_keys, partitions_by_parent = _PARTITION_READERS.get(dialect, _no_partitions)(
        connection, schema
    )
    owned = _SEQUENCE_READERS.get(dialect, _no_owned_sequences)(connection, schema)
    autoincrement = _AUTOINCREMENT_TABLE_READERS.get(dialect, _no_autoincrement_tables)(connection, schema)
    result = {}
    skipped = bookkeeping_tables()
    for key in sorted(columns, key=lambda k: k[1]):
        name = key[1]
        if name in skipped or name in partitions:
            continue
        result[name] = LiveTable(
            name=name,
            comment=(comments.get(key) or {}).get("text"),
            columns=_rowid_generated(
                [_live_column(raw, dialect, owned.get((name, raw["name"]))) for raw in columns[key]],
                list((keys.get(key) or {}).get("constrained_columns") or []),
                name in autoincrement,
            ),
            primary_key=list((keys.get(key) or {}).get("constrained_columns") or []),
            foreign_keys=[_live_foreign_key(raw) for raw in foreign_keys.get(key) or []],
            unique_constraints=[_live_unique(raw, dialect) for raw in uniques.get(key) or []],
            check_constraints=[LiveCheck(raw["name"], raw["sqltext"]) for raw in checks.get(key) or []],
            indexes=[_live_index(raw, dialect) for raw in indexes.get(key) or []],
            partition_key=partition_keys.get(name),
            partitions=tuple(partitions_by_parent.get(name, ())),
        )
    return result


# --- Types as the dialect writes them and as the catalog names them ---------------------------------

# SQLAlchemy type visit names (generic and per dialect) -> catalog types. Anything else has no equivalent.
CATALOG_TYPES = {
    "UUID": DataType.UUID,
    "STRING": DataType.VARCHAR,
    "VARCHAR": DataType.VARCHAR,
    "NVARCHAR": DataType.VARCHAR,
    "CHAR": DataType.CHAR,
    "NCHAR": DataType.CHAR,
    "TEXT": DataType.TEXT,
    "SMALL_INTEGER": DataType.SMALLINT,
    "SMALLINT": DataType.SMALLINT,
    "INTEGER": DataType.INTEGER,
    "BIG_INTEGER": DataType.BIGINT,
    "BIGINT": DataType.BIGINT,
    "NUMERIC": DataType.NUMERIC,
    "DECIMAL": DataType.NUMERIC,
    "REAL": DataType.REAL,
    "FLOAT": DataType.DOUBLE,
    "DOUBLE": DataType.DOUBLE,
    "DOUBLE_PRECISION": DataType.DOUBLE,
    "BOOLEAN": DataType.BOOLEAN,
    "DATE": DataType.DATE,
    "TIME": DataType.TIME,
    "TIMESTAMP": DataType.TIMESTAMP,
    "DATETIME": DataType.TIMESTAMP,
    "JSON": DataType.JSON,
    "JSONB": DataType.JSONB,
    "BYTEA": DataType.BYTEA,
    "BLOB": DataType.BYTEA,
    "LARGE_BINARY": DataType.BYTEA,
}
REAL_MAX_PRECISION = 24  # float(p) up to 24 binary digits is real, above is double precision


def type_sql(type_, dialect: sa.Dialect) -> str:
    """A reflected or built type as the dialect writes it (VARCHAR(40)), or its class name if it cannot."""
    try:
        return type_.compile(dialect=dialect)
    except Exception:  # an unrecognised type (NullType) or one the dialect cannot spell
        return type(type_).__name__


def catalog_type(type_, *, dialect: sa.Dialect) -> dict:
    """The catalog type fields (data_type, length, precision, scale) of a reflected SQLAlchemy type;
    ValueError saying why when the catalog has no equivalent."""
    name = type_.__visit_name__.upper()
    label = type_sql(type_, dialect)
    data_type = CATALOG_TYPES.get(name)
    if data_type is None:
        raise ValueError(f"type {label} has no equivalent in the catalog")
    if name == "FLOAT" and (type_.precision or 53) <= REAL_MAX_PRECISION:
        data_type = DataType.REAL
    fields = {"data_type": data_type, "length": None, "precision": None, "scale": None}
    if data_type in (DataType.VARCHAR, DataType.CHAR):
        if not type_.length:
            raise ValueError(f"type {label} has no length; the catalog's {data_type} needs one")
        fields["length"] = type_.length
    elif data_type == DataType.NUMERIC:
        fields["precision"] = type_.precision
        fields["scale"] = type_.scale if type_.precision else None
    elif data_type in (DataType.TIME, DataType.TIMESTAMP):
        if getattr(type_, "precision", None) is not None:
            raise ValueError(f"type {label}: the catalog has no fractional-second precision")
        if getattr(type_, "timezone", False):
            if data_type == DataType.TIME:
                raise ValueError(f"type {label}: the catalog has no time with time zone")
            fields["data_type"] = DataType.TIMESTAMPTZ
    return fields

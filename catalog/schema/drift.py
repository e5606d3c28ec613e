"""Drift: where a data store's live database and the release it is at disagree.

The release's snapshot is built into SQLAlchemy tables for the data store's dialect (as its DDL was); the
database is read with the multi-table reflection introspection uses (one query per kind of object, whatever
the number of tables). Per table they are compared on columns (types compiled by the same dialect,
nullability, defaults in one normalized form), primary key, foreign keys, unique constraints, check
constraints by name, and indexes by name.
"""

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.sql import operators

from catalog.models import DataStore, SchemaRelease
from catalog.schema.dialects import DialectProfile, profile_for
from catalog.schema.history_table import HistoryRow, history_current_version, history_rows
from catalog.schema.introspect.expressions import default_normalize
from catalog.schema.introspect.reflection import LiveColumn, LiveIndex, LiveTable, live_tables_read, type_sql
from catalog.schema.metadata import SchemaTables, base_type, schema_tables_build
from catalog.schema.model import schema_model_from_snapshot
from core.connections import datastore_connect
from core.errors import SchemaError

__all__ = ["DriftReport", "drift_compare", "schema_drift"]


@dataclass
class DriftReport:
    """What the release has and the database lacks (`missing`), the reverse (`extra`), and what both have
    but differently (`different`): one short line each, naming the table and the object."""

    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)
    subject: str = ""

    @property
    def has_drift(self) -> bool:
        return bool(self.missing or self.extra or self.different)

    def lines(self) -> list[str]:
        subject = self.subject or "The database"
        if not self.has_drift:
            return [f"{subject}: no drift."]
        count = len(self.missing) + len(self.extra) + len(self.different)
        return [f"{subject}: {count} difference(s).", *self.missing, *self.extra, *self.different]


def _default_text(column: sa.Column) -> str | None:
    default = column.server_default
    if default is None or isinstance(default, sa.Identity):  # an identity is compared as key generation
        return None
    return getattr(default.arg, "text", default.arg)


def _nullability(nullable: bool) -> str:
    return "nullable" if nullable else "NOT NULL"


def _key(names) -> str:
    return f"({', '.join(names)})"


class _TableComparison:
    """One table of the release against the same table in the database; lines go into the report."""

    def __init__(self, report: DriftReport, where: str, profile: DialectProfile, dialect: sa.Dialect):
        self.report, self.where, self.profile, self.dialect = report, where, profile, dialect

    def missing(self, what: str) -> None:
        self.report.missing.append(f"{self.where}: {what} is missing from the database")

    def extra(self, what: str) -> None:
        self.report.extra.append(f"{self.where}: {what} is not in the release")

    def different(self, what: str, release: str, database: str) -> None:
        self.report.different.append(
            f"{self.where}: {what} is {release} in the release, {database} in the database"
        )

    def compare(self, table: sa.Table, indexes: list[sa.Index], live: LiveTable) -> None:
        self.columns(table, live)
        self.primary_key(table, live)
        self.foreign_keys(table, live)
        self.unique_constraints(table, live)
        self.check_constraints(table, live)
        self.indexes(indexes, live)

    def columns(self, table: sa.Table, live: LiveTable) -> None:
        reflected = {column.name: column for column in live.columns}
        for column in table.columns:
            if column.name not in reflected:
                self.missing(f"column {column.name}")
                continue
            found = reflected[column.name]
            # SQLite reports an INTEGER PRIMARY KEY (a rowid alias) as nullable; it never holds NULL.
            live_nullable = found.nullable and column.name not in live.primary_key
            expected_type = type_sql(base_type(column), self.dialect)
            live_type = type_sql(found.type, self.dialect)
            if expected_type != live_type:
                self.different(f"column {column.name}", expected_type, live_type)
            if column.nullable != live_nullable:
                self.different(
                    f"column {column.name}", _nullability(column.nullable), _nullability(live_nullable)
                )
            self.generation(column, found)
            if not (found.generation == "serial" and column.info.get("live_generation") == "serial"):
                self.default(column, found)
        for name in reflected:  # in the database's column order
            if name not in table.columns:
                self.extra(f"column {name}")

    def generation(self, column: sa.Column, found: LiveColumn) -> None:
        """Key generation as the dialect reports it (serial, identity, AUTO_INCREMENT), with the identity's
        sequence options where the database reports them."""
        expected = column.info.get("live_generation", "")
        if expected != found.generation:
            self.different(
                f"key generation of column {column.name}", expected or "none", found.generation or "none"
            )
            return
        generation = column.info.get("generation")
        if not (found.identity and generation is not None):
            return
        written = self.profile.identity_options
        release = {name: value for name, value in generation.options if name in written}
        database = {name: value for name, value in found.identity_options if name in written}
        if release != database:
            self.different(
                f"identity options of column {column.name}",
                str(release or "defaults"),
                str(database or "defaults"),
            )

    def default(self, column: sa.Column, found: LiveColumn) -> None:
        expected, live = _default_text(column), found.default
        if default_normalize(expected, profile=self.profile) != default_normalize(live, profile=self.profile):
            self.different(f"default of column {column.name}", expected or "no default", live or "no default")

    def primary_key(self, table: sa.Table, live: LiveTable) -> None:
        expected = [column.name for column in table.primary_key.columns]
        if expected == live.primary_key:
            return
        if not live.primary_key:
            self.missing(f"primary key {_key(expected)}")
        elif not expected:
            self.extra(f"primary key {_key(live.primary_key)}")
        else:
            self.different("the primary key", _key(expected), _key(live.primary_key))

    def foreign_keys(self, table: sa.Table, live: LiveTable) -> None:
        expected = {
            tuple(e.parent.name for e in fk.elements): _reference(
                fk.elements[0].column.table.name,
                [e.column.name for e in fk.elements],
                {
                    "ondelete": fk.ondelete,
                    "onupdate": fk.onupdate,
                    "deferrable": fk.deferrable,
                    "initially": fk.initially,
                },
            )
            for fk in table.foreign_key_constraints
        }
        found = {
            fk.columns: _reference(fk.referred_table, fk.referred_columns, fk.options or {})
            for fk in live.foreign_keys
        }
        for columns in sorted(expected.keys() - found.keys()):
            self.missing(f"foreign key {_key(columns)} -> {expected[columns]}")
        for columns in sorted(found.keys() - expected.keys()):
            self.extra(f"foreign key {_key(columns)} -> {found[columns]}")
        for columns in sorted(expected.keys() & found.keys()):
            if expected[columns] != found[columns]:
                self.different(f"foreign key {_key(columns)}", expected[columns], found[columns])

    def unique_constraints(self, table: sa.Table, live: LiveTable) -> None:
        expected = {
            tuple(c.name for c in constraint.columns)
            for constraint in table.constraints
            if isinstance(constraint, sa.UniqueConstraint)
        }
        found = {constraint.columns for constraint in live.unique_constraints}
        for columns in sorted(expected - found):
            self.missing(f"unique constraint {_key(columns)}")
        for columns in sorted(found - expected):
            self.extra(f"unique constraint {_key(columns)}")

    def check_constraints(self, table: sa.Table, live: LiveTable) -> None:
        expected = {
            str(constraint.name)
            for constraint in table.constraints
            if isinstance(constraint, sa.CheckConstraint) and constraint.name
        }
        found = {check.name for check in live.check_constraints if check.name}
        for name in sorted(expected - found):
            self.missing(f"check constraint {name}")
        for name in sorted(found - expected):
            self.extra(f"check constraint {name}")

    def indexes(self, indexes: list[sa.Index], live: LiveTable) -> None:
        expected = {str(index.name): _index_shape(index, self.profile) for index in indexes}
        found = {index.name: index for index in live.indexes if not index.backs_constraint}
        for name in sorted(expected.keys() - found.keys()):
            self.missing(f"index {name}")
        for name in sorted(found.keys() - expected.keys()):
            self.extra(f"index {name}")
        for name in sorted(expected.keys() & found.keys()):
            ordered = found[name].descending is not None  # SQLite does not report DESC: compare names only
            want, have = expected[name].describe(ordered), _live_shape(found[name]).describe(ordered)
            if want != have:
                self.different(f"index {name}", want, have)


def _reference(table: str, columns, options: dict) -> str:
    """A foreign key in words: its target, ON DELETE always, ON UPDATE and DEFERRABLE when not the default."""
    words = f"{table}{_key(columns)} ON DELETE {(options.get('ondelete') or 'NO ACTION').upper()}"
    on_update = (options.get("onupdate") or "NO ACTION").upper()
    if on_update != "NO ACTION":
        words += f" ON UPDATE {on_update}"
    if options.get("deferrable"):
        words += f" DEFERRABLE INITIALLY {(options.get('initially') or 'IMMEDIATE').upper()}"
    return words


@dataclass(frozen=True)
class _IndexShape:
    keys: tuple  # (column, "DESC" or "")
    unique: bool
    method: str
    include: tuple
    partial: bool

    def describe(self, ordered: bool) -> str:
        keys = ", ".join(f"{name} {order}".strip() if ordered else name for name, order in self.keys)
        words = ["UNIQUE"] if self.unique else []
        words.append(f"USING {self.method} ({keys})")
        if self.include:
            words.append(f"INCLUDE {_key(self.include)}")
        if self.partial:
            words.append("WHERE ...")  # conditions are compared by presence: the database rewrites them
        return " ".join(words)


def _index_shape(index: sa.Index, profile: DialectProfile) -> _IndexShape:
    keys = []
    for expression in index.expressions:
        if getattr(expression, "modifier", None) is operators.desc_op:
            keys.append((expression.element.name, "DESC"))
        else:
            keys.append((expression.name, ""))
    options = index.dialect_kwargs
    dialect = profile.sqla.name
    return _IndexShape(
        keys=tuple(keys),
        unique=bool(index.unique),
        method=options.get(f"{dialect}_using") or "btree",
        include=tuple(str(name) for name in options.get(f"{dialect}_include") or ()),
        partial=options.get(f"{dialect}_where") is not None,
    )


def _live_shape(index: LiveIndex) -> _IndexShape:
    descending = index.descending or frozenset()
    return _IndexShape(
        keys=tuple((name or "<expression>", "DESC" if name in descending else "") for name in index.columns),
        unique=index.unique,
        method=index.method,
        include=index.include,
        partial=bool(index.condition),
    )


def drift_compare(*, expected: SchemaTables, connection: sa.Connection) -> DriftReport:
    """How the database behind `connection` differs from the tables of `expected` (built from a release's
    snapshot for this dialect); Custodian's history table and partitions of partitioned tables aside."""
    live = live_tables_read(connection, schema=expected.schema)
    report = DriftReport()
    prefix = f"{expected.schema}." if expected.schema else ""
    tables = {table.name: entity_id for entity_id, table in expected.tables.items()}
    for name in sorted(tables.keys() - live.keys()):
        report.missing.append(f"table {prefix}{name} is missing from the database")
    for name in sorted(live.keys() - tables.keys()):
        report.extra.append(f"table {prefix}{name} is not in the release")
    for name in sorted(tables.keys() & live.keys()):
        entity_id = tables[name]
        comparison = _TableComparison(report, f"table {prefix}{name}", expected.profile, connection.dialect)
        comparison.compare(expected.tables[entity_id], expected.indexes.get(entity_id, []), live[name])
    return report


def _applied_release(datastore: DataStore, rows: list[HistoryRow]) -> SchemaRelease:
    version = history_current_version(rows)
    if not version:  # None: never applied; 0: rolled back to the empty schema
        raise SchemaError(f"Data store '{datastore.name}' has no applied release; apply one first.")
    release = SchemaRelease.objects.filter(datastore=datastore, version=version).first()
    if release is None:
        raise SchemaError(
            f"Data store '{datastore.name}' is at version {version} by its history table, but the catalog "
            f"has no release {version} of it."
        )
    return release


def _history_lines(release: SchemaRelease, rows: list[HistoryRow]) -> list[str]:
    """A history row for this version whose checksum is not the release's: the history was changed."""
    recorded = [row for row in rows if row.success and row.version == release.version]
    if recorded and recorded[-1].checksum != release.checksum:
        return [
            f"history table: version {release.version} is recorded with checksum "
            f"{recorded[-1].checksum[:12]}…, but release v{release.version} has {release.checksum[:12]}…"
        ]
    return []


def schema_drift(*, datastore: DataStore, release: SchemaRelease | None = None) -> DriftReport:
    """How the data store's database differs from `release`, by default the release its history table
    says is applied; SchemaError when it cannot be reached or was never applied to."""
    profile = profile_for(datastore.engine)
    schema = (datastore.schema_name or None) if profile.supports_schemas else None
    with datastore_connect(datastore) as connection:
        rows = history_rows(connection, profile, schema)
        release = release or _applied_release(datastore, rows)
        expected = schema_tables_build(schema_model_from_snapshot(release.snapshot), profile)
        report = drift_compare(expected=expected, connection=connection)
    report.different += _history_lines(release, rows)
    report.subject = f"Data store '{datastore.name}' against release v{release.version}"
    return report

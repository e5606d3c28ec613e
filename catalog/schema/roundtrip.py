"""Round trip: one neutral description of a PostgreSQL schema read from pg_catalog, to compare two databases.

Issue 18's yardstick: a schema introspected into the catalog, released and applied to an empty database must
come back as it was. `schema_description_read` says a schema in PostgreSQL's own words (format_type,
pg_get_expr, pg_get_constraintdef, pg_get_indexdef, pg_get_partkeydef), one line per object, with the names
the database invents (constraint and index names) left out, so the same schema written by another tool
reads the same. `description_differences` lists what one side has and the other lacks, and
`roundtrip_figures` counts what came back per kind, as the issue states them. The tests and a future
`schema_roundtrip` command share this module.
"""

import re
from dataclasses import dataclass, field

import sqlalchemy as sa

from catalog.schema.history_table import bookkeeping_tables

__all__ = [
    "CATEGORIES",
    "SchemaDescription",
    "schema_description_read",
    "description_differences",
    "roundtrip_figures",
]

CATEGORIES = (
    "tables",
    "columns",
    "primary keys",
    "foreign keys",
    "unique constraints",
    "check constraints",
    "exclusion constraints",
    "indexes",
    "enums",
    "domains",
    "comments",
)


@dataclass(frozen=True)
class SchemaDescription:
    """A schema as lines of text per category ("film.rating mpaa_rating DEFAULT 'G'::mpaa_rating")."""

    schema: str
    lines: dict[str, frozenset[str]] = field(default_factory=dict)

    def __getitem__(self, category: str) -> frozenset[str]:
        return self.lines.get(category, frozenset())


# Every query reads one schema (the search path is set to it, so format_type and pg_get_* leave it out).
_TABLES = sa.text(
    "SELECT c.relname AS name, pg_catalog.pg_get_partkeydef(c.oid) AS partition_key, p.relname AS parent, "
    "pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS bound "
    "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_catalog.pg_inherits i ON i.inhrelid = c.oid "
    "LEFT JOIN pg_catalog.pg_class p ON p.oid = i.inhparent "
    "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p')"
)
_COLUMNS = sa.text(
    "SELECT c.relname AS table_name, a.attname AS name, "
    "pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null, "
    "pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS default, a.attidentity AS identity, "
    "a.attgenerated AS generated, s.seqstart AS start, s.seqincrement AS increment "
    "FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
    # an identity's sequence depends on its column internally ('i'); a serial's sequence is only owned ('a')
    "LEFT JOIN pg_catalog.pg_depend dep ON a.attidentity <> '' AND dep.refobjid = a.attrelid "
    "AND dep.refobjsubid = a.attnum AND dep.classid = 'pg_catalog.pg_class'::regclass AND dep.deptype = 'i' "
    "LEFT JOIN pg_catalog.pg_sequence s ON s.seqrelid = dep.objid "
    "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped"
)
_CONSTRAINTS = sa.text(
    "SELECT c.relname AS table_name, con.contype AS kind, "
    "pg_catalog.pg_get_constraintdef(con.oid, true) AS definition "
    "FROM pg_catalog.pg_constraint con JOIN pg_catalog.pg_class c ON c.oid = con.conrelid "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = :schema AND con.contype IN ('p', 'f', 'u', 'c', 'x')"
)
# Indexes that back a key are the key's: said once, in its constraint line.
_INDEXES = sa.text(
    "SELECT c.relname AS table_name, pg_catalog.pg_get_indexdef(i.indexrelid) AS definition "
    "FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indrelid "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p') AND NOT EXISTS ("
    "SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid "
    "AND k.contype IN ('p', 'u', 'x'))"
)
_ENUMS = sa.text(
    "SELECT t.typname AS name, array_agg(e.enumlabel ORDER BY e.enumsortorder) AS labels "
    "FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace "
    "JOIN pg_catalog.pg_enum e ON e.enumtypid = t.oid WHERE n.nspname = :schema GROUP BY t.typname"
)
_DOMAINS = sa.text(
    "SELECT t.typname AS name, pg_catalog.format_type(t.typbasetype, t.typtypmod) AS base, "
    "t.typnotnull AS not_null, t.typdefault AS default, "
    "array_remove(array_agg(pg_catalog.pg_get_constraintdef(k.oid, true) ORDER BY k.conname), NULL) "
    "AS checks FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace "
    "LEFT JOIN pg_catalog.pg_constraint k ON k.contypid = t.oid "
    "WHERE n.nspname = :schema AND t.typtype = 'd' GROUP BY t.oid, t.typname"
)
_COMMENTS = sa.text(
    "SELECT c.relname || coalesce('.' || a.attname, '') AS target, d.description AS comment "
    "FROM pg_catalog.pg_description d JOIN pg_catalog.pg_class c "
    "ON d.classoid = 'pg_catalog.pg_class'::regclass AND c.oid = d.objoid "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_catalog.pg_attribute a ON d.objsubid > 0 AND a.attrelid = c.oid AND a.attnum = d.objsubid "
    "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p')"
)
CONSTRAINT_CATEGORIES = {
    "p": "primary keys",
    "f": "foreign keys",
    "u": "unique constraints",
    "c": "check constraints",
    "x": "exclusion constraints",
}
IDENTITY_WORDS = {"a": "ALWAYS", "d": "BY DEFAULT"}
# The index's own name (a database invention) and its table's schema (pg_get_indexdef always writes it).
_IDENTIFIER = r'(?:"(?:[^"]|"")*"|[^\s."]+)'
_INDEX_NAME = re.compile(rf"^(CREATE (?:UNIQUE )?INDEX ){_IDENTIFIER} (ON (?:ONLY )?)(?:{_IDENTIFIER}\.)?")


def _table_line(row, skipped: set[str]) -> str | None:
    if row.name in skipped:
        return None
    line = row.name
    if row.parent:
        line += f" PARTITION OF {row.parent} {row.bound}"
    if row.partition_key:
        line += f" PARTITION BY {row.partition_key}"
    return line


def _column_line(row) -> str:
    line = f"{row.table_name}.{row.name} {row.type}{' NOT NULL' if row.not_null else ''}"
    if row.generated:
        line += f" GENERATED ALWAYS AS ({row.default}) STORED"
    elif row.default is not None:
        line += f" DEFAULT {row.default}"
    if row.identity:
        line += f" GENERATED {IDENTITY_WORDS[row.identity]} AS IDENTITY"
        line += f" (START {row.start} INCREMENT {row.increment})"
    return line


def _domain_line(row) -> str:
    line = f"{row.name} AS {row.base}"
    if row.not_null:
        line += " NOT NULL"
    if row.default is not None:
        line += f" DEFAULT {row.default}"
    return " ".join([line, *row.checks])


def schema_description_read(connection: sa.Connection, *, schema: str) -> SchemaDescription:
    """Schema `schema` of a PostgreSQL database as lines per category, without Custodian's own tables and
    without the names the database invents for constraints and indexes. Reads in a transaction of its own,
    rolled back (it sets the search path), so `connection` must not be in one."""
    transaction = connection.begin()
    try:
        connection.execute(
            sa.text("SELECT pg_catalog.set_config('search_path', :schema, true)"), {"schema": schema}
        )
        lines = _lines_read(connection, {"schema": schema})
    finally:
        transaction.rollback()
    return SchemaDescription(schema, {category: frozenset(found) for category, found in lines.items()})


def _lines_read(connection: sa.Connection, scope: dict) -> dict[str, set[str]]:
    lines: dict[str, set[str]] = {category: set() for category in CATEGORIES}
    skipped = bookkeeping_tables()
    lines["tables"] = {
        line for row in connection.execute(_TABLES, scope) if (line := _table_line(row, skipped))
    }
    lines["columns"] = {
        _column_line(row) for row in connection.execute(_COLUMNS, scope) if row.table_name not in skipped
    }
    for row in connection.execute(_CONSTRAINTS, scope):
        if row.table_name not in skipped:
            lines[CONSTRAINT_CATEGORIES[row.kind]].add(f"{row.table_name}: {row.definition}")
    for row in connection.execute(_INDEXES, scope):
        if row.table_name not in skipped:
            lines["indexes"].add(_INDEX_NAME.sub(r"\1\2", row.definition))
    lines["enums"] = {
        f"{row.name} AS ENUM ({', '.join(row.labels)})" for row in connection.execute(_ENUMS, scope)
    }
    lines["domains"] = {_domain_line(row) for row in connection.execute(_DOMAINS, scope)}
    lines["comments"] = {
        f"{row.target}: {row.comment}"
        for row in connection.execute(_COMMENTS, scope)
        if row.target.split(".")[0] not in skipped
    }
    return lines


def description_differences(source: SchemaDescription, target: SchemaDescription) -> list[str]:
    """What only `source` has ("- category: line") and what only `target` has ("+ category: line"), by
    category in CATEGORIES order, sorted; [] when the two schemas say the same."""
    differences = []
    for category in CATEGORIES:
        differences += [f"- {category}: {line}" for line in sorted(source[category] - target[category])]
        differences += [f"+ {category}: {line}" for line in sorted(target[category] - source[category])]
    return differences


def _table_of(category: str, line: str) -> str:
    """The table a line is about: "film.rating ...", "film: FOREIGN KEY ...", "CREATE INDEX ON film ..."."""
    if category == "columns":
        return line.split(" ", 1)[0].rsplit(".", 1)[0]
    if category == "indexes":
        return _INDEX_TABLE.match(line).group(1)
    return line.split(" ", 1)[0].rstrip(":")


_INDEX_TABLE = re.compile(rf"^CREATE (?:UNIQUE )?INDEX ON (?:ONLY )?({_IDENTIFIER})")


def _generates(line: str) -> bool:
    return "AS IDENTITY" in line or "DEFAULT nextval(" in line


def roundtrip_figures(source: SchemaDescription, target: SchemaDescription) -> dict[str, tuple[int, int]]:
    """(found the same in `target`, in `source`) per kind, as issue 18 counts them: tables, columns,
    foreign keys and auto-increment keys of the tables that are not partitions; primary keys and indexes
    of every table, partitions included. An auto-increment key comes back when the target's column still
    generates its values (identity or a sequence default), whatever the form."""
    partitions = {line.split(" ", 1)[0] for line in source["tables"] if " PARTITION OF " in line}

    def of_tables(description: SchemaDescription, category: str) -> set[str]:
        return {line for line in description[category] if _table_of(category, line) not in partitions}

    def counted(kept: set, present: set) -> tuple[int, int]:
        return len(kept & present), len(present)

    tables = {
        name for name in (_table_of("tables", line) for line in source["tables"]) if name not in partitions
    }
    generating = {line.split(" ", 1)[0] for line in target["columns"] if _generates(line)}
    auto = {line.split(" ", 1)[0] for line in of_tables(source, "columns") if _generates(line)}
    return {
        "tables": counted({_table_of("tables", line) for line in target["tables"]}, tables),
        "columns": counted(set(target["columns"]), of_tables(source, "columns")),
        "foreign keys": counted(set(target["foreign keys"]), of_tables(source, "foreign keys")),
        "auto-increment keys": counted(generating, auto),
        "indexes": counted(set(target["indexes"]), set(source["indexes"])),
        "primary keys": counted(set(target["primary keys"]), set(source["primary keys"])),
    }

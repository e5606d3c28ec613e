"""What differs between the SQL dialects Custodian writes, in one place.

Each dialect is a `DialectProfile`: SQLAlchemy's dialect (which compiles CREATE TABLE, types, indexes), the
identifier quoting gate, capability flags (`supports_*`), native types, and named templates for what
SQLAlchemy has no construct for (renames, ALTER COLUMN, comments, the audit trigger, the apply lock). A
template a dialect lacks means it cannot say that thing (`has_template`). Code that generates SQL asks the
profile; there is no `if dialect == "mysql"` anywhere else (tests/catalog/schema/test_dialects.py holds
every module to that).
"""

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.dialects import mssql, mysql, postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect

from core import quoting
from core.errors import SchemaError

__all__ = [
    "DialectProfile",
    "PROFILES",
    "POSTGRESQL",
    "MYSQL",
    "SQLSERVER",
    "SQLITE",
    "profile_for",
    "profile_of_connection",
]


@dataclass(frozen=True)
class DialectProfile:
    name: str
    label: str
    sqla: Dialect
    sqlglot: str
    max_identifier_bytes: int
    supports_schemas: bool = True
    supports_partial_index: bool = True
    supports_index_include: bool = True
    supports_index_method: bool = True
    supports_regex_check: bool = True
    supports_partitioning: bool = False
    supports_triggers: bool = False
    supports_comments: bool = True
    supports_alter_column: bool = True
    supports_transactional_ddl: bool = False
    # SQLite cannot ALTER TABLE ... ADD CONSTRAINT, but accepts a foreign key to a table created later.
    supports_add_constraint: bool = True
    # Whether a primary key or unique constraint may cover a column of unbounded type (text, json, bytea).
    supports_unbounded_keys: bool = True
    # Foreign-key actions and checking: RESTRICT (SQL Server lacks it; NO ACTION refuses the same way),
    # SET DEFAULT (InnoDB refuses a table saying it), DEFERRABLE (MySQL, SQL Server check each statement).
    supports_restrict_action: bool = True
    supports_set_default_action: bool = True
    supports_deferrable: bool = True
    # Comments written inside CREATE TABLE (MySQL) rather than as statements of their own.
    inline_comments: bool = False
    # Whether a comment statement replaces the comment a table or column has (COMMENT ON does; SQL Server's
    # sp_addextendedproperty fails on one that exists), so a migration may re-issue it or set it to NULL.
    comments_replace: bool = False
    # How the dialect generates key values (a generator in metadata.py): "identity" (GENERATED ... AS
    # IDENTITY, or SQL Server's IDENTITY(start, increment)), "auto_increment" (MySQL: one per table, in the
    # primary key) or "rowid" (SQLite: INTEGER PRIMARY KEY AUTOINCREMENT, the single key column only).
    key_generation: str = "identity"
    # Integer type -> the serial pseudo-type that creates <table>_<column>_seq and its nextval default (an
    # empty dict: serial is written as the dialect's identity).
    serial_types: dict = field(default_factory=dict)
    # The sequence options of an identity the dialect writes; the others are said as a note.
    identity_options: frozenset = frozenset({"start", "increment", "minvalue", "maxvalue", "cache", "cycle"})
    # The identity modes the dialect enforces as such; the other is said as a note.
    identity_modes: frozenset = frozenset({"always", "by_default"})
    # Generated columns a table may have (None: any number).
    generated_per_table: int | None = None
    # What a reflected column's generation is called in this dialect (see reflection.py), per catalog kind.
    live_generation: dict = field(
        default_factory=lambda: {"serial": "serial", "always": "always", "by_default": "by_default"}
    )
    # Catalog type -> SQLAlchemy type class this dialect stores natively (others use the portable mapping).
    native_types: dict = field(default_factory=dict)
    # The DEFAULT of the audit column updated_at, when the dialect can keep it current by itself.
    updated_at_default: str | None = None
    # The remark for audited tables when no trigger keeps updated_at and version current.
    audit_note: str = (
        "{table}: updated_at and version are kept by the application on {label} (no trigger generated)."
    )
    # Planner estimates of table rows (:schema bound), where counting every table would be slow.
    row_estimates_sql: str | None = None
    length_function: str = "char_length"
    boolean_literals: tuple[str, str] = ("false", "true")
    # Catalog default functions -> this dialect's SQL (None: cannot be expressed).
    default_functions: dict = field(default_factory=dict)
    # Catalog types this dialect stores differently, with why (said as a comment in the DDL).
    type_notes: dict = field(default_factory=dict)
    templates: dict = field(default_factory=dict)

    def quote(self, name: str) -> str:
        """The one quoting gate for catalog names: always quoted, embedded quotes escaped."""
        return quoting.quote(name, self.sqla)

    def table(self, schema: str | None, name: str) -> str:
        if schema and self.supports_schemas:
            return f"{self.quote(schema)}.{self.quote(name)}"
        return self.quote(name)

    def has_template(self, template: str) -> bool:
        return template in self.templates

    def render(self, template: str, **parts) -> str:
        if template not in self.templates:
            raise SchemaError(f"{self.label} has no way to {template.replace('_', ' ')}.")
        return self.templates[template].format(**parts)

    def compile(self, element) -> str:
        """SQL of a SQLAlchemy construct or type in this dialect, values inlined."""
        if isinstance(element, sa.types.TypeEngine):
            return element.compile(dialect=self.sqla)
        return str(element.compile(dialect=self.sqla, compile_kwargs={"literal_binds": True})).strip()

    def literal(self, value, type_) -> str:
        if isinstance(value, bool):
            return self.boolean_literals[int(value)]
        return self.compile(sa.literal(value, type_))


def _sqlserver_dialect():
    # Without a connection SQLAlchemy assumes a SQL Server older than 2008 (no DATE, TIME, VARCHAR(max));
    # Custodian writes DDL for current versions.
    dialect = mssql.dialect()
    dialect.server_version_info = (16, 0)
    dialect._setup_version_attributes()
    return dialect


_COMMON_DEFAULTS = {
    "now()": "CURRENT_TIMESTAMP",
    "current_timestamp": "CURRENT_TIMESTAMP",
    "localtimestamp": "CURRENT_TIMESTAMP",
    "current_date": "CURRENT_DATE",
    "current_time": "CURRENT_TIME",
    "gen_random_uuid()": None,
}

_ANSI_TEMPLATES = {
    "create_schema": "CREATE SCHEMA IF NOT EXISTS {schema}",
    "rename_table": "ALTER TABLE {table} RENAME TO {new_name}",
    "rename_column": "ALTER TABLE {table} RENAME COLUMN {column} TO {new_name}",
    "add_column": "ALTER TABLE {table} ADD COLUMN {definition}",
    "drop_column": "ALTER TABLE {table} DROP COLUMN {column}",
    "drop_table": "DROP TABLE {table}",
    "drop_index": "DROP INDEX {index}",
    "add_constraint": "ALTER TABLE {table} ADD CONSTRAINT {name} {definition}",
    "drop_constraint": "ALTER TABLE {table} DROP CONSTRAINT {name}",
}

# Keeps updated_at and version of an audited table current (PostgreSQL: one shared trigger function).
_POSTGRESQL_TOUCH_FUNCTION = (
    "CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    'BEGIN\n    NEW."updated_at" := now();\n    NEW."version" := OLD."version" + 1;\n'
    "    RETURN NEW;\nEND\n$$"
)

POSTGRESQL = DialectProfile(
    name="postgresql",
    label="PostgreSQL",
    sqla=postgresql.dialect(),
    sqlglot="postgres",
    max_identifier_bytes=63,
    supports_partitioning=True,
    supports_triggers=True,
    supports_transactional_ddl=True,
    comments_replace=True,
    serial_types={"smallint": "SMALLSERIAL", "integer": "SERIAL", "bigint": "BIGSERIAL"},
    native_types={"uuid": sa.Uuid, "jsonb": JSONB},
    row_estimates_sql=(
        "SELECT c.relname, c.reltuples::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p')"
    ),
    default_functions={
        **_COMMON_DEFAULTS,
        "now()": "now()",
        "localtimestamp": "LOCALTIMESTAMP",
        "gen_random_uuid()": "gen_random_uuid()",
    },
    templates={
        **_ANSI_TEMPLATES,
        "drop_index": "DROP INDEX {schema_prefix}{index}",
        "alter_type": "ALTER TABLE {table} ALTER COLUMN {column} TYPE {type} USING {column}::{type}",
        "set_not_null": "ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL",
        "drop_not_null": "ALTER TABLE {table} ALTER COLUMN {column} DROP NOT NULL",
        "set_default": "ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT {default}",
        "drop_default": "ALTER TABLE {table} ALTER COLUMN {column} DROP DEFAULT",
        "comment_table": "COMMENT ON TABLE {table} IS {comment}",
        "comment_column": "COMMENT ON COLUMN {table}.{column} IS {comment}",
        # Key generation of an existing column: identities in place, serial as its sequence and default.
        "add_identity": "ALTER TABLE {table} ALTER COLUMN {column} ADD GENERATED {mode} AS IDENTITY{options}",
        "drop_identity": "ALTER TABLE {table} ALTER COLUMN {column} DROP IDENTITY",
        "alter_identity": "ALTER TABLE {table} ALTER COLUMN {column} {changes}",
        "identity_set_mode": "SET GENERATED {mode}",
        "identity_set_option": "SET {option}",
        "create_serial_sequence": "CREATE SEQUENCE {sequence} AS {type} OWNED BY {table}.{column}",
        "start_serial_sequence": "SELECT setval({sequence_text}, coalesce(max({column}), 0) + 1, false) "
        "FROM {table}",
        "drop_sequence": "DROP SEQUENCE {sequence}",
        "touch_function": _POSTGRESQL_TOUCH_FUNCTION,
        "touch_trigger": "CREATE TRIGGER {trigger} BEFORE UPDATE ON {table} FOR EACH ROW "
        "EXECUTE FUNCTION {function}()",
        "drop_trigger": "DROP TRIGGER IF EXISTS {trigger} ON {table}",
        "default_partition": "CREATE TABLE {partition} PARTITION OF {table} DEFAULT",
        # Two applies to one schema at once: the second is refused, not queued.
        "apply_lock": "SELECT pg_try_advisory_xact_lock(:key)",
    },
)

MYSQL = DialectProfile(
    name="mysql",
    label="MySQL",
    sqla=mysql.dialect(),
    sqlglot="mysql",
    max_identifier_bytes=64,
    supports_partial_index=False,
    supports_set_default_action=False,
    supports_deferrable=False,
    supports_index_include=False,
    supports_index_method=False,
    supports_unbounded_keys=False,
    inline_comments=True,
    key_generation="auto_increment",
    identity_options=frozenset({"start"}),
    identity_modes=frozenset({"by_default"}),
    generated_per_table=1,
    live_generation={"serial": "auto_increment", "always": "auto_increment", "by_default": "auto_increment"},
    updated_at_default="CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP",
    audit_note="{table}: updated_at follows ON UPDATE CURRENT_TIMESTAMP; version is kept by the application "
    "(no trigger generated).",
    length_function="CHAR_LENGTH",
    boolean_literals=("0", "1"),
    default_functions={
        **_COMMON_DEFAULTS,
        "current_date": "(CURRENT_DATE)",
        "current_time": "(CURRENT_TIME)",
        "gen_random_uuid()": "(UUID())",
    },
    type_notes={"timestamptz": "MySQL DATETIME keeps no time zone: store UTC."},
    templates={
        **_ANSI_TEMPLATES,
        "drop_index": "DROP INDEX {index} ON {table}",
        "alter_type": "ALTER TABLE {table} MODIFY COLUMN {definition}",
        "set_not_null": "ALTER TABLE {table} MODIFY COLUMN {definition}",
        "drop_not_null": "ALTER TABLE {table} MODIFY COLUMN {definition}",
        "set_default": "ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT {default}",
        "drop_default": "ALTER TABLE {table} ALTER COLUMN {column} DROP DEFAULT",
        "comment_table": "ALTER TABLE {table} COMMENT = {comment}",
        "comment_column": "ALTER TABLE {table} MODIFY COLUMN {definition}",
        "drop_constraint": "ALTER TABLE {table} DROP CONSTRAINT {name}",
        # AUTO_INCREMENT is part of the column's definition: restating it adds or removes it.
        "modify_generation": "ALTER TABLE {table} MODIFY COLUMN {definition}",
    },
)

SQLSERVER = DialectProfile(
    name="sqlserver",
    label="SQL Server",
    sqla=_sqlserver_dialect(),
    sqlglot="tsql",
    max_identifier_bytes=128,
    supports_index_method=False,
    supports_regex_check=False,
    supports_transactional_ddl=True,
    supports_unbounded_keys=False,
    supports_restrict_action=False,
    supports_deferrable=False,
    identity_options=frozenset({"start", "increment"}),
    # IDENTITY refuses a given value unless the session sets IDENTITY_INSERT ON: it behaves as ALWAYS.
    identity_modes=frozenset({"always"}),
    generated_per_table=1,
    live_generation={"serial": "identity", "always": "identity", "by_default": "identity"},
    native_types={"uuid": sa.Uuid},
    length_function="LEN",
    boolean_literals=("0", "1"),
    default_functions={
        **_COMMON_DEFAULTS,
        "now()": "SYSDATETIMEOFFSET()",
        "current_date": "CAST(GETDATE() AS date)",
        "current_time": "CAST(GETDATE() AS time)",
        "gen_random_uuid()": "NEWID()",
    },
    type_notes={},
    templates={
        **_ANSI_TEMPLATES,
        "create_schema": "IF SCHEMA_ID('{schema_plain}') IS NULL EXEC('CREATE SCHEMA {schema}')",
        "rename_table": "EXEC sp_rename '{table_plain}', '{new_plain}'",
        "rename_column": "EXEC sp_rename '{table_plain}.{column_plain}', '{new_plain}', 'COLUMN'",
        "add_column": "ALTER TABLE {table} ADD {definition}",
        "drop_index": "DROP INDEX {index} ON {table}",
        "alter_type": "ALTER TABLE {table} ALTER COLUMN {definition}",
        "set_not_null": "ALTER TABLE {table} ALTER COLUMN {definition}",
        "drop_not_null": "ALTER TABLE {table} ALTER COLUMN {definition}",
        "set_default": "ALTER TABLE {table} ADD CONSTRAINT {name} DEFAULT {default} FOR {column}",
        "drop_default": "ALTER TABLE {table} DROP CONSTRAINT {name}",
        "comment_table": "EXEC sp_addextendedproperty 'MS_Description', {comment}, "
        "'schema', {schema_quoted}, 'table', {table_quoted}",
        "comment_column": "EXEC sp_addextendedproperty 'MS_Description', {comment}, "
        "'schema', {schema_quoted}, 'table', {table_quoted}, 'column', {column}",
    },
)

SQLITE = DialectProfile(
    name="sqlite",
    label="SQLite",
    sqla=sqlite.dialect(),
    sqlglot="sqlite",
    max_identifier_bytes=128,
    supports_schemas=False,
    supports_index_include=False,
    supports_index_method=False,
    supports_regex_check=False,
    supports_comments=False,
    supports_alter_column=False,
    supports_add_constraint=False,
    supports_triggers=True,
    supports_transactional_ddl=True,
    key_generation="rowid",
    identity_options=frozenset(),
    identity_modes=frozenset({"by_default"}),
    generated_per_table=1,
    live_generation={"serial": "autoincrement", "always": "autoincrement", "by_default": "autoincrement"},
    length_function="length",
    boolean_literals=("0", "1"),
    default_functions={
        **_COMMON_DEFAULTS,
        # A version-4 UUID from SQLite's random bytes, as text.
        "gen_random_uuid()": "(lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || "
        "substr(hex(randomblob(2)), 2) || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) || "
        "substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))))",
    },
    type_notes={"timestamptz": "SQLite stores timestamps as text: store UTC."},
    templates={
        **_ANSI_TEMPLATES,
        "touch_trigger": "CREATE TRIGGER {trigger} AFTER UPDATE ON {table} FOR EACH ROW "
        'WHEN NEW."version" = OLD."version" BEGIN '
        'UPDATE {table} SET "updated_at" = CURRENT_TIMESTAMP, "version" = OLD."version" + 1 '
        "WHERE rowid = NEW.rowid; END",
        "drop_trigger": "DROP TRIGGER IF EXISTS {trigger}",
    },
)

PROFILES = {profile.name: profile for profile in (POSTGRESQL, SQLITE, MYSQL, SQLSERVER)}


def profile_for(name: str) -> DialectProfile:
    """The profile of a dialect name (the DataStore engine names); SchemaError for any other."""
    try:
        return PROFILES[name]
    except KeyError:
        raise SchemaError(
            f"'{name}' is not a supported dialect; choose one of {', '.join(PROFILES)}."
        ) from None


def profile_of_connection(connection: sa.Connection) -> DialectProfile | None:
    """The profile of the dialect a SQLAlchemy connection speaks; None for a dialect Custodian has none of."""
    return next((p for p in PROFILES.values() if p.sqla.name == connection.dialect.name), None)

"""The catalog as DDL: statements (values, not strings glued on the fly) in dependency order, per dialect.

`schema_ddl` turns a schema model (or a release's snapshot) into CREATE statements; `ddl_render` writes them
as one deterministic script. Tables come in foreign-key order; a cycle of foreign keys is closed with ALTER
TABLE after both tables exist. What a dialect writes differently (the audit trigger, comments) comes from
its profile's flags and templates.
"""

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.schema import AddConstraint, CreateIndex, CreateTable, SetColumnComment, SetTableComment

from catalog.schema.dialects import DialectProfile
from catalog.schema.metadata import SchemaTables, schema_tables_build
from catalog.schema.model import SchemaModel, schema_model_of
from core.gc_pause import gc_paused

__all__ = [
    "Statement",
    "schema_ddl",
    "ddl_for_tables",
    "ddl_render",
    "table_statements",
    "touch_function",
    "TOUCH_FUNCTION",
]

TOUCH_FUNCTION = "custodian_touch_row"


@dataclass(frozen=True)
class Statement:
    """One SQL statement, or (is_note) a remark the script carries as a comment. `kind` says what a statement
    is for where a migration picks some out: "comment" (COMMENT ON and the like) or "trigger"."""

    sql: str
    entity_id: str | None = None
    is_note: bool = False
    kind: str = ""


def touch_function(tables: SchemaTables) -> Statement | None:
    """The trigger function that keeps updated_at and version of audited tables current, on a dialect whose
    triggers call one (PostgreSQL); None elsewhere."""
    profile = tables.profile
    if not profile.has_template("touch_function"):
        return None
    function = profile.table(tables.schema, TOUCH_FUNCTION)
    return Statement(profile.render("touch_function", function=function), kind="trigger")


def _touch_trigger(tables: SchemaTables, table_id: str, table: sa.Table) -> Statement:
    profile = tables.profile
    if not profile.has_template("touch_trigger"):
        return Statement(profile.audit_note.format(table=table.name, label=profile.label), table_id, True)
    sql = profile.render(
        "touch_trigger",
        trigger=profile.quote(f"{table.name}_touch"[: profile.max_identifier_bytes]),
        table=profile.table(tables.schema, table.name),
        function=profile.table(tables.schema, TOUCH_FUNCTION),
    )
    return Statement(sql, table_id, kind="trigger")


def _comments(tables: SchemaTables, table_id: str, table: sa.Table) -> list[Statement]:
    profile = tables.profile
    if profile.inline_comments:
        return []  # written inside CREATE TABLE
    if not profile.supports_comments:
        entity = tables.model.table(table_id)
        lines = [f"{table.name}: {entity.description}"] if entity.description else []
        lines += [f"{table.name}.{c.name}: {c.description}" for c in entity.columns if c.description]
        return [Statement(line, table_id, is_note=True) for line in lines]
    statements = [SetTableComment(table)] if table.comment else []
    statements += [SetColumnComment(column) for column in table.columns if column.comment]
    return [Statement(profile.compile(s), table_id, kind="comment") for s in statements]


def table_statements(tables: SchemaTables, table_id: str, foreign_keys=None) -> list[Statement]:
    """CREATE TABLE with its partition, indexes, comments and trigger: everything one table needs."""
    profile = tables.profile
    table = tables.tables[table_id]
    statements = [Statement(note, table_id, is_note=True) for note in tables.notes.get(table_id, [])]
    create = CreateTable(table, include_foreign_key_constraints=foreign_keys)
    statements.append(Statement(profile.compile(create), table_id))
    if table_id in tables.partitions:
        default = profile.table(tables.schema, f"{table.name}_default"[: profile.max_identifier_bytes])
        parent = profile.table(tables.schema, table.name)
        statements.append(
            Statement(profile.render("default_partition", partition=default, table=parent), table_id)
        )
    statements += [
        Statement(profile.compile(CreateIndex(index)), table_id) for index in tables.indexes.get(table_id, [])
    ]
    statements += _comments(tables, table_id, table)
    if tables.model.table(table_id).has_audit_columns:
        statements.append(_touch_trigger(tables, table_id, table))
    return statements


def ddl_for_tables(tables: SchemaTables, table_ids: set[str] | None = None) -> list[Statement]:
    """Statements creating the tables (or only `table_ids`), dependency order, cycles closed last."""
    by_table = {table: table_id for table_id, table in tables.tables.items()}
    ordered = sa.schema.sort_tables_and_constraints(sorted(tables.tables.values(), key=lambda t: t.name))
    deferred = [fk for table, fks in ordered if table is None for fk in fks]
    if not tables.profile.supports_add_constraint:
        deferred = []  # every foreign key inline; the dialect resolves them when rows are written
    wanted = set(tables.tables) if table_ids is None else table_ids
    statements = []
    function = touch_function(tables)
    if function and any(tables.model.table(t).has_audit_columns for t in wanted):
        statements.append(function)
    for table, _foreign_keys in ordered:
        if table is None or by_table[table] not in wanted:
            continue
        inline = [fk for fk in table.foreign_key_constraints if fk not in deferred]
        statements += table_statements(tables, by_table[table], inline)
    for fk in sorted(deferred, key=lambda fk: fk.name):
        if by_table[fk.table] in wanted:
            statements.append(Statement(tables.profile.compile(AddConstraint(fk)), by_table[fk.table]))
    return statements


def schema_ddl(
    snapshot: dict | SchemaModel, profile: DialectProfile, entity_ids: set[str] | None = None
) -> list[Statement]:
    """The DDL creating a schema model's (or a snapshot's) tables, or some of them, in a dialect."""
    with gc_paused():
        return ddl_for_tables(schema_tables_build(schema_model_of(snapshot), profile), entity_ids)


def ddl_render(statements: list[Statement], header: str = "") -> str:
    """One script: notes as comments, statements ended by semicolons; same statements, same bytes."""
    parts = [f"-- {line}" for line in header.splitlines()] if header else []
    for statement in statements:
        if statement.is_note:
            parts.append("\n".join(f"-- {line}" for line in statement.sql.splitlines()))
        else:
            parts.append(statement.sql.strip() + ";")
    return "\n\n".join(parts) + "\n"

"""The catalog as DDL: statements (values, not strings glued on the fly) in dependency order, per dialect.

`schema_ddl` turns a snapshot into CREATE statements; `ddl_render` writes them as one deterministic script.
Tables come in foreign-key order; a cycle of foreign keys is closed with ALTER TABLE after both tables exist.
"""

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.schema import AddConstraint, CreateIndex, CreateTable, SetColumnComment, SetTableComment

from catalog.schema.dialects import DialectProfile
from catalog.schema.metadata import SchemaModel, schema_model_build
from core.gc_pause import gc_paused

__all__ = ["Statement", "schema_ddl", "ddl_for_model", "ddl_render", "table_statements", "touch_function"]

TOUCH_FUNCTION = "custodian_touch_row"


@dataclass(frozen=True)
class Statement:
    """One SQL statement, or (is_note) a remark the script carries as a comment."""

    sql: str
    entity_id: str | None = None
    is_note: bool = False


def touch_function(model: SchemaModel) -> Statement:
    """The PostgreSQL trigger function that keeps updated_at and version of audited tables current."""
    name = model.profile.table(model.schema, TOUCH_FUNCTION)
    return Statement(
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        'BEGIN\n    NEW."updated_at" := now();\n    NEW."version" := OLD."version" + 1;\n'
        "    RETURN NEW;\nEND\n$$"
    )


def _touch_trigger(model: SchemaModel, entity_id: str, table: sa.Table) -> list[Statement]:
    profile = model.profile
    target = profile.table(model.schema, table.name)
    trigger = profile.quote(f"{table.name}_touch"[: profile.max_identifier_bytes])
    if profile.name == "postgresql":
        function = profile.table(model.schema, TOUCH_FUNCTION)
        return [
            Statement(
                f"CREATE TRIGGER {trigger} BEFORE UPDATE ON {target} FOR EACH ROW "
                f"EXECUTE FUNCTION {function}()",
                entity_id,
            )
        ]
    if profile.name == "sqlite":
        return [
            Statement(
                f"CREATE TRIGGER {trigger} AFTER UPDATE ON {target} FOR EACH ROW "
                'WHEN NEW."version" = OLD."version" BEGIN '
                f'UPDATE {target} SET "updated_at" = CURRENT_TIMESTAMP, "version" = OLD."version" + 1 '
                "WHERE rowid = NEW.rowid; END",
                entity_id,
            )
        ]
    if profile.name == "mysql":
        return [
            Statement(
                f"{table.name}: updated_at follows ON UPDATE CURRENT_TIMESTAMP; version is kept by "
                "the application (no trigger generated).",
                entity_id,
                is_note=True,
            )
        ]
    return [
        Statement(
            f"{table.name}: updated_at and version are kept by the application on {profile.label} "
            "(no trigger generated).",
            entity_id,
            is_note=True,
        )
    ]


def _comments(model: SchemaModel, entity_id: str, table: sa.Table, entity: dict) -> list[Statement]:
    profile = model.profile
    if profile.name == "mysql":
        return []  # MySQL writes comments inside CREATE TABLE
    if not profile.supports_comments:
        lines = [f"{table.name}: {entity['description']}"] if entity["description"] else []
        lines += [
            f"{table.name}.{c['name']}: {c['description']}"
            for c in sorted(entity["columns"].values(), key=lambda c: c["position"])
            if c["description"]
        ]
        return [Statement(line, entity_id, is_note=True) for line in lines]
    statements = [Statement(profile.compile(SetTableComment(table)), entity_id)] if table.comment else []
    statements += [
        Statement(profile.compile(SetColumnComment(column)), entity_id)
        for column in table.columns
        if column.comment
    ]
    return statements


def table_statements(model: SchemaModel, entity_id: str, entity: dict, foreign_keys=None) -> list[Statement]:
    """CREATE TABLE with its partition, indexes, comments and trigger: everything one entity needs."""
    profile = model.profile
    table = model.tables[entity_id]
    statements = [Statement(note, entity_id, is_note=True) for note in model.notes.get(entity_id, [])]
    create = CreateTable(table, include_foreign_key_constraints=foreign_keys)
    statements.append(Statement(profile.compile(create), entity_id))
    if entity_id in model.partitions:
        default = profile.table(model.schema, f"{table.name}_default"[: profile.max_identifier_bytes])
        statements.append(
            Statement(
                f"CREATE TABLE {default} PARTITION OF {profile.table(model.schema, table.name)} DEFAULT",
                entity_id,
            )
        )
    statements += [
        Statement(profile.compile(CreateIndex(index)), entity_id)
        for index in model.indexes.get(entity_id, [])
    ]
    statements += _comments(model, entity_id, table, entity)
    if entity["has_audit_columns"]:
        statements += _touch_trigger(model, entity_id, table)
    return statements


def ddl_for_model(model: SchemaModel, snapshot: dict, entity_ids: set[str] | None = None) -> list[Statement]:
    """Statements creating the model's tables (or only `entity_ids`), dependency order, cycles closed last."""
    by_table = {table: entity_id for entity_id, table in model.tables.items()}
    tables = sorted(model.tables.values(), key=lambda t: t.name)
    ordered = sa.schema.sort_tables_and_constraints(tables)
    deferred = [fk for table, fks in ordered if table is None for fk in fks]
    if not model.profile.supports_add_constraint:
        deferred = []  # every foreign key inline; the dialect resolves them when rows are written
    wanted = set(model.tables) if entity_ids is None else entity_ids
    statements = []
    if (
        model.profile.supports_triggers
        and model.profile.name == "postgresql"
        and any(snapshot["entities"][e]["has_audit_columns"] for e in wanted)
    ):
        statements.append(touch_function(model))
    for table, _foreign_keys in ordered:
        if table is None or by_table[table] not in wanted:
            continue
        entity_id = by_table[table]
        inline = [fk for fk in table.foreign_key_constraints if fk not in deferred]
        statements += table_statements(model, entity_id, snapshot["entities"][entity_id], inline)
    for fk in sorted(deferred, key=lambda fk: fk.name):
        if by_table[fk.table] in wanted:
            statements.append(Statement(model.profile.compile(AddConstraint(fk)), by_table[fk.table]))
    return statements


def schema_ddl(
    snapshot: dict, profile: DialectProfile, entity_ids: set[str] | None = None
) -> list[Statement]:
    """The DDL creating a snapshot's schema (or some of its entities) in a dialect."""
    with gc_paused():
        return ddl_for_model(schema_model_build(snapshot, profile), snapshot, entity_ids)


def ddl_render(statements: list[Statement], header: str = "") -> str:
    """One script: notes as comments, statements ended by semicolons; same statements, same bytes."""
    parts = [f"-- {line}" for line in header.splitlines()] if header else []
    for statement in statements:
        if statement.is_note:
            parts.append("\n".join(f"-- {line}" for line in statement.sql.splitlines()))
        else:
            parts.append(statement.sql.strip() + ";")
    return "\n\n".join(parts) + "\n"

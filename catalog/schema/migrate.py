"""The SQL that takes a database from one schema model's tables to another's, in a safe order.

Both models (read from releases' snapshots) become SQLAlchemy tables for the dialect (metadata.py); tables
and columns are matched by id (renames are renames), and constraints and indexes by their compiled
definition, so any change to one is a drop and a re-create. The down migration is the same function with
the models swapped. What a dialect cannot alter, or writes differently, comes from its profile.
"""

import sqlalchemy as sa
from sqlalchemy.schema import AddConstraint, CreateColumn, CreateIndex, DropConstraint, DropIndex

from catalog.schema.ddl import Statement, table_statements, touch_function
from catalog.schema.dialects import DialectProfile
from catalog.schema.metadata import AUDIT_COLUMNS, SchemaTables, base_type, default_sql, schema_tables_build
from catalog.schema.model import SchemaModel, Table, schema_model_of
from core.errors import SchemaError
from core.gc_pause import gc_paused

__all__ = ["migration_statements"]


def _constraints(profile: DialectProfile, table: sa.Table, kinds) -> dict[str, tuple[str, object]]:
    """{name: (definition SQL, constraint)} of a table's constraints of the given kinds."""
    found = {}
    for constraint in table.constraints:
        if isinstance(constraint, kinds) and constraint.name:
            found[str(constraint.name)] = (profile.compile(AddConstraint(constraint)), constraint)
    return found


def _indexes(profile: DialectProfile, tables: SchemaTables, table_id: str) -> dict[str, tuple[str, sa.Index]]:
    return {str(i.name): (profile.compile(CreateIndex(i)), i) for i in tables.indexes.get(table_id, [])}


def _changed_tables(old: SchemaModel, new: SchemaModel) -> set[str]:
    """Tables whose definition differs, and those whose foreign keys point into one (their FK SQL names
    the target table and column, so it may differ too)."""
    changed = {
        t
        for t in old.table_ids | new.table_ids
        if (old.table(t) if old.has_table(t) else None) != (new.table(t) if new.has_table(t) else None)
    }
    pointing = {
        table.id
        for model in (old, new)
        for table in model.tables
        if any(foreign_key.target_table_id in changed for foreign_key in table.foreign_keys)
    }
    return changed | pointing


def _neighbourhood(model: SchemaModel, focus: set[str]) -> SchemaModel:
    """The model cut down to the focus tables and the tables their foreign keys point at."""
    wanted = {t for t in focus if model.has_table(t)}
    wanted |= {
        foreign_key.target_table_id
        for t in list(wanted)
        for foreign_key in model.table(t).foreign_keys
        if foreign_key.target_table_id
    }
    return model.subset(wanted)


class _Migration:
    """Collects the statements of one migration, phase by phase."""

    def __init__(self, old: SchemaModel, new: SchemaModel, profile: DialectProfile):
        self.old_model, self.new_model, self.profile = old, new, profile
        # Only what changed (and its foreign-key neighbours) is built: 5% of a large catalog costs 5%.
        focus = _changed_tables(old, new)
        self.old = schema_tables_build(_neighbourhood(old, focus), profile, focus)
        self.new = schema_tables_build(_neighbourhood(new, focus), profile, focus)
        in_old, in_new = focus & old.table_ids, focus & new.table_ids
        self.kept = sorted(in_old & in_new, key=lambda e: self.new.tables[e].name)
        self.added = sorted(in_new - in_old, key=lambda e: self.new.tables[e].name)
        self.dropped = sorted(in_old - in_new, key=lambda e: self.old.tables[e].name)
        self.statements: list[Statement] = []

    def emit(self, sql: str, entity_id: str | None = None) -> None:
        self.statements.append(Statement(sql, entity_id))

    def table_name(self, tables: SchemaTables, entity_id: str) -> str:
        return self.profile.table(tables.schema, tables.tables[entity_id].name)

    def tables_of(self, entity_id: str) -> tuple[Table, Table]:
        """The old and the new model's table of a kept entity."""
        return self.old_model.table(entity_id), self.new_model.table(entity_id)

    # Phase 1: remove what changes or goes, newest dependencies first.
    def drop_changed(self, kinds, entity_ids) -> None:
        if not self.profile.supports_add_constraint:
            return  # dropped tables take their constraints along; changes to kept ones are refused later
        for entity_id in entity_ids:
            old = _constraints(self.profile, self.old.tables[entity_id], kinds)
            new = (
                _constraints(self.profile, self.new.tables[entity_id], kinds)
                if entity_id in self.new.tables
                else {}
            )
            for name, (sql, constraint) in sorted(old.items()):
                if new.get(name, ("",))[0] != sql:
                    self.emit(self.profile.compile(DropConstraint(constraint)), entity_id)

    def drop_indexes(self) -> None:
        for entity_id in self.kept:
            new = _indexes(self.profile, self.new, entity_id)
            for name, (sql, index) in sorted(_indexes(self.profile, self.old, entity_id).items()):
                if new.get(name, ("",))[0] != sql:
                    self.emit(self.profile.compile(DropIndex(index)), entity_id)

    # Phase 2: reshape kept tables.
    def renames(self) -> None:
        for entity_id in self.kept:
            old_table, new_table = self.old.tables[entity_id], self.new.tables[entity_id]
            if old_table.name != new_table.name:
                self.emit(
                    self.profile.render(
                        "rename_table",
                        table=self.table_name(self.old, entity_id),
                        new_name=self.profile.quote(new_table.name),
                        table_plain=old_table.name,
                        new_plain=new_table.name,
                    ),
                    entity_id,
                )
            for column_id in self._kept_columns(entity_id):
                old_name, new_name = self.old.columns[column_id][1].name, self.new.columns[column_id][1].name
                if old_name != new_name:
                    self.emit(
                        self.profile.render(
                            "rename_column",
                            table=self.table_name(self.new, entity_id),
                            column=self.profile.quote(old_name),
                            new_name=self.profile.quote(new_name),
                            table_plain=new_table.name,
                            column_plain=old_name,
                            new_plain=new_name,
                        ),
                        entity_id,
                    )

    def _kept_columns(self, entity_id: str) -> list[str]:
        old, new = self.tables_of(entity_id)
        return [column.id for column in new.columns if old.has_column(column.id)]

    def columns(self) -> None:
        for entity_id in self.kept:
            old, new = self.tables_of(entity_id)
            table = self.table_name(self.new, entity_id)
            for column in old.columns:
                if not new.has_column(column.id):
                    self.emit(
                        self.profile.render(
                            "drop_column", table=table, column=self.profile.quote(column.name)
                        ),
                        entity_id,
                    )
            self._audit_columns(entity_id, table)
            for column in new.columns:
                if not old.has_column(column.id):
                    self._add_column(entity_id, table, self.new.columns[column.id][1])
            for column_id in self._kept_columns(entity_id):
                self._alter_column(
                    entity_id, table, self.old.columns[column_id][1], self.new.columns[column_id][1]
                )

    def _add_column(self, entity_id: str, table: str, column: sa.Column) -> None:
        self.emit(
            self.profile.render(
                "add_column", table=table, definition=self.profile.compile(CreateColumn(column))
            ),
            entity_id,
        )

    def _audit_columns(self, entity_id: str, table: str) -> None:
        old, new = self.tables_of(entity_id)
        before, after = old.has_audit_columns, new.has_audit_columns
        if before == after:
            return
        if after:
            for name in AUDIT_COLUMNS:
                self._add_column(entity_id, table, self.new.tables[entity_id].c[name])
        else:
            if self.profile.has_template("drop_trigger"):
                trigger = self.profile.quote(f"{self.old.tables[entity_id].name}_touch")
                self.emit(self.profile.render("drop_trigger", trigger=trigger, table=table), entity_id)
            for name in AUDIT_COLUMNS:
                self.emit(
                    self.profile.render("drop_column", table=table, column=self.profile.quote(name)),
                    entity_id,
                )

    def _alter_column(self, entity_id: str, table: str, old: sa.Column, new: sa.Column) -> None:
        profile = self.profile
        old_type, new_type = profile.compile(base_type(old)), profile.compile(base_type(new))
        old_default, new_default = default_sql(old), default_sql(new)
        old_generation, new_generation = old.info.get("generation"), new.info.get("generation")
        if (old_type, old.nullable, old_default, old_generation) == (
            new_type,
            new.nullable,
            new_default,
            new_generation,
        ):
            return
        if not profile.supports_alter_column:
            raise SchemaError(
                f"{profile.label} cannot alter column {new.table.name}.{new.name} in place; "
                "recreate the table (export, drop, re-apply) or keep the column as it is."
            )
        parts = {
            "table": table,
            "column": profile.quote(new.name),
            "type": new_type,
            "definition": profile.compile(CreateColumn(new)),
            "name": profile.quote(f"{new.table.name}_{new.name}_default"[: profile.max_identifier_bytes]),
        }
        generation = _GenerationChange(self, entity_id, parts, old, new)
        if old_type != new_type:
            self.emit(profile.render("alter_type", **parts), entity_id)
        generation.drop()
        if old_default != new_default:
            if new_default is None:
                self.emit(profile.render("drop_default", **parts), entity_id)
            else:
                self.emit(
                    profile.render(
                        "set_default",
                        default=new_default,
                        **{k: v for k, v in parts.items() if k != "default"},
                    ),
                    entity_id,
                )
        if old.nullable != new.nullable:
            self.emit(profile.render("drop_not_null" if new.nullable else "set_not_null", **parts), entity_id)
        generation.add()

    # Phase 3: build what is new.
    def create_tables(self) -> None:
        # The first release creates its schema, so its script runs on an empty database as it is.
        if self.added and not self.old_model.tables and self.new.schema and self.profile.supports_schemas:
            self.emit(
                self.profile.render(
                    "create_schema", schema=self.profile.quote(self.new.schema), schema_plain=self.new.schema
                )
            )
        # The trigger function comes with the first audited table (PostgreSQL; other dialects have none).
        function = touch_function(self.new)
        if (
            function
            and any(self.new_model.table(e).has_audit_columns for e in self.added + self.kept)
            and not any(table.has_audit_columns for table in self.old_model.tables)
        ):
            self.statements.append(function)
        for entity_id in self.added:
            self.statements += table_statements(
                self.new,
                entity_id,
                # Inline where constraints cannot be added later (SQLite), else added after all tables.
                foreign_keys=[] if self.profile.supports_add_constraint else None,
            )

    def add_changed(self, kinds, entity_ids) -> None:
        for entity_id in entity_ids:
            if not self.profile.supports_add_constraint and entity_id in self.kept:
                self._refuse_constraint_change(kinds, entity_id)
                continue
            old = (
                _constraints(self.profile, self.old.tables[entity_id], kinds)
                if entity_id in self.old.tables
                else {}
            )
            for name, (sql, _constraint) in sorted(
                _constraints(self.profile, self.new.tables[entity_id], kinds).items()
            ):
                if old.get(name, ("",))[0] != sql:
                    self.emit(sql, entity_id)

    def _refuse_constraint_change(self, kinds, entity_id: str) -> None:
        old = {
            n: sql for n, (sql, _c) in _constraints(self.profile, self.old.tables[entity_id], kinds).items()
        }
        new = {
            n: sql for n, (sql, _c) in _constraints(self.profile, self.new.tables[entity_id], kinds).items()
        }
        if old != new:
            raise SchemaError(
                f"{self.profile.label} cannot change the keys or checks of existing table "
                f"'{self.new.tables[entity_id].name}'; recreate the table or keep them as they are."
            )

    def create_indexes(self) -> None:
        for entity_id in self.kept:
            old = _indexes(self.profile, self.old, entity_id)
            for name, (sql, _index) in sorted(_indexes(self.profile, self.new, entity_id).items()):
                if old.get(name, ("",))[0] != sql:
                    self.emit(sql, entity_id)

    def drop_tables(self) -> None:
        for entity_id in self.dropped:
            self.emit(
                self.profile.render("drop_table", table=self.table_name(self.old, entity_id)), entity_id
            )

    def comments_and_triggers(self) -> None:
        for entity_id in self.kept:
            old, new = self.tables_of(entity_id)
            if old.partitioning != new.partitioning:
                raise SchemaError(
                    f"Entity '{new.name}': changing the partitioning of an existing table "
                    "means rebuilding it; Custodian does not generate that migration."
                )
            new_statements = table_statements(self.new, entity_id, foreign_keys=[])
            if self.profile.comments_replace:
                old_comments = {s.sql for s in table_statements(self.old, entity_id, foreign_keys=[])}
                self.statements += [
                    s for s in new_statements if s.kind == "comment" and s.sql not in old_comments
                ]
            self._comments_removed(entity_id, old, new)
            if new.has_audit_columns and not old.has_audit_columns:
                self.statements += [s for s in new_statements if s.kind == "trigger"]

    def _comments_removed(self, entity_id: str, old: Table, new: Table) -> None:
        """A comment emptied in the catalog is set to NULL, where a comment statement replaces one."""
        profile = self.profile
        if not profile.comments_replace:
            return
        table = self.table_name(self.new, entity_id)
        if old.description and not new.description:
            self.emit(profile.render("comment_table", table=table, comment="NULL"), entity_id)
        for column in sorted(new.columns, key=lambda c: c.id):
            if old.has_column(column.id) and old.column(column.id).description and not column.description:
                name = profile.quote(column.name)
                self.emit(
                    profile.render("comment_column", table=table, column=name, comment="NULL"), entity_id
                )


class _GenerationChange:
    """A kept column's key generation from old to new: removed before its default and NOT NULL change, added
    after them (an identity needs NOT NULL and no default). PostgreSQL says each step with its templates
    (identities in place, serial as its sequence and nextval default); a dialect that writes generation as
    part of the column restates the column; any other refuses."""

    def __init__(self, migration: "_Migration", entity_id: str, parts: dict, old: sa.Column, new: sa.Column):
        self.migration, self.entity_id, self.parts = migration, entity_id, parts
        self.profile = migration.profile
        self.old, self.new = old.info.get("generation"), new.info.get("generation")
        self.table_name, self.column_name, self.base = new.table.name, new.name, base_type(new)
        self.changed = self.old != self.new
        if self.changed and not self.profile.has_template("add_identity"):
            if old.info.get("live_generation") == new.info.get("live_generation"):
                self.changed = False  # the dialect writes both the same way (notes say what it lacks)
            elif not self.profile.has_template("modify_generation"):
                raise SchemaError(
                    f"{self.profile.label} cannot change the key generation of existing column "
                    f"{self.table_name}.{self.column_name}; recreate the table or keep it as it is."
                )

    def emit(self, template: str, **extra) -> None:
        self.migration.emit(self.profile.render(template, **self.parts, **extra), self.entity_id)

    def _same_kind(self) -> bool:
        return self.old is not None and self.new is not None and self.old.is_identity and self.new.is_identity

    def drop(self) -> None:
        if (
            not self.changed
            or self.old is None
            or self._same_kind()
            or not self.profile.has_template("add_identity")
        ):
            return
        if self.old.is_identity:
            self.emit("drop_identity")
        else:
            self.emit("drop_default")
            self.emit("drop_sequence", sequence=self._sequence())

    def add(self) -> None:
        if not self.changed or self.new is None:
            return
        if not self.profile.has_template("add_identity"):
            self.emit("modify_generation")
        elif self._same_kind():
            self._alter_identity()
        elif self.new.is_identity:
            mode = "ALWAYS" if self.new.is_always else "BY DEFAULT"
            options = " ".join(_option_sql(name, value) for name, value in self.new.options)
            self.emit("add_identity", mode=mode, options=f" ({options})" if options else "")
        else:
            self._add_serial()

    def _alter_identity(self) -> None:
        profile, changes = self.profile, []
        if self.old.is_always != self.new.is_always:
            mode = "ALWAYS" if self.new.is_always else "BY DEFAULT"
            changes.append(profile.render("identity_set_mode", mode=mode))
        for name in ("start", "increment", "minvalue", "maxvalue", "cache", "cycle"):
            if self.old.option(name) != self.new.option(name):
                option = _option_sql(name, self.new.option(name))
                changes.append(profile.render("identity_set_option", option=option))
        self.emit("alter_identity", changes=" ".join(changes))

    def _sequence(self) -> str:
        # PostgreSQL names a serial's sequence <table>_<column>_seq.
        name = f"{self.table_name}_{self.column_name}_seq"[: self.profile.max_identifier_bytes]
        return self.profile.table(self.migration.new.schema, name)

    def _add_serial(self) -> None:
        sequence = self._sequence()
        sequence_text = self.profile.literal(sequence, sa.Text())
        self.emit("create_serial_sequence", sequence=sequence)
        self.emit("set_default", default=f"nextval({sequence_text}::regclass)")
        self.emit("start_serial_sequence", sequence_text=sequence_text)


def _option_sql(name: str, value) -> str:
    """An identity option as PostgreSQL's sequence clause (None: back to the type's own bound)."""
    if name == "cycle":
        return "CYCLE" if value else "NO CYCLE"
    if value is None:
        return {"minvalue": "NO MINVALUE", "maxvalue": "NO MAXVALUE"}[name]
    words = {
        "start": "START WITH",
        "increment": "INCREMENT BY",
        "minvalue": "MINVALUE",
        "maxvalue": "MAXVALUE",
    }
    return f"{words.get(name, name.upper())} {int(value)}"


def migration_statements(
    old: dict | SchemaModel, new: dict | SchemaModel, profile: DialectProfile
) -> list[Statement]:
    """Statements taking a database with `old`'s schema to `new`'s (models, or releases' snapshots),
    dependency-safe."""
    with gc_paused():
        return _migration_statements(schema_model_of(old), schema_model_of(new), profile)


def _migration_statements(old: SchemaModel, new: SchemaModel, profile: DialectProfile) -> list[Statement]:
    migration = _Migration(old, new, profile)
    key_kinds = (sa.PrimaryKeyConstraint, sa.UniqueConstraint, sa.CheckConstraint)
    migration.drop_changed(sa.ForeignKeyConstraint, sorted(migration.kept + migration.dropped))
    migration.drop_indexes()
    migration.drop_changed(key_kinds, migration.kept)
    migration.renames()
    migration.columns()
    migration.create_tables()
    migration.add_changed(key_kinds, migration.kept)
    migration.drop_tables()
    migration.create_indexes()
    migration.add_changed(
        sa.ForeignKeyConstraint,
        migration.kept + (migration.added if profile.supports_add_constraint else []),
    )
    migration.comments_and_triggers()
    return migration.statements

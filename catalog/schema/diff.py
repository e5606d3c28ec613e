"""What changed between two schema models (or releases' snapshots), matched by stable ids (a rename is a
rename), in words and data."""

from dataclasses import asdict, dataclass, field

from catalog.schema.model import Column, Index, SchemaModel, Table, schema_model_of

__all__ = ["Change", "snapshot_diff", "schema_diff"]


@dataclass
class Change:
    """One difference: `kind` says what (table_added, column_altered ...), `text` says it to a person."""

    kind: str
    entity: str
    text: str
    column: str = ""
    data: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


# Column facts compared one by one: (attribute, the kind's suffix, how a person calls it).
_SIMPLE_FIELDS = [
    ("default_value", "default"),
    ("primary_key_position", "primary key position"),
    ("is_unique", "unique"),
    ("description", "comment"),
]


def _reference(table: Table, column: Column) -> tuple | None:
    foreign_key = table.foreign_key_of(column.id)
    if foreign_key is None:
        return None
    fk = foreign_key
    return (fk.target_column_ids, fk.on_delete, fk.on_update, fk.deferrable)


# What a foreign key does besides pointing, as (position in `_reference`, how a person calls it).
_REFERENCE_RULES = [(1, "ON DELETE"), (2, "ON UPDATE"), (3, "")]


def _words(value: str) -> str:
    return value.replace("_", " ").upper()


def _reference_change(entity: str, name: str, before: tuple | None, after: tuple | None) -> Change:
    """A foreign key added, dropped, re-pointed, or with other actions or deferrability, said in words."""
    text = f"{entity}.{name}: foreign key changed"
    if before and after and before[0] == after[0]:
        said = [
            f"{label} {_words(before[at])} → {_words(after[at])}".strip()
            for at, label in _REFERENCE_RULES
            if before[at] != after[at]
        ]
        text += f" ({'; '.join(said)})"
    data = {
        "old": list(before[1:]) if before else None,
        "new": list(after[1:]) if after else None,
    }
    return Change("column_foreign_key", entity, text, name, data)


def _column_changes(
    entity: str, old_table: Table, old: Column, new_table: Table, new: Column
) -> list[Change]:
    name = new.name
    changes = []
    if old.name != new.name:
        changes.append(
            Change(
                "column_renamed",
                entity,
                f"{entity}.{old.name} renamed to {new.name}",
                name,
                {"old": old.name, "new": new.name},
            )
        )
    if old.type.label != new.type.label:
        changes.append(
            Change(
                "column_type",
                entity,
                f"{entity}.{name}: {old.type.label} → {new.type.label}",
                name,
                {"old": old.type.label, "new": new.type.label, "narrowing": old.type.narrows_to(new.type)},
            )
        )
    if old.nullable != new.nullable:
        state = "NULL allowed" if new.nullable else "NOT NULL"
        changes.append(
            Change(
                "column_nullability",
                entity,
                f"{entity}.{name}: now {state}",
                name,
                {"nullable": new.nullable, "has_default": bool(new.default_value)},
            )
        )
    for key, label in _SIMPLE_FIELDS:
        before, after = getattr(old, key), getattr(new, key)
        if before != after:
            changes.append(
                Change(
                    f"column_{key}",
                    entity,
                    f"{entity}.{name}: {label} {before!r} → {after!r}",
                    name,
                    {"old": before, "new": after},
                )
            )
    if old.generation != new.generation:
        before = old.generation.label if old.generation else "none"
        after = new.generation.label if new.generation else "none"
        changes.append(
            Change(
                "column_generation",
                entity,
                f"{entity}.{name}: key generation {before} → {after}",
                name,
                {"old": before, "new": after},
            )
        )
    if old.checks != new.checks:
        changes.append(Change("column_checks", entity, f"{entity}.{name}: checks changed", name))
    before, after = _reference(old_table, old), _reference(new_table, new)
    if before != after:
        changes.append(_reference_change(entity, name, before, after))
    return changes


def _index_changes(entity: str, old: tuple[Index, ...], new: tuple[Index, ...]) -> list[Change]:
    before_by_id, after_by_id = {i.id: i for i in old}, {i.id: i for i in new}
    changes = []
    for index_id in sorted(before_by_id.keys() | after_by_id.keys()):
        before, after = before_by_id.get(index_id), after_by_id.get(index_id)
        if before is None:
            changes.append(
                Change(
                    "index_added",
                    entity,
                    f"index {after.name} on {entity} added",
                    "",
                    {"unique": after.is_unique, "name": after.name},
                )
            )
        elif after is None:
            changes.append(
                Change(
                    "index_dropped",
                    entity,
                    f"index {before.name} on {entity} dropped",
                    "",
                    {"name": before.name},
                )
            )
        elif before != after:
            changes.append(
                Change(
                    "index_changed",
                    entity,
                    f"index {after.name} on {entity} changed",
                    "",
                    {"unique": after.is_unique and not before.is_unique, "name": after.name},
                )
            )
    return changes


def _table_changes(entity: str, old: Table, new: Table) -> list[Change]:
    changes = []
    if old.name != new.name:
        changes.append(
            Change(
                "table_renamed",
                entity,
                f"table {old.name} renamed to {new.name}",
                "",
                {"old": old.name, "new": new.name},
            )
        )
    if old.description != new.description:
        changes.append(Change("table_comment", entity, f"{entity}: comment changed"))
    if old.has_audit_columns != new.has_audit_columns:
        changes.append(
            Change(
                "audit_columns",
                entity,
                f"{entity}: audit columns " + ("added" if new.has_audit_columns else "dropped"),
                "",
                {"added": new.has_audit_columns},
            )
        )
    if old.partitioning != new.partitioning:
        changes.append(Change("partitioning", entity, f"{entity}: partitioning changed"))
    return changes


def _column_list_changes(entity: str, old: Table, new: Table) -> list[Change]:
    changes = []
    column_ids = {c.id for c in old.columns} | {c.id for c in new.columns}
    for column_id in sorted(
        column_ids,
        key=lambda c: ((new.column(c) if new.has_column(c) else old.column(c)).position, c),
    ):
        if not old.has_column(column_id):
            after = new.column(column_id)
            not_null = "" if after.nullable else " NOT NULL"
            changes.append(
                Change(
                    "column_added",
                    entity,
                    f"{entity}.{after.name} added ({after.type.label}{not_null})",
                    after.name,
                    {
                        "nullable": after.nullable,
                        "has_default": bool(after.default_value),
                        "unique": after.is_unique,
                    },
                )
            )
        elif not new.has_column(column_id):
            before = old.column(column_id)
            changes.append(Change("column_dropped", entity, f"{entity}.{before.name} dropped", before.name))
        else:
            changes += _column_changes(entity, old, old.column(column_id), new, new.column(column_id))
    return changes


def schema_diff(old: SchemaModel, new: SchemaModel) -> list[Change]:
    """Every difference from `old` to `new`, tables in name order."""
    changes = []
    for table_id in sorted(
        old.table_ids | new.table_ids,
        key=lambda t: ((new.table(t) if new.has_table(t) else old.table(t)).name, t),
    ):
        if not old.has_table(table_id):
            after = new.table(table_id)
            changes.append(
                Change("table_added", after.name, f"table {after.name} added ({len(after.columns)} columns)")
            )
        elif not new.has_table(table_id):
            before = old.table(table_id)
            changes.append(Change("table_dropped", before.name, f"table {before.name} dropped"))
        else:
            before, after = old.table(table_id), new.table(table_id)
            changes += _table_changes(after.name, before, after)
            changes += _column_list_changes(after.name, before, after)
            changes += _index_changes(after.name, before.indexes, after.indexes)
    return changes


def snapshot_diff(old: dict | SchemaModel, new: dict | SchemaModel) -> list[Change]:
    """Every difference between two releases' snapshots (or models), tables in name order."""
    return schema_diff(schema_model_of(old), schema_model_of(new))

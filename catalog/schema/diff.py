"""What changed between two snapshots, matched by stable ids (a rename is a rename), in words and data."""

from dataclasses import asdict, dataclass, field

from catalog.choices import TYPE_FAMILIES, DataType

__all__ = ["Change", "snapshot_diff", "type_label", "is_narrowing"]

CHECK_FIELDS = ["min_value", "max_value", "allowed_values", "min_length", "pattern"]
INTEGER_WIDTH = {"smallint": 2, "integer": 4, "bigint": 8}


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


def type_label(column: dict) -> str:
    if column["data_type"] in ("varchar", "char"):
        return f"{column['data_type']}({column['length']})"
    if column["data_type"] == "numeric" and column["precision"]:
        return f"numeric({column['precision']},{column['scale'] or 0})"
    return column["data_type"]


def is_narrowing(old: dict, new: dict) -> bool:
    """Whether values of the old type may not fit the new one."""
    old_type, new_type = old["data_type"], new["data_type"]
    if TYPE_FAMILIES[DataType(old_type)] != TYPE_FAMILIES[DataType(new_type)]:
        return not (old_type in INTEGER_WIDTH and new_type == "numeric")
    if old_type in INTEGER_WIDTH:
        return INTEGER_WIDTH[new_type] < INTEGER_WIDTH[old_type]
    if old_type in ("varchar", "char", "text"):
        if new_type == "text":
            return False
        return old_type == "text" or (new["length"] or 0) < (old["length"] or 0)
    if old_type == "numeric":
        if not new["precision"]:
            return False
        if not old["precision"]:
            return True
        integer_digits = lambda c: c["precision"] - (c["scale"] or 0)  # noqa: E731
        return integer_digits(new) < integer_digits(old) or (new["scale"] or 0) < (old["scale"] or 0)
    return old_type != new_type and (old_type, new_type) not in {
        ("real", "double"),
        ("timestamp", "timestamptz"),
    }


def _column_changes(entity: str, old: dict, new: dict) -> list[Change]:
    name = new["name"]
    changes = []
    if old["name"] != new["name"]:
        changes.append(
            Change(
                "column_renamed",
                entity,
                f"{entity}.{old['name']} renamed to {new['name']}",
                name,
                {"old": old["name"], "new": new["name"]},
            )
        )
    if type_label(old) != type_label(new):
        changes.append(
            Change(
                "column_type",
                entity,
                f"{entity}.{name}: {type_label(old)} → {type_label(new)}",
                name,
                {"old": type_label(old), "new": type_label(new), "narrowing": is_narrowing(old, new)},
            )
        )
    if old["nullable"] != new["nullable"]:
        state = "NULL allowed" if new["nullable"] else "NOT NULL"
        changes.append(
            Change(
                "column_nullability",
                entity,
                f"{entity}.{name}: now {state}",
                name,
                {"nullable": new["nullable"], "has_default": bool(new["default_value"])},
            )
        )
    simple = [
        ("default_value", "default"),
        ("primary_key_position", "primary key position"),
        ("is_unique", "unique"),
        ("description", "comment"),
    ]
    for key, label in simple:
        if old[key] != new[key]:
            changes.append(
                Change(
                    f"column_{key}",
                    entity,
                    f"{entity}.{name}: {label} {old[key]!r} → {new[key]!r}",
                    name,
                    {"old": old[key], "new": new[key]},
                )
            )
    if [old[k] for k in CHECK_FIELDS] != [new[k] for k in CHECK_FIELDS]:
        changes.append(Change("column_checks", entity, f"{entity}.{name}: checks changed", name))
    if (old["references_id"], old["on_delete"]) != (new["references_id"], new["on_delete"]):
        changes.append(Change("column_foreign_key", entity, f"{entity}.{name}: foreign key changed", name))
    return changes


def _index_changes(entity: str, old: dict, new: dict) -> list[Change]:
    changes = []
    for index_id in sorted(set(old) | set(new)):
        before, after = old.get(index_id), new.get(index_id)
        if before is None:
            changes.append(
                Change(
                    "index_added",
                    entity,
                    f"index {after['name']} on {entity} added",
                    "",
                    {"unique": after["is_unique"], "name": after["name"]},
                )
            )
        elif after is None:
            changes.append(
                Change(
                    "index_dropped",
                    entity,
                    f"index {before['name']} on {entity} dropped",
                    "",
                    {"name": before["name"]},
                )
            )
        elif before != after:
            changes.append(
                Change(
                    "index_changed",
                    entity,
                    f"index {after['name']} on {entity} changed",
                    "",
                    {"unique": after["is_unique"] and not before["is_unique"], "name": after["name"]},
                )
            )
    return changes


def _entity_changes(old: dict, new: dict) -> list[Change]:
    entity = new["name"]
    changes = []
    if old["name"] != new["name"]:
        changes.append(
            Change(
                "table_renamed",
                entity,
                f"table {old['name']} renamed to {new['name']}",
                "",
                {"old": old["name"], "new": new["name"]},
            )
        )
    if old["description"] != new["description"]:
        changes.append(Change("table_comment", entity, f"{entity}: comment changed"))
    if old["has_audit_columns"] != new["has_audit_columns"]:
        changes.append(
            Change(
                "audit_columns",
                entity,
                f"{entity}: audit columns " + ("added" if new["has_audit_columns"] else "dropped"),
                "",
                {"added": new["has_audit_columns"]},
            )
        )
    if old["partition_column_id"] != new["partition_column_id"]:
        changes.append(Change("partitioning", entity, f"{entity}: partitioning changed"))
    for column_id in sorted(
        set(old["columns"]) | set(new["columns"]),
        key=lambda c: (new["columns"].get(c) or old["columns"][c])["position"],
    ):
        before, after = old["columns"].get(column_id), new["columns"].get(column_id)
        if before is None:
            changes.append(
                Change(
                    "column_added",
                    entity,
                    f"{entity}.{after['name']} added ({type_label(after)}"
                    f"{'' if after['nullable'] else ' NOT NULL'})",
                    after["name"],
                    {
                        "nullable": after["nullable"],
                        "has_default": bool(after["default_value"]),
                        "unique": after["is_unique"],
                    },
                )
            )
        elif after is None:
            changes.append(
                Change("column_dropped", entity, f"{entity}.{before['name']} dropped", before["name"])
            )
        else:
            changes += _column_changes(entity, before, after)
    return changes + _index_changes(entity, old["indexes"], new["indexes"])


def snapshot_diff(old: dict, new: dict) -> list[Change]:
    """Every difference from `old` to `new`, tables in name order."""
    changes = []
    old_entities, new_entities = old.get("entities", {}), new.get("entities", {})
    for entity_id in sorted(
        set(old_entities) | set(new_entities), key=lambda e: (new_entities.get(e) or old_entities[e])["name"]
    ):
        before, after = old_entities.get(entity_id), new_entities.get(entity_id)
        if before is None:
            changes.append(
                Change(
                    "table_added",
                    after["name"],
                    f"table {after['name']} added ({len(after['columns'])} columns)",
                )
            )
        elif after is None:
            changes.append(Change("table_dropped", before["name"], f"table {before['name']} dropped"))
        else:
            changes += _entity_changes(before, after)
    return changes

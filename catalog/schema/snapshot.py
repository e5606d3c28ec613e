"""A data store's catalog as a canonical, checksummed snapshot: plain JSON keyed by the objects' stable ids.

Releases store snapshots; DDL, diffs and migrations are computed from them, never from the live catalog, so a
release renders the same SQL forever. Ids (not names) key every object, so a rename is known to be a rename.
"""

import hashlib
import json

from django.db.models import Prefetch

from catalog.models import Column, DataStore, Entity, Index, IndexColumn
from core.gc_pause import gc_paused

__all__ = [
    "snapshot_empty",
    "snapshot_build",
    "snapshot_checksum",
    "snapshot_canonical",
    "EMPTY_SNAPSHOT",
    "COLUMN_FIELDS",
    "COLUMN_GENERATION_FIELDS",
    "COLUMN_OPTIONAL_DEFAULTS",
    "ENTITY_FIELDS",
    "INDEX_FIELDS",
]

EMPTY_SNAPSHOT = {"datastore": {}, "entities": {}}

COLUMN_FIELDS = [
    "name",
    "position",
    "data_type",
    "length",
    "precision",
    "scale",
    "nullable",
    "default_value",
    "primary_key_position",
    "is_unique",
    "min_value",
    "max_value",
    "min_length",
    "pattern",
    "allowed_values",
    "description",
    "pii_category",
    "masking_strategy",
    "references_id",
    "on_delete",
    "on_update",
    "deferrable",
]
# Foreign-key fields a snapshot holds only when they differ from these defaults, so releases published before
# they existed read back byte for byte.
COLUMN_OPTIONAL_DEFAULTS = {"on_update": "no_action", "deferrable": "not_deferrable"}

# Written only when set (see _column), so old releases keep their bytes.
COLUMN_GENERATION_FIELDS = ["generation", "identity_options"]

# The fields of an entity and of an index a release holds besides their columns (what makes a change one
# that waits for a release: the dashboard counts those too).
ENTITY_FIELDS = ["name", "kind", "description", "has_audit_columns", "partition_column_id"]
INDEX_FIELDS = ["name", "is_unique", "is_constraint", "method", "condition", "description"]


def _column(column: Column) -> dict:
    values = {field: getattr(column, field) for field in COLUMN_FIELDS}
    for field, default in COLUMN_OPTIONAL_DEFAULTS.items():
        if values[field] == default:
            del values[field]
    values["references_id"] = str(column.references_id) if column.references_id else None
    # Only when set, so releases published before key generation existed read as unchanged.
    if column.generation:
        values["generation"] = column.generation
        if column.identity_options:
            values["identity_options"] = dict(sorted(column.identity_options.items()))
    return values


def _index(index: Index) -> dict:
    usages = sorted(index.index_columns.all(), key=lambda u: (u.included, u.position))
    return {
        "name": index.name,
        "is_unique": index.is_unique,
        "method": index.method,
        "condition": index.condition,
        "description": index.description,
        "columns": [[str(u.column_id), u.order] for u in usages if not u.included],
        "include": [str(u.column_id) for u in usages if u.included],
        # Only when set, so releases published before constraints existed read as unchanged.
        **({"is_constraint": True} if index.is_constraint else {}),
    }


def _entity(entity: Entity) -> dict:
    return {
        "name": entity.name,
        "kind": entity.kind,
        "description": entity.description,
        "has_audit_columns": entity.has_audit_columns,
        "partition_column_id": str(entity.partition_column_id) if entity.partition_column_id else None,
        "columns": {str(c.pk): _column(c) for c in entity.columns.all()},
        "indexes": {str(i.pk): _index(i) for i in entity.indexes.all()},
    }


def snapshot_empty(datastore: DataStore) -> dict:
    """The snapshot of a data store with no entities: what version 0 is."""
    return {
        "datastore": {
            "id": str(datastore.pk),
            "name": datastore.name,
            "engine": datastore.engine,
            "schema": datastore.schema_name,
        },
        "entities": {},
    }


def snapshot_build(datastore: DataStore) -> dict:
    """The data store's catalog as a snapshot, in four queries whatever its size."""
    entities = Entity.objects.filter(datastore=datastore).prefetch_related(
        Prefetch("columns", queryset=Column.objects.order_by("position", "id")),
        Prefetch(
            "indexes",
            queryset=Index.objects.prefetch_related(
                Prefetch("index_columns", queryset=IndexColumn.objects.all())
            ),
        ),
    )
    with gc_paused():
        return {**snapshot_empty(datastore), "entities": {str(e.pk): _entity(e) for e in entities}}


def snapshot_canonical(snapshot: dict) -> str:
    """The snapshot as canonical JSON: the same catalog always gives the same bytes."""
    return json.dumps(snapshot, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def snapshot_checksum(snapshot: dict) -> str:
    return hashlib.sha256(snapshot_canonical(snapshot).encode()).hexdigest()

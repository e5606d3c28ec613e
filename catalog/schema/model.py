"""A data store's catalog as typed, immutable values: what DDL, diff, drift, migrations and codegen read.

A release stores its catalog as plain JSON (snapshot.py); `schema_model_from_snapshot` reads that JSON once
into these dataclasses, and `schema_model_snapshot` writes them back byte for byte, so releases published
long ago load unchanged. Every object keeps the stable id the catalog gave it (a rename is a rename), tables
and columns come in a fixed order, and lookups by id are methods, not string keys.

    SchemaModel(store, tables)
      Table(id, name, columns, indexes, foreign_keys, partitioning, ...)
        Column(id, name, type: ColumnType, checks: ColumnChecks, ...)
        Index(id, name, keys: (IndexKey, ...), include, ...)
        ForeignKey(column_ids -> target_table_id.target_column_ids, on_delete, on_update, deferrable)
        Partitioning(method, column_id)

New kinds of object are additions: a table-level check is one more tuple on Table, a composite or deferrable
foreign key is a ForeignKey with more columns or one more field, an expression index key is an IndexKey with
an expression instead of a column, an array or enum type is a ColumnType with one more field.
"""

import functools
from dataclasses import dataclass
from functools import cached_property

from catalog.choices import IDENTITY_OPTIONS, TYPE_FAMILIES, DataType
from core.gc_pause import gc_paused

__all__ = [
    "SchemaModel",
    "Store",
    "Table",
    "Column",
    "ColumnType",
    "ColumnChecks",
    "Generation",
    "Index",
    "IndexKey",
    "ForeignKey",
    "Deferrable",
    "Partitioning",
    "schema_model_from_snapshot",
    "schema_model_from_catalog",
    "schema_model_snapshot",
    "schema_model_of",
]

INTEGER_WIDTH = {"smallint": 2, "integer": 4, "bigint": 8}
# Widening changes between different types that keep every value.
_LOSSLESS = {("real", "double"), ("timestamp", "timestamptz")}


@dataclass(frozen=True)
class ColumnType:
    """A catalog type with its parameters: varchar(n), numeric(p,s), or a bare name."""

    name: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None

    @property
    def family(self) -> str:
        """The type family (string, integer, numeric, ...) foreign keys and casts are checked by."""
        return TYPE_FAMILIES[DataType(self.name)]

    @property
    def label(self) -> str:
        """How a person writes the type: varchar(50), numeric(12,2), text."""
        if self.name in ("varchar", "char"):
            return f"{self.name}({self.length})"
        if self.name == "numeric" and self.precision:
            return f"numeric({self.precision},{self.scale or 0})"
        return self.name

    def narrows_to(self, new: "ColumnType") -> bool:
        """Whether values of this type may not fit `new`."""
        old_type, new_type = self.name, new.name
        if self.family != new.family:
            return not (old_type in INTEGER_WIDTH and new_type == "numeric")
        if old_type in INTEGER_WIDTH:
            return INTEGER_WIDTH[new_type] < INTEGER_WIDTH[old_type]
        if old_type in ("varchar", "char", "text"):
            if new_type == "text":
                return False
            return old_type == "text" or (new.length or 0) < (self.length or 0)
        if old_type == "numeric":
            if not new.precision:
                return False
            if not self.precision:
                return True
            integer_digits = self.precision - (self.scale or 0)
            new_integer_digits = new.precision - (new.scale or 0)
            return new_integer_digits < integer_digits or (new.scale or 0) < (self.scale or 0)
        return old_type != new_type and (old_type, new_type) not in _LOSSLESS


@dataclass(frozen=True)
class ColumnChecks:
    """The value rules of a column, each a CHECK constraint in the DDL where the dialect can say it."""

    min_value: str = ""
    max_value: str = ""
    allowed_values: tuple = ()
    min_length: int | None = None
    pattern: str = ""

    def __bool__(self) -> bool:
        return bool(self.min_value or self.max_value or self.allowed_values or self.pattern) or (
            self.min_length is not None
        )


@dataclass(frozen=True)
class Generation:
    """How the database fills a column an insert leaves out: `kind` is serial, always or by_default (an
    identity); `options` the identity's sequence options that differ from the default, sorted by name."""

    kind: str
    options: tuple[tuple[str, object], ...] = ()

    @property
    def is_identity(self) -> bool:
        return self.kind in ("always", "by_default")

    @property
    def is_always(self) -> bool:
        return self.kind == "always"

    def option(self, name: str):
        """An option's value, or its default (None where the default depends on the type)."""
        return dict(self.options).get(name, IDENTITY_OPTIONS[name])

    @property
    def label(self) -> str:
        """How DDL says it: serial, GENERATED ALWAYS AS IDENTITY (START WITH 100)."""
        if not self.is_identity:
            return self.kind
        mode = "ALWAYS" if self.is_always else "BY DEFAULT"
        options = " ".join(f"{name}={value}" for name, value in self.options)
        return f"GENERATED {mode} AS IDENTITY" + (f" ({options})" if options else "")


@dataclass(frozen=True)
class Column:
    """A column of a table, its catalog facts as the catalog holds them."""

    id: str
    name: str
    position: int
    type: ColumnType
    nullable: bool = True
    default_value: str = ""
    primary_key_position: int | None = None
    is_unique: bool = False
    checks: ColumnChecks = ColumnChecks()
    description: str = ""
    pii_category: str = "none"
    masking_strategy: str = "none"
    generation: Generation | None = None  # None: the database generates nothing

    # The type's parts under the names the catalog's Column model uses.
    @property
    def data_type(self) -> str:
        return self.type.name

    @property
    def length(self) -> int | None:
        return self.type.length

    @property
    def precision(self) -> int | None:
        return self.type.precision

    @property
    def scale(self) -> int | None:
        return self.type.scale

    @property
    def is_pii(self) -> bool:
        return self.pii_category != "none"


@dataclass(frozen=True)
class IndexKey:
    """One key of an index: a column, ascending or descending."""

    column_id: str
    descending: bool = False


@dataclass(frozen=True)
class Index:
    """An index, or (is_constraint) a multi-column UNIQUE constraint kept as the database had it."""

    id: str
    name: str
    keys: tuple[IndexKey, ...]
    include: tuple[str, ...] = ()  # column ids
    is_unique: bool = False
    method: str = "btree"
    condition: str = ""
    description: str = ""
    is_constraint: bool = False


class Deferrable:
    """What a foreign key's `deferrable` choice (not_deferrable, initially_immediate, initially_deferred)
    means, for every class that carries one (this model's ForeignKey, codegen's)."""

    deferrable: str

    @property
    def is_deferrable(self) -> bool:
        return self.deferrable != "not_deferrable"

    @property
    def initially_deferred(self) -> bool:
        return self.deferrable == "initially_deferred"


@dataclass(frozen=True)
class ForeignKey(Deferrable):
    """`column_ids` of the owning table point at `target_column_ids` of `target_table_id` (None: the target is
    outside this data store's catalog, which DDL refuses)."""

    column_ids: tuple[str, ...]
    target_table_id: str | None
    target_column_ids: tuple[str, ...]
    on_delete: str = "no_action"
    on_update: str = "no_action"
    deferrable: str = "not_deferrable"  # or initially_immediate, initially_deferred


@dataclass(frozen=True)
class Partitioning:
    """How a table is partitioned: today by range on one column."""

    column_id: str
    method: str = "range"


@dataclass(frozen=True)
class Table:
    """An entity of the catalog: one table with its columns (by position), indexes (by name) and keys."""

    id: str
    name: str
    kind: str = "table"
    description: str = ""
    has_audit_columns: bool = False
    columns: tuple[Column, ...] = ()
    indexes: tuple[Index, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    partitioning: Partitioning | None = None

    @cached_property
    def _columns_by_id(self) -> dict[str, Column]:
        return {column.id: column for column in self.columns}

    def column(self, column_id: str) -> Column:
        """The column with this id; KeyError if the table has none."""
        return self._columns_by_id[column_id]

    def has_column(self, column_id: str) -> bool:
        return column_id in self._columns_by_id

    def column_named(self, name: str) -> Column:
        """The column with this name; KeyError if the table has none."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    @property
    def primary_key(self) -> tuple[Column, ...]:
        """The primary-key columns in key order."""
        keyed = [c for c in self.columns if c.primary_key_position]
        return tuple(sorted(keyed, key=lambda c: (c.primary_key_position, c.name)))

    def foreign_key_of(self, column_id: str) -> ForeignKey | None:
        """The single-column foreign key on this column, if any."""
        for foreign_key in self.foreign_keys:
            if foreign_key.column_ids == (column_id,):
                return foreign_key
        return None


@dataclass(frozen=True)
class Store:
    """The data store a model describes (empty strings for version 0 of a store never snapshotted)."""

    id: str = ""
    name: str = ""
    engine: str = ""
    schema: str = ""


@dataclass(frozen=True)
class SchemaModel:
    """A data store's catalog: its tables in name order, found by id."""

    store: Store = Store()
    tables: tuple[Table, ...] = ()

    @cached_property
    def _tables_by_id(self) -> dict[str, Table]:
        return {table.id: table for table in self.tables}

    @cached_property
    def _column_owner(self) -> dict[str, Table]:
        return {column.id: table for table in self.tables for column in table.columns}

    def table(self, table_id: str) -> Table:
        """The table with this id; KeyError if there is none."""
        return self._tables_by_id[table_id]

    def has_table(self, table_id: str) -> bool:
        return table_id in self._tables_by_id

    @property
    def table_ids(self) -> set[str]:
        return set(self._tables_by_id)

    def column(self, column_id: str) -> tuple[Table, Column]:
        """The table owning a column and the column; KeyError if no table has it."""
        table = self._column_owner[column_id]
        return table, table.column(column_id)

    def owner_of(self, column_id: str) -> Table | None:
        return self._column_owner.get(column_id)

    def table_named(self, name: str) -> Table:
        """The table with this name; KeyError if there is none."""
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(name)

    @cached_property
    def _incoming(self) -> dict[str, tuple]:
        incoming: dict[str, list] = {}
        for table in self.tables:
            for foreign_key in table.foreign_keys:
                if foreign_key.target_table_id:
                    incoming.setdefault(foreign_key.target_table_id, []).append((table, foreign_key))
        return {table_id: tuple(pairs) for table_id, pairs in incoming.items()}

    def references_to(self, table_id: str) -> tuple[tuple[Table, ForeignKey], ...]:
        """The foreign keys pointing at a table, with the table that holds each (in table name order)."""
        return self._incoming.get(table_id, ())

    def subset(self, table_ids: set[str]) -> "SchemaModel":
        """The same model with only these tables (in the same order)."""
        return SchemaModel(self.store, tuple(t for t in self.tables if t.id in table_ids))


# --- reading and writing the stored JSON ---------------------------------------------------------------


# Most columns share a handful of types and have no checks: one instance each (a large catalog is built
# in a fraction of the time, and SQLAlchemy's per-type cache in metadata.py hits more often).
_column_type = functools.lru_cache(maxsize=4096)(ColumnType)
_NO_CHECKS = ColumnChecks()


def _checks_from(raw: dict) -> ColumnChecks:
    if not (raw["min_value"] or raw["max_value"] or raw["allowed_values"] or raw["pattern"]):
        if raw["min_length"] is None:
            return _NO_CHECKS
    return ColumnChecks(
        min_value=raw["min_value"],
        max_value=raw["max_value"],
        allowed_values=tuple(raw["allowed_values"] or ()),
        min_length=raw["min_length"],
        pattern=raw["pattern"],
    )


def _column_from(column_id: str, raw: dict) -> Column:
    return Column(
        column_id,
        raw["name"],
        raw["position"],
        _column_type(raw["data_type"], raw["length"], raw["precision"], raw["scale"]),
        raw["nullable"],
        raw["default_value"],
        raw["primary_key_position"],
        raw["is_unique"],
        _checks_from(raw),
        raw["description"],
        raw["pii_category"],
        raw["masking_strategy"],
        _generation_from(raw),
    )


def _generation_from(raw: dict) -> Generation | None:
    # Absent from releases older than key generation, and from every column that has none.
    kind = raw.get("generation")
    if not kind:
        return None
    return Generation(kind, tuple(sorted((raw.get("identity_options") or {}).items())))


def _index_from(index_id: str, raw: dict) -> Index:
    return Index(
        id=index_id,
        name=raw["name"],
        keys=tuple(IndexKey(column_id, order == "desc") for column_id, order in raw["columns"]),
        include=tuple(raw["include"]),
        is_unique=raw["is_unique"],
        method=raw["method"],
        condition=raw["condition"],
        description=raw["description"],
        is_constraint=raw.get("is_constraint", False),  # absent from releases older than constraints
    )


def schema_model_from_snapshot(snapshot: dict) -> SchemaModel:
    """The typed model of a snapshot (a release's stored JSON, or `snapshot_build`'s)."""
    with gc_paused():  # tens of thousands of small objects, none of them garbage
        return _model_from(snapshot)


def _model_from(snapshot: dict) -> SchemaModel:
    entities = snapshot.get("entities", {})
    owner = {column_id: e for e, entity in entities.items() for column_id in entity["columns"]}
    tables = []
    for entity_id, raw in sorted(entities.items(), key=lambda item: (item[1]["name"], item[0])):
        ordered = sorted(raw["columns"].items(), key=lambda item: (item[1]["position"], item[0]))
        foreign_keys = []
        for column_id, column in sorted(raw["columns"].items()):
            if column["references_id"]:
                target = owner.get(column["references_id"])
                foreign_keys.append(
                    ForeignKey(
                        (column_id,),
                        target,
                        (column["references_id"],),
                        column["on_delete"],
                        # Absent from releases older than ON UPDATE and DEFERRABLE (and when at the default).
                        column.get("on_update", "no_action"),
                        column.get("deferrable", "not_deferrable"),
                    )
                )
        partition = raw["partition_column_id"]
        tables.append(
            Table(
                id=entity_id,
                name=raw["name"],
                kind=raw.get("kind", "table"),  # DDL needs no kind; partial snapshots (codegen) omit it
                description=raw["description"],
                has_audit_columns=raw["has_audit_columns"],
                columns=tuple(_column_from(column_id, column) for column_id, column in ordered),
                indexes=tuple(
                    _index_from(index_id, index)
                    for index_id, index in sorted(raw["indexes"].items(), key=lambda i: (i[1]["name"], i[0]))
                ),
                foreign_keys=tuple(foreign_keys),
                partitioning=Partitioning(partition) if partition else None,
            )
        )
    store = snapshot.get("datastore") or {}
    return SchemaModel(
        Store(store.get("id", ""), store.get("name", ""), store.get("engine", ""), store.get("schema") or ""),
        tuple(tables),
    )


def schema_model_of(snapshot_or_model: "dict | SchemaModel") -> SchemaModel:
    """A model as is, or a snapshot read into one: for functions that take either at the boundary."""
    if isinstance(snapshot_or_model, SchemaModel):
        return snapshot_or_model
    return schema_model_from_snapshot(snapshot_or_model)


def schema_model_from_catalog(datastore) -> SchemaModel:
    """The typed model of a data store's live catalog (what its next release would hold)."""
    from catalog.schema.snapshot import snapshot_build

    return schema_model_from_snapshot(snapshot_build(datastore))


def _column_to(table: Table, column: Column) -> dict:
    foreign_key = table.foreign_key_of(column.id)
    return {
        "name": column.name,
        "position": column.position,
        "data_type": column.type.name,
        "length": column.type.length,
        "precision": column.type.precision,
        "scale": column.type.scale,
        "nullable": column.nullable,
        "default_value": column.default_value,
        "primary_key_position": column.primary_key_position,
        "is_unique": column.is_unique,
        "min_value": column.checks.min_value,
        "max_value": column.checks.max_value,
        "min_length": column.checks.min_length,
        "pattern": column.checks.pattern,
        "allowed_values": list(column.checks.allowed_values),
        "description": column.description,
        "pii_category": column.pii_category,
        "masking_strategy": column.masking_strategy,
        "references_id": foreign_key.target_column_ids[0] if foreign_key else None,
        "on_delete": foreign_key.on_delete if foreign_key else "no_action",
        **(
            {"on_update": foreign_key.on_update}
            if foreign_key and foreign_key.on_update != "no_action"
            else {}
        ),
        **({"deferrable": foreign_key.deferrable} if foreign_key and foreign_key.is_deferrable else {}),
        **_generation_to(column.generation),
    }


def _generation_to(generation: Generation | None) -> dict:
    """Written only when set, so releases published before key generation existed read as unchanged."""
    if generation is None:
        return {}
    return {
        "generation": generation.kind,
        **({"identity_options": dict(generation.options)} if generation.options else {}),
    }


def _index_to(index: Index) -> dict:
    return {
        "name": index.name,
        "is_unique": index.is_unique,
        "method": index.method,
        "condition": index.condition,
        "description": index.description,
        "columns": [[key.column_id, "desc" if key.descending else "asc"] for key in index.keys],
        "include": list(index.include),
        **({"is_constraint": True} if index.is_constraint else {}),
    }


def schema_model_snapshot(model: SchemaModel) -> dict:
    """The model as the JSON a release stores (the inverse of `schema_model_from_snapshot`)."""
    store = model.store
    return {
        "datastore": {"id": store.id, "name": store.name, "engine": store.engine, "schema": store.schema}
        if store.id
        else {},
        "entities": {
            table.id: {
                "name": table.name,
                "kind": table.kind,
                "description": table.description,
                "has_audit_columns": table.has_audit_columns,
                "partition_column_id": table.partitioning.column_id if table.partitioning else None,
                "columns": {column.id: _column_to(table, column) for column in table.columns},
                "indexes": {index.id: _index_to(index) for index in table.indexes},
            }
            for table in model.tables
        },
    }

"""What every code generator shares: the catalog as a language-neutral model, naming, errors, output files."""

import re
from dataclasses import dataclass, field

from catalog.exceptions import CatalogError
from catalog.literals import ALLOWED_DEFAULT_FUNCTIONS
from catalog.schema.model import Column, Deferrable, Generation, SchemaModel, Table, schema_model_of

__all__ = [
    "CodegenError",
    "GeneratedFile",
    "CodeColumn",
    "generation_label",
    "CodeIndex",
    "CodeForeignKey",
    "CodeEntity",
    "CodeModel",
    "code_model_build",
    "pascal_case",
    "camel_case",
    "snake_case",
    "words",
    "names_unique",
    "AUDIT_COLUMNS",
    "synthetic_column",
    "audit_columns",
    "surrogate_key",
    "generated_notice",
]

# The audit columns Custodian's DDL adds (catalog/schema/metadata.py): name, type, length, nullable, default.
AUDIT_COLUMNS = [
    ("created_at", "timestamptz", None, False, "now()"),
    ("updated_at", "timestamptz", None, False, "now()"),
    ("created_by", "varchar", 150, True, ""),
    ("updated_by", "varchar", 150, True, ""),
    ("version", "integer", None, False, "1"),
]


class CodegenError(CatalogError):
    """The catalog cannot be written for a target as asked (a name collision, a missing primary key ...)."""


@dataclass(frozen=True)
class GeneratedFile:
    path: str
    content: str


@dataclass
class CodeColumn:
    id: str
    name: str
    position: int
    data_type: str
    length: int | None
    precision: int | None
    scale: int | None
    nullable: bool
    default_value: str
    primary_key_position: int | None
    is_unique: bool
    min_value: str
    max_value: str
    min_length: int | None
    pattern: str
    allowed_values: list
    description: str
    pii_category: str
    masking_strategy: str
    references_id: str | None
    on_delete: str
    generation: Generation | None = None  # serial or identity: the database fills the column on insert

    @property
    def default_is_function(self) -> bool:
        return self.default_value.strip().lower() in ALLOWED_DEFAULT_FUNCTIONS

    @property
    def is_pii(self) -> bool:
        return self.pii_category != "none"

    @property
    def pii_label(self) -> str:
        """For a marker the framework can see: "PII: direct_identifier; masking: hash"."""
        return f"PII: {self.pii_category}; masking: {self.masking_strategy}"


@dataclass
class CodeIndex:
    name: str
    columns: list[tuple[str, str]]  # (column name, "asc"|"desc")
    include: list[str]
    is_unique: bool
    method: str
    condition: str


@dataclass
class CodeForeignKey(Deferrable):
    """`entity.column` points at `target_entity.target_column` (a key of the target)."""

    entity: "CodeEntity"
    column: CodeColumn
    target_entity: "CodeEntity"
    target_column: CodeColumn
    on_delete: str
    on_update: str = "no_action"
    deferrable: str = "not_deferrable"  # or initially_immediate, initially_deferred

    @property
    def on_update_sql(self) -> str | None:
        """ON UPDATE in SQL words (CASCADE, SET NULL ...); None for NO ACTION, the default."""
        return None if self.on_update == "no_action" else self.on_update.replace("_", " ").upper()

    @property
    def deferrable_sql(self) -> str | None:
        """DEFERRABLE INITIALLY DEFERRED / IMMEDIATE; None for a key checked at each statement."""
        if not self.is_deferrable:
            return None
        return f"DEFERRABLE INITIALLY {'DEFERRED' if self.initially_deferred else 'IMMEDIATE'}"

    def database_rules(self) -> list[str]:
        """What the database does for this key beyond ON DELETE (ON UPDATE, DEFERRABLE), for targets that
        can only say it in a comment; empty when at the defaults."""
        return [
            rule
            for rule in (self.on_update_sql and f"ON UPDATE {self.on_update_sql}", self.deferrable_sql)
            if rule
        ]

    @property
    def is_one_to_one(self) -> bool:
        """Whether the column alone is unique (or the whole key), so a target row has at most one source."""
        key = self.entity.primary_key
        return self.column.is_unique or (len(key) == 1 and key[0] is self.column)


@dataclass
class CodeEntity:
    id: str
    name: str
    description: str
    has_audit_columns: bool
    columns: list[CodeColumn] = field(default_factory=list)
    indexes: list[CodeIndex] = field(default_factory=list)
    foreign_keys: list[CodeForeignKey] = field(default_factory=list)  # outgoing
    referenced_by: list[CodeForeignKey] = field(default_factory=list)  # incoming

    @property
    def primary_key(self) -> list[CodeColumn]:
        return sorted(
            (c for c in self.columns if c.primary_key_position), key=lambda c: c.primary_key_position
        )

    def column(self, name: str) -> CodeColumn:
        for column in self.columns:
            if column.name == name:
                return column
        raise CodegenError(f"Entity '{self.name}' has no column '{name}'.")


@dataclass
class CodeModel:
    datastore: str
    schema: str
    engine: str
    entities: list[CodeEntity]

    def entity(self, name: str) -> CodeEntity:
        for entity in self.entities:
            if entity.name == name:
                return entity
        raise CodegenError(f"Data store '{self.datastore}' has no entity '{name}' in this model.")


def code_model_build(source: "SchemaModel | dict", entity_ids: set[str] | None = None) -> CodeModel:
    """The schema model's tables (or some of them) with their keys, indexes and relationships both ways.

    `source` is the typed schema model (catalog/schema/model.py) or a snapshot read into one. Relationships
    to entities left out by `entity_ids` are dropped from the model (the generators still write the
    foreign-key column itself).
    """
    schema = schema_model_of(source)
    if entity_ids is not None:
        schema = schema.subset(entity_ids)
    entities = [_code_entity(table) for table in schema.tables]
    by_id = {entity.id: entity for entity in entities}
    # In entity order, then column order: the same catalog gives the same files.
    for table, entity in zip(schema.tables, entities, strict=True):
        for column in entity.columns:
            foreign_key = table.foreign_key_of(column.id)
            if foreign_key is None or foreign_key.target_table_id not in by_id:
                continue
            target = by_id[foreign_key.target_table_id]
            target_column = next(c for c in target.columns if c.id == foreign_key.target_column_ids[0])
            fk = CodeForeignKey(
                entity,
                column,
                target,
                target_column,
                foreign_key.on_delete,
                foreign_key.on_update,
                foreign_key.deferrable,
            )
            entity.foreign_keys.append(fk)
            target.referenced_by.append(fk)
    store = schema.store
    return CodeModel(store.name, store.schema, store.engine, entities)


def _code_entity(table: Table) -> CodeEntity:
    entity = CodeEntity(table.id, table.name, table.description, table.has_audit_columns)
    entity.columns = [_code_column(table, column) for column in table.columns]
    for index in table.indexes:
        entity.indexes.append(
            CodeIndex(
                name=index.name,
                columns=[
                    (table.column(key.column_id).name, "desc" if key.descending else "asc")
                    for key in index.keys
                ],
                include=[table.column(column_id).name for column_id in index.include],
                is_unique=index.is_unique,
                method=index.method,
                condition=index.condition,
            )
        )
    return entity


def _code_column(table: Table, column: Column) -> CodeColumn:
    foreign_key = table.foreign_key_of(column.id)
    checks = column.checks
    return CodeColumn(
        id=column.id,
        name=column.name,
        position=column.position,
        data_type=column.type.name,
        length=column.type.length,
        precision=column.type.precision,
        scale=column.type.scale,
        nullable=column.nullable,
        default_value=column.default_value,
        primary_key_position=column.primary_key_position,
        is_unique=column.is_unique,
        min_value=checks.min_value,
        max_value=checks.max_value,
        min_length=checks.min_length,
        pattern=checks.pattern,
        allowed_values=list(checks.allowed_values),
        description=column.description,
        pii_category=column.pii_category,
        masking_strategy=column.masking_strategy,
        references_id=foreign_key.target_column_ids[0] if foreign_key else None,
        on_delete=foreign_key.on_delete if foreign_key else "no_action",
        generation=column.generation,
    )


def generation_label(column: CodeColumn) -> str:
    """How a note names a column's key generation: serial, identity GENERATED ALWAYS (start 100)."""
    generation = column.generation
    if generation is None:
        return "none"
    if not generation.is_identity:
        return "serial"
    mode = "ALWAYS" if generation.is_always else "BY DEFAULT"
    options = ", ".join(f"{name} {value}" for name, value in generation.options)
    return f"identity GENERATED {mode}" + (f" ({options})" if options else "")


def words(name: str) -> list[str]:
    """order_items, orderItems, ORDER_ITEMS -> the words of the name, as written."""
    return [w for w in re.split(r"[_\W]+|(?<=[a-z0-9])(?=[A-Z])", name) if w]


def pascal_case(name: str) -> str:
    """order_items -> OrderItems (a leading digit gets an underscore)."""
    result = "".join(w[:1].upper() + w[1:].lower() for w in words(name)) or "_"
    return f"_{result}" if result[0].isdigit() else result


def camel_case(name: str) -> str:
    """order_id -> orderId."""
    pascal = pascal_case(name)
    return pascal[:1].lower() + pascal[1:] if not pascal.startswith("_") else pascal


def snake_case(name: str) -> str:
    """orderId -> order_id, OrderItems -> order_items (the Python convention for attributes)."""
    return re.sub(r"(?<!^)(?<!_)(?=[A-Z])", "_", camel_case(name)).lower()


def names_unique(names: list[str], convert, where: str) -> dict[str, str]:
    """{name: converted}; CodegenError naming both when two names become one (e.g. order_id and orderId)."""
    converted: dict[str, str] = {}
    seen: dict[str, str] = {}
    for name in names:
        new = convert(name)
        if new in seen:
            raise CodegenError(
                f"{where}: '{seen[new]}' and '{name}' both become '{new}'; rename one of them."
            )
        seen[new] = name
        converted[name] = new
    return converted


def synthetic_column(
    entity, name, data_type, length, nullable, default, key=None, position=10_000
) -> CodeColumn:
    """A column the catalog implies but does not list (audit columns, a generated key)."""
    return CodeColumn(
        id=f"{entity.id}:{name}",
        name=name,
        position=position,
        data_type=data_type,
        length=length,
        precision=None,
        scale=None,
        nullable=nullable,
        default_value=default,
        primary_key_position=key,
        is_unique=False,
        min_value="",
        max_value="",
        min_length=None,
        pattern="",
        allowed_values=[],
        description="",
        pii_category="none",
        masking_strategy="none",
        references_id=None,
        on_delete="no_action",
    )


def audit_columns(entity: CodeEntity) -> list[CodeColumn]:
    """The columns Custodian's DDL adds to an audited table, after the entity's own; CodegenError when the
    entity already has a column of one of those names."""
    if not entity.has_audit_columns:
        return []
    clash = [name for name, *_spec in AUDIT_COLUMNS if any(c.name == name for c in entity.columns)]
    if clash:
        raise CodegenError(
            f"Entity '{entity.name}' has audit columns and its own column(s) {', '.join(clash)}; rename "
            "them or turn the audit columns off."
        )
    last = max((c.position for c in entity.columns), default=0)
    return [
        synthetic_column(entity, *spec, position=last + offset)
        for offset, spec in enumerate(AUDIT_COLUMNS, 1)
    ]


def surrogate_key(entity, columns: list[CodeColumn], *, generate_keys: bool, need: str, label: str):
    """(key column, note) for an entity without a primary key when `generate_keys` allows one.

    `need` says why the target needs a key ("JPA needs an @Id to identify its rows"); `label` is how the note
    names the added member ("the id field"). CodegenError when keys may not be generated or 'id' is taken.
    """
    if not generate_keys:
        raise CodegenError(
            f"Entity '{entity.name}' has no primary key, and {need}. Mark its key column(s) in the catalog, "
            "or generate with generate_keys to add a surrogate 'id' key."
        )
    if any(c.name == "id" for c in columns):
        raise CodegenError(
            f"Entity '{entity.name}' has no primary key but already has a column 'id'; mark it (or another "
            "column) as the primary key in the catalog instead of generating one."
        )
    note = (
        f"{entity.name} has no primary key in the catalog; {label} (column id, bigint, generated on insert) "
        "was added because generate_keys was asked. The table needs that column: add it to the catalog."
    )
    return synthetic_column(entity, "id", "bigint", None, False, "", key=1), note


def generated_notice(datastore: str, comment: str = "//") -> list[str]:
    """The first lines of a generated file: who made it from what, and that editing it is pointless."""
    return [
        f"{comment} Generated by Custodian from the catalog of data store '{datastore}'. Do not edit:",
        f"{comment} change the catalog and generate again.",
    ]

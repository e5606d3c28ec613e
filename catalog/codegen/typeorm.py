"""TypeORM entities (TypeScript): a decorated class per entity, with keys, constraints and relations.

Each entity becomes `src/entities/<entity>.entity.ts`: `@Entity({ name, schema, comment })`, a
`@PrimaryColumn` per key column (one named primary key constraint, composite keys included), `@Column` with
the column type Custodian's DDL uses in the data store's dialect (length, precision, scale, nullable,
default, comment), named `@Unique` and `@Check` constraints with the DDL's names and SQL, `@Index` (unique,
`where`, method), `@ManyToOne`/`@OneToOne` with `@JoinColumn` (named foreign key, `onDelete`) and the inverse
`@OneToMany`/`@OneToOne`. `index.ts` exports every class and the `ENTITIES` list for a DataSource.

A foreign-key column keeps its scalar property beside the relation (TypeORM maps both onto one column), and
relations are typed `Relation<T>` so that entities importing each other work under ES modules too. What
TypeORM cannot express (a per-column sort order or INCLUDE in an index, ON DELETE SET DEFAULT ...) is written
as a `// Custodian:` comment, and an index TypeORM cannot describe is declared `synchronize: false` so that
TypeORM leaves the database's own index alone. PII columns carry `@Pii(category, masking)`, a decorator in
`pii.ts` that records the marker as reflect-metadata, and a JSDoc line.

Naming: classes PascalCase, properties camelCase, each mapped to its column by name; a reserved word gets a
trailing underscore (`import` -> `import_`), a class named like a type the code uses an `Entity` suffix.
Relations are named as in the other targets: after the foreign-key column without `_id` (else the target
class), the inverse after the dependent class (`inverse<Relation>` for a self-reference,
`<dependent><Relation>` when one entity points at another twice).

Options: `generate_keys` (add a surrogate generated `id` key to an entity with no primary key instead of
refusing it: TypeORM needs a primary column on every entity).
"""

import json
import math
import re
import textwrap
from dataclasses import dataclass, field

import sqlalchemy as sa
import sqlglot

from catalog.choices import TYPE_FAMILIES, DataType
from catalog.codegen.base import (
    AUDIT_COLUMNS,
    CodeColumn,
    CodeEntity,
    CodeForeignKey,
    CodegenError,
    CodeIndex,
    CodeModel,
    GeneratedFile,
    camel_case,
    names_unique,
    pascal_case,
    surrogate_key,
)
from catalog.codegen.base import (
    synthetic_column as _synthetic_column,
)
from catalog.literals import parse_literal
from catalog.schema.dialects import DialectProfile, profile_for
from catalog.schema.metadata import constraint_name, sa_type, schema_model_build
from catalog.schema.snapshot import COLUMN_FIELDS
from core.errors import SchemaError

__all__ = ["generate", "TS_RESERVED_WORDS", "ts_identifier", "ts_string"]

# ECMAScript reserved words (strict mode included) and TypeScript words that mean something in a class body.
TS_RESERVED_WORDS = frozenset(
    """
    break case catch class const continue debugger default delete do else enum export extends false finally
    for function if import in instanceof new null return super switch this throw true try typeof var void
    while with implements interface let package private protected public static yield await abstract accessor
    async constructor declare get module namespace override readonly set
    """.split()
)
# Catalog type -> the property's TypeScript type (as TypeORM's drivers return values: bigint and numeric as
# strings, since JavaScript numbers hold 53 bits; date and time as strings).
TS_TYPES = {
    "uuid": "string",
    "varchar": "string",
    "char": "string",
    "text": "string",
    "smallint": "number",
    "integer": "number",
    "bigint": "string",
    "numeric": "string",
    "real": "number",
    "double": "number",
    "boolean": "boolean",
    "date": "string",
    "time": "string",
    "timestamp": "Date",
    "timestamptz": "Date",
    "json": "unknown",
    "jsonb": "unknown",
    "bytea": "Buffer",
}
# The DDL's column types (lower case, without arguments) that TypeORM's ColumnType accepts.
TYPEORM_COLUMN_TYPES = frozenset(
    [
        *"uuid uniqueidentifier varchar nvarchar char text smallint integer bigint numeric real".split(),
        *"double boolean bool bit date time datetime datetimeoffset json jsonb bytea blob varbinary".split(),
        "double precision",
        "time without time zone",
        "timestamp without time zone",
        "timestamp with time zone",
    ]
)
LENGTH_TYPES = {"varchar", "nvarchar", "char", "varbinary"}
ON_DELETE = {"restrict": "RESTRICT", "cascade": "CASCADE", "set_null": "SET NULL"}
# Names the generated code uses: an entity class with one of these names would shadow it.
USED_TYPE_NAMES = frozenset(
    """
    Entity Column PrimaryColumn PrimaryGeneratedColumn Generated Index Unique Check ManyToOne OneToMany
    OneToOne JoinColumn CreateDateColumn UpdateDateColumn VersionColumn Relation Pii PiiMarker Date Buffer
    Object String Number Boolean Array Symbol BigInt Promise Map Set Error JSON Math Reflect Function RegExp
    Record Partial
    """.split()
)
# What Custodian adds to a table with audit columns (as catalog/schema/metadata.py creates them).
AUDIT_DECORATORS = {
    "created_at": "CreateDateColumn",
    "updated_at": "UpdateDateColumn",
    "version": "VersionColumn",
}
CHECK_SUFFIXES = ("min", "max", "in", "len", "re")
DIRECTORY = "src/entities"
COMMENT_WIDTH = 110
_INDENT = "  "


def ts_identifier(name: str) -> str:
    """A property name as a TypeScript identifier: reserved words get a trailing underscore."""
    return f"{name}_" if name in TS_RESERVED_WORDS else name


def ts_string(text: str) -> str:
    """A double-quoted TypeScript string literal of `text` (JSON's escaping is valid TypeScript)."""
    return json.dumps(text, ensure_ascii=False)


@dataclass
class _Relation:
    fk: CodeForeignKey
    name: str = ""  # property on the dependent entity
    inverse: str = ""  # property on the referenced entity
    is_one_to_one: bool = False


@dataclass
class _EntityPlan:
    entity: CodeEntity
    class_name: str
    columns: list[CodeColumn]  # the catalog's, then audit columns, then a generated key
    key: list[CodeColumn] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)  # column name -> property
    references: list[_Relation] = field(default_factory=list)
    inverses: list[_Relation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    generated_key: CodeColumn | None = None
    audit: list[CodeColumn] = field(default_factory=list)

    @property
    def module(self) -> str:
        """The file name without `.ts`: order-items.entity."""
        return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", self.class_name).lower() + ".entity"

    def is_key(self, column: CodeColumn) -> bool:
        return any(column is key for key in self.key)

    def is_audit(self, column: CodeColumn) -> bool:
        return any(column is audit for audit in self.audit)

    def reference(self, column: CodeColumn) -> "_Relation | None":
        return next((r for r in self.references if r.fk.column is column), None)


@dataclass
class _Plan:
    model: CodeModel
    profile: DialectProfile
    entities: list[_EntityPlan]
    checks: dict  # (entity, column) -> [(constraint name, SQL)]
    dialect_notes: dict  # entity -> [note]

    @property
    def has_pii(self) -> bool:
        return any(c.is_pii for plan in self.entities for c in plan.columns)

    def of(self, entity: CodeEntity) -> _EntityPlan:
        return next(p for p in self.entities if p.entity is entity)


def generate(model: CodeModel, options: dict) -> list[GeneratedFile]:
    """`<entity>.entity.ts` per entity, `pii.ts` when a column holds PII, `index.ts` exporting them all."""
    plan = _plan(model, options)
    files = [GeneratedFile(f"{DIRECTORY}/{p.module}.ts", _entity_file(plan, p)) for p in plan.entities]
    if plan.has_pii:
        files.append(GeneratedFile(f"{DIRECTORY}/pii.ts", _pii_file(plan)))
    files.append(GeneratedFile(f"{DIRECTORY}/index.ts", _index_file(plan)))
    return sorted(files, key=lambda f: f.path)


# --- Planning: names, keys and relations, decided once for both sides ---------------------------------------


def _plan(model: CodeModel, options: dict) -> _Plan:
    try:
        profile = profile_for(model.engine or "postgresql")
    except SchemaError as exc:
        raise CodegenError(exc.message) from None
    classes = names_unique([e.name for e in model.entities], _class_name, f"Data store '{model.datastore}'")
    plans = [_entity_plan(e, classes[e.name], bool(options.get("generate_keys"))) for e in model.entities]
    by_entity = {p.entity.name: p for p in plans}
    _relations(plans, by_entity, classes)
    checks, notes = _ddl_checks(model, profile)
    return _Plan(model, profile, plans, checks, notes)


def _class_name(name: str) -> str:
    converted = pascal_case(name)
    return f"{converted}Entity" if converted in USED_TYPE_NAMES else converted


def _property_name(name: str) -> str:
    return ts_identifier(camel_case(name))


def _entity_plan(entity: CodeEntity, class_name: str, generate_keys: bool) -> _EntityPlan:
    for column in entity.columns:
        if column.data_type not in TS_TYPES:
            raise CodegenError(
                f"Column '{entity.name}.{column.name}' has type '{column.data_type}', which has no TypeORM "
                "equivalent here; change its type in the catalog or leave the entity out."
            )
    if entity.has_audit_columns:
        clash = [name for name, *_ in AUDIT_COLUMNS if any(c.name == name for c in entity.columns)]
        if clash:
            raise CodegenError(
                f"Entity '{entity.name}' has audit columns and its own column(s) {', '.join(clash)}; rename "
                "them or turn the audit columns off."
            )
    audit = [_synthetic_column(entity, *spec) for spec in AUDIT_COLUMNS] if entity.has_audit_columns else []
    plan = _EntityPlan(entity, class_name, list(entity.columns) + audit, key=entity.primary_key, audit=audit)
    if not plan.key:
        _generated_key(plan, generate_keys)
    plan.properties = names_unique([c.name for c in plan.columns], _property_name, f"Entity '{entity.name}'")
    return plan


def _generated_key(plan: _EntityPlan, generate_keys: bool) -> None:
    plan.generated_key, note = surrogate_key(
        plan.entity,
        plan.columns,
        generate_keys=generate_keys,
        need="TypeORM needs a primary column on every entity",
        label="id",
    )
    plan.columns.append(plan.generated_key)
    plan.key = [plan.generated_key]
    plan.notes.append(note)


def _relations(plans: list[_EntityPlan], by_entity: dict, classes: dict) -> None:
    for plan in plans:
        related = {fk.column.name for fk in plan.entity.foreign_keys}
        for column in plan.entity.columns:
            if column.references_id and column.name not in related:
                plan.notes.append(
                    f"{plan.entity.name}.{column.name} references an entity that is not generated here; it "
                    "stays a plain column (generate both entities for the relation)."
                )
        for fk in plan.entity.foreign_keys:
            one_to_one = fk.column.is_unique or [c.name for c in plan.key] == [fk.column.name]
            plan.references.append(_Relation(fk, is_one_to_one=one_to_one))
    for plan in plans:
        taken = set(plan.properties.values())
        for relation in plan.references:
            relation.name = _free_name(_reference_candidate(relation.fk, classes), taken, plan.entity.name)
            by_entity[relation.fk.target_entity.name].inverses.append(relation)
    for plan in plans:
        taken = {*plan.properties.values(), *(r.name for r in plan.references)}
        for relation in plan.inverses:
            candidate = _inverse_candidate(relation, plan.inverses, classes)
            relation.inverse = _free_name(candidate, taken, plan.entity.name)


def _reference_candidate(fk: CodeForeignKey, classes: dict) -> str:
    stem = re.sub(r"(_id|_key|(?<=[a-z0-9])Id|(?<=[a-z0-9])Key)$", "", fk.column.name)
    if stem and stem != fk.column.name:
        return _property_name(stem)
    return _property_name(classes[fk.target_entity.name])


def _inverse_candidate(relation: _Relation, inverses: list[_Relation], classes: dict) -> str:
    fk = relation.fk
    dependent = camel_case(classes[fk.entity.name])
    if fk.entity is fk.target_entity:
        return f"inverse{_capitalized(relation.name)}"
    if sum(1 for other in inverses if other.fk.entity is fk.entity) > 1:
        return f"{dependent}{_capitalized(relation.name)}"
    return ts_identifier(dependent)


def _capitalized(name: str) -> str:
    name = name.rstrip("_")
    return name[:1].upper() + name[1:]


def _free_name(candidate: str, taken: set[str], entity: str) -> str:
    for name in (candidate, f"{candidate.rstrip('_')}Relation"):
        if name not in taken:
            taken.add(name)
            return name
    raise CodegenError(
        f"Entity '{entity}': the property '{candidate}' collides with another property, even as "
        f"'{candidate.rstrip('_')}Relation'; rename one of the columns."
    )


def _ddl_checks(model: CodeModel, profile: DialectProfile) -> tuple[dict, dict]:
    """The check constraints Custodian's DDL creates, by (entity, column), and what the dialect cannot say."""
    snapshot = {
        "datastore": {"name": model.datastore, "schema": model.schema, "engine": model.engine},
        "entities": {
            entity.id: {
                "name": entity.name,
                "description": "",
                "has_audit_columns": False,
                "partition_column_id": None,
                "indexes": {},
                "columns": {
                    c.id: {**{f: getattr(c, f) for f in COLUMN_FIELDS}, "references_id": None}
                    for c in entity.columns
                },
            }
            for entity in model.entities
        },
    }
    try:
        schema = schema_model_build(snapshot, profile)
    except SchemaError as exc:
        raise CodegenError(exc.message) from None
    compiler = profile.sqla.ddl_compiler(profile.sqla, None).sql_compiler
    checks: dict = {}
    for entity in model.entities:
        sql = {
            c.name: compiler.process(c.sqltext, include_table=False, literal_binds=True)
            for c in schema.tables[entity.id].constraints
            if isinstance(c, sa.CheckConstraint)
        }
        for column in entity.columns:
            names = [
                constraint_name(profile, entity.name, [column.name], suffix) for suffix in CHECK_SUFFIXES
            ]
            found = [(name, sql[name]) for name in names if name in sql]
            if found:
                checks[(entity.name, column.name)] = found
    return checks, {e.name: list(schema.notes.get(e.id, [])) for e in model.entities}


# --- Text helpers -------------------------------------------------------------------------------------------


def _comment(text: str, indent: str = "") -> list[str]:
    """`// Custodian: ...` lines, wrapped to the width the rest of the code keeps (any line break in `text`
    becomes a space: it would end the comment)."""
    width = COMMENT_WIDTH - len(indent) - len("// Custodian: ")
    flat = re.sub(r"\s+", " ", text).strip()
    lines = textwrap.wrap(flat, width, break_long_words=False, break_on_hyphens=False) or [""]
    return [f"{indent}// Custodian: {lines[0]}".rstrip()] + [f"{indent}//   {line}" for line in lines[1:]]


def _jsdoc(paragraphs: list[str], indent: str = "") -> list[str]:
    paragraphs = [p for p in paragraphs if p and p.strip()]
    if not paragraphs:
        return []
    if len(paragraphs) == 1 and len(paragraphs[0].splitlines()) == 1:
        return [f"{indent}/** {_doc_text(paragraphs[0])} */"]
    lines = [f"{indent}/**"]
    for number, paragraph in enumerate(paragraphs):
        if number:
            lines.append(f"{indent} *")
        lines += [f"{indent} * {line}".rstrip() for line in _doc_text(paragraph).splitlines()]
    return lines + [f"{indent} */"]


def _doc_text(text: str) -> str:
    # `*/` would end the comment; a leading `@` would read as a JSDoc tag.
    return re.sub(r"^(\s*)@", r"\1\\@", text.replace("*/", "*\\/"), flags=re.MULTILINE)


def _options(parts: list[str]) -> str:
    return "{ " + ", ".join(parts) + " }" if parts else "{}"


# --- Entity classes -----------------------------------------------------------------------------------------


class _Imports:
    def __init__(self):
        self.typeorm: set[str] = set()
        self.types: set[str] = set()
        self.modules: dict[str, set[str]] = {}

    def use(self, *names: str) -> None:
        self.typeorm.update(names)

    def entity(self, plan: _EntityPlan, current: _EntityPlan) -> str:
        if plan is not current:
            self.modules.setdefault(f"./{plan.module}", set()).add(plan.class_name)
        return plan.class_name

    def render(self) -> list[str]:
        lines = [f'import {{ {", ".join(sorted(self.typeorm))} }} from "typeorm";']
        if self.types:
            lines.append(f'import type {{ {", ".join(sorted(self.types))} }} from "typeorm";')
        for module, names in sorted(self.modules.items()):
            lines.append(f'import {{ {", ".join(sorted(names))} }} from "{module}";')
        return lines + [""]


def _header(plan: _Plan) -> list[str]:
    return [
        f"// Generated by Custodian from the catalog of data store '{plan.model.datastore}'. Do not edit:",
        "// change the catalog and generate again.",
    ]


def _entity_file(plan: _Plan, entity_plan: _EntityPlan) -> str:
    entity = entity_plan.entity
    imports = _Imports()
    imports.use("Entity")
    decorators = [_entity_decorator(plan, entity)]
    decorators += _unique_decorators(plan, entity_plan, imports)
    decorators += _check_decorators(plan, entity_plan, imports)
    index_decorators, index_notes = _index_decorators(plan, entity_plan, imports)
    decorators += index_decorators
    body = []
    for column in entity_plan.columns:
        body += _column_property(plan, entity_plan, column, imports)
        relation = entity_plan.reference(column)
        if relation:
            body += _reference_property(plan, entity_plan, relation, imports)
    for relation in entity_plan.inverses:
        body += _inverse_property(plan, entity_plan, relation, imports)
    while body and body[-1] == "":
        body.pop()
    lines = _header(plan) + imports.render()
    for note in entity_plan.notes + plan.dialect_notes.get(entity.name, []) + index_notes:
        lines += _comment(note)
    lines += _jsdoc([entity.description, f"Table {_qualified(plan, entity.name)}."])
    lines += decorators + [f"export class {entity_plan.class_name} {{", *body, "}", ""]
    return "\n".join(lines)


def _qualified(plan: _Plan, table: str) -> str:
    return f"{plan.model.schema}.{table}" if plan.model.schema and plan.profile.supports_schemas else table


def _entity_decorator(plan: _Plan, entity: CodeEntity) -> str:
    parts = [f"name: {ts_string(entity.name)}"]
    if plan.model.schema and plan.profile.supports_schemas:
        parts.append(f"schema: {ts_string(plan.model.schema)}")
    if entity.description and plan.profile.supports_comments:
        parts.append(f"comment: {ts_string(entity.description)}")
    return f"@Entity({_options(parts)})"


def _unique_decorators(plan: _Plan, entity_plan: _EntityPlan, imports: _Imports) -> list[str]:
    sole_key = [c.name for c in entity_plan.key] if len(entity_plan.key) == 1 else []
    decorators = []
    for column in entity_plan.entity.columns:
        if column.is_unique and [column.name] != sole_key:
            imports.use("Unique")
            name = constraint_name(plan.profile, entity_plan.entity.name, [column.name], "uniq")
            decorators.append(
                f"@Unique({ts_string(name)}, [{ts_string(entity_plan.properties[column.name])}])"
            )
    return decorators


def _check_decorators(plan: _Plan, entity_plan: _EntityPlan, imports: _Imports) -> list[str]:
    decorators = []
    for column in entity_plan.entity.columns:
        for name, sql in plan.checks.get((entity_plan.entity.name, column.name), []):
            imports.use("Check")
            decorators.append(f"@Check({ts_string(name)}, {ts_string(sql)})")
    return decorators


def _index_decorators(
    plan: _Plan, entity_plan: _EntityPlan, imports: _Imports
) -> tuple[list[str], list[str]]:
    """@Index per catalog index, and notes on what TypeORM (or the dialect) cannot say of them."""
    decorators, notes = [], []
    for index in entity_plan.entity.indexes:
        if not index.columns:
            notes.append(f"index {index.name} has no columns and is left out.")
            continue
        unsupported = _index_unsupported(plan, index)
        if unsupported:
            notes.append(
                f"index {index.name} ({_index_sql(plan, index)}) has {' and '.join(unsupported)}, which "
                "TypeORM cannot describe; it is declared with synchronize: false, so TypeORM leaves the "
                "database's index as Custodian's DDL creates it."
            )
            decorator = f"@Index({ts_string(index.name)}, {{ synchronize: false }})"
        else:
            decorator = _index_decorator(plan, entity_plan, index, notes)
        if decorator:
            imports.use("Index")
            decorators.append(decorator)
    return decorators, notes


def _index_decorator(plan: _Plan, entity_plan: _EntityPlan, index: CodeIndex, notes: list[str]) -> str | None:
    """@Index with its options; what the dialect lacks goes to `notes` as the DDL says it (None: left out)."""
    profile = plan.profile
    options = ["unique: true"] if index.is_unique else []
    if index.condition:
        condition = _condition_sql(plan, index.condition)
        if profile.supports_partial_index:
            options.append(f"where: {ts_string(condition)}")
        elif index.is_unique:
            notes.append(
                f"unique index {index.name} WHERE {condition}: {profile.label} has no partial indexes; it "
                "is left out."
            )
            return None
        else:
            notes.append(
                f"index {index.name}: {profile.label} has no partial indexes; it covers all rows, not only "
                f"WHERE {condition}."
            )
    if index.method != "btree":
        if profile.supports_index_method:
            options.append(f"type: {ts_string(index.method)}")
        else:
            notes.append(
                f"index {index.name}: {profile.label} has no {index.method} method; a default index is "
                "created."
            )
    if index.include:
        notes.append(
            f"index {index.name}: {profile.label} has no INCLUDE columns; {', '.join(index.include)} are not "
            "included."
        )
    fields = ", ".join(ts_string(entity_plan.properties[name]) for name, _order in index.columns)
    suffix = f", {_options(options)}" if options else ""
    return f"@Index({ts_string(index.name)}, [{fields}]{suffix})"


def _index_unsupported(plan: _Plan, index: CodeIndex) -> list[str]:
    """What the database's index has that TypeORM's @Index cannot say."""
    unsupported = []
    if any(order == "desc" for _name, order in index.columns):
        unsupported.append("a descending column")
    if index.include and plan.profile.supports_index_include:
        unsupported.append(f"INCLUDE ({', '.join(index.include)})")
    return unsupported


def _index_sql(plan: _Plan, index: CodeIndex) -> str:
    quote = plan.profile.quote
    keys = ", ".join(quote(name) + (" DESC" if order == "desc" else "") for name, order in index.columns)
    text = f"{'UNIQUE ' if index.is_unique else ''}{keys}"
    if index.include:
        text += f" INCLUDE ({', '.join(quote(name) for name in index.include)})"
    if index.method != "btree":
        text += f" USING {index.method}"
    if index.condition:
        text += f" WHERE {_condition_sql(plan, index.condition)}"
    return text


def _condition_sql(plan: _Plan, condition: str) -> str:
    try:
        return sqlglot.transpile(condition, read="postgres", write=plan.profile.sqlglot, identify=True)[0]
    except sqlglot.errors.SqlglotError as exc:
        raise CodegenError(f"Index condition {condition!r} is not SQL Custodian can read: {exc}") from None


def _column_type(plan: _Plan, column: CodeColumn, where: str) -> tuple[str, str | None]:
    """(TypeORM type, length) of the column type the DDL gives it in this dialect."""
    ddl = plan.profile.compile(sa_type(plan.profile, vars(column))).lower()
    match = re.fullmatch(r"([a-z ]+?)\s*(?:\((.*)\))?", ddl)
    base, arguments = (match.group(1), match.group(2)) if match else (ddl, None)
    if base not in TYPEORM_COLUMN_TYPES:
        raise CodegenError(
            f"Column '{where}' is {ddl} in {plan.profile.label}, which TypeORM has no column type for; "
            "change its type in the catalog or leave the entity out."
        )
    return base, (arguments if base in LENGTH_TYPES else None)


def _column_property(
    plan: _Plan, entity_plan: _EntityPlan, column: CodeColumn, imports: _Imports
) -> list[str]:
    options, notes = _column_options(plan, entity_plan, column)
    decorators = [_column_decorator(plan, entity_plan, column, imports, options)]
    if _is_generated_uuid(column):
        imports.use("Generated")
        decorators.append('@Generated("uuid")')
    if column.is_pii:
        imports.modules.setdefault("./pii", set()).add("Pii")
        decorators.insert(0, f"@Pii({ts_string(column.pii_category)}, {ts_string(column.masking_strategy)})")
    doc = [column.description] + ([column.pii_label] if column.is_pii else [])
    lines = ([""] if entity_plan.columns[0] is not column else []) + _jsdoc(doc, _INDENT)
    for note in notes:
        lines += _comment(note, _INDENT)
    lines += _audit_notes(plan, entity_plan, column)
    nullable = column.nullable and not entity_plan.is_key(column)
    ts_type = TS_TYPES[column.data_type] + (" | null" if nullable else "")
    lines += [f"{_INDENT}{decorator}" for decorator in decorators]
    return lines + [f"{_INDENT}{entity_plan.properties[column.name]}!: {ts_type};"]


def _column_options(plan: _Plan, entity_plan: _EntityPlan, column: CodeColumn) -> tuple[list[str], list[str]]:
    """The options of the column's decorator, and notes on what they cannot say."""
    type_, length = _column_type(plan, column, f"{entity_plan.entity.name}.{column.name}")
    options = [f"name: {ts_string(column.name)}", f"type: {ts_string(type_)}"]
    if length is not None:
        options.append(f"length: {length}" if length.isdigit() else f"length: {ts_string(length)}")
    if column.data_type == "numeric" and column.precision:
        options += [f"precision: {column.precision}", f"scale: {column.scale or 0}"]
    if column.nullable and not entity_plan.is_key(column):
        options.append("nullable: true")
    notes = []
    if not _is_generated_uuid(column):
        default, note = _default(plan, column)
        options += [f"default: {default}"] if default else []
        notes += [note] if note else []
    if column.description and plan.profile.supports_comments:
        options.append(f"comment: {ts_string(column.description)}")
    return options, notes


def _is_generated_uuid(column: CodeColumn) -> bool:
    """A uuid defaulting to gen_random_uuid() is TypeORM's @Generated("uuid"): its schema builder reads that
    default so, and would otherwise want to drop and re-add it."""
    return column.data_type == "uuid" and column.default_value.strip().lower() == "gen_random_uuid()"


def _column_decorator(plan, entity_plan: _EntityPlan, column: CodeColumn, imports: _Imports, options) -> str:
    if column is entity_plan.generated_key:
        imports.use("PrimaryGeneratedColumn")
        return f"@PrimaryGeneratedColumn({_options(options)})"
    if entity_plan.is_key(column):
        imports.use("PrimaryColumn")
        key = [c.name for c in entity_plan.key]
        name = constraint_name(plan.profile, entity_plan.entity.name, key, "pk")
        return f"@PrimaryColumn({_options([*options, f'primaryKeyConstraintName: {ts_string(name)}'])})"
    if entity_plan.is_audit(column) and column.name in AUDIT_DECORATORS:
        decorator = AUDIT_DECORATORS[column.name]
        imports.use(decorator)
        return f"@{decorator}({_options(options)})"
    imports.use("Column")
    return f"@Column({_options(options)})"


def _audit_notes(plan: _Plan, entity_plan: _EntityPlan, column: CodeColumn) -> list[str]:
    if not entity_plan.is_audit(column):
        return []
    notes = {
        "created_at": "audit column: the database sets it on insert.",
        "updated_at": "audit column: TypeORM sets it on every save"
        + (
            "; Custodian's trigger keeps it current for other writers too."
            if plan.profile.supports_triggers
            else "."
        ),
        "version": "audit column: TypeORM increments it on every save"
        + (
            "; Custodian's trigger does the same for other writers."
            if plan.profile.supports_triggers
            else "."
        ),
    }
    return _comment(notes.get(column.name, "audit column: the application sets it."), _INDENT)


def _default(plan: _Plan, column: CodeColumn) -> tuple[str, str]:
    """(the TypeORM `default` value, a note on a default TypeORM cannot state)."""
    text = column.default_value.strip()
    if not text:
        return "", ""
    if column.default_is_function:
        sql = plan.profile.default_functions.get(text.lower())
        if sql is None:
            return "", f"default {text} has no equivalent in {plan.profile.label}."
        return f"() => {ts_string(sql)}", ""
    value = parse_literal(column.data_type, column.default_value)
    family = TYPE_FAMILIES[DataType(column.data_type)]
    if family == "boolean":
        return ("true" if value else "false"), ""
    if family == "integer":
        return (str(value) if abs(value) <= 2**53 else ts_string(str(value))), ""
    if family == "float" and math.isfinite(value):
        return repr(value), ""
    if family in ("float", "binary"):
        return "", f"the default {text} has no TypeORM form; the database applies it on insert."
    # Text keeps its spaces; numeric, date, time, UUID and JSON defaults go as the text the catalog holds.
    return ts_string(column.default_value if family == "string" else text), ""


def _reference_property(
    plan: _Plan, entity_plan: _EntityPlan, relation: _Relation, imports: _Imports
) -> list[str]:
    fk = relation.fk
    target_plan = plan.of(fk.target_entity)
    target = imports.entity(target_plan, entity_plan)
    kind = "OneToOne" if relation.is_one_to_one else "ManyToOne"
    imports.use(kind, "JoinColumn")
    imports.types.add("Relation")
    lines = ["", *_jsdoc([f"The {fk.target_entity.name} row that {fk.column.name} references."], _INDENT)]
    options = [] if fk.column.nullable else ["nullable: false"]
    if fk.on_delete in ON_DELETE:
        options.append(f"onDelete: {ts_string(ON_DELETE[fk.on_delete])}")
    elif fk.on_delete == "set_default":
        lines += _comment(
            "ON DELETE SET DEFAULT is applied by the database; TypeORM's onDelete cannot say it.", _INDENT
        )
    parameter = _parameter(target)
    inverse = f"({parameter}) => {parameter}.{relation.inverse}"
    suffix = f", {_options(options)}" if options else ""
    lines.append(f"{_INDENT}@{kind}(() => {target}, {inverse}{suffix})")
    join = [f"name: {ts_string(fk.column.name)}"]
    if [c.name for c in target_plan.key] != [fk.target_column.name]:
        join.append(f"referencedColumnName: {ts_string(target_plan.properties[fk.target_column.name])}")
    name = constraint_name(plan.profile, fk.entity.name, [fk.column.name], "fk")
    join.append(f"foreignKeyConstraintName: {ts_string(name)}")
    lines.append(f"{_INDENT}@JoinColumn({_options(join)})")
    nullable = " | null" if fk.column.nullable else ""
    lines.append(f"{_INDENT}{relation.name}!: Relation<{target}>{nullable};")
    return lines


def _inverse_property(
    plan: _Plan, entity_plan: _EntityPlan, relation: _Relation, imports: _Imports
) -> list[str]:
    fk = relation.fk
    dependent = imports.entity(plan.of(fk.entity), entity_plan)
    parameter = _parameter(dependent)
    lines = ["", *_jsdoc([f"The {fk.entity.name} rows whose {fk.column.name} references this row."], _INDENT)]
    if relation.is_one_to_one:
        imports.use("OneToOne")
        imports.types.add("Relation")
        return lines + [
            f"{_INDENT}@OneToOne(() => {dependent}, ({parameter}) => {parameter}.{relation.name})",
            f"{_INDENT}{relation.inverse}!: Relation<{dependent}> | null;",
        ]
    imports.use("OneToMany")
    return lines + [
        f"{_INDENT}@OneToMany(() => {dependent}, ({parameter}) => {parameter}.{relation.name})",
        f"{_INDENT}{relation.inverse}!: {dependent}[];",
    ]


def _parameter(class_name: str) -> str:
    return ts_identifier(camel_case(class_name))


# --- The PII decorator and the index ------------------------------------------------------------------------


def _pii_file(plan: _Plan) -> str:
    return "\n".join(
        [
            *_header(plan),
            'import "reflect-metadata";',
            "",
            "/** The metadata key under which @Pii records its marker on a property. */",
            'export const PII_METADATA_KEY = "custodian:pii";',
            "",
            "/** A property's personal-data marker: the catalog's PII category and masking strategy. */",
            "export interface PiiMarker {",
            f"{_INDENT}category: string;",
            f"{_INDENT}masking: string;",
            "}",
            "",
            "/**",
            " * Marks a property that holds personal data. The marker is kept as metadata, so loggers,",
            " * serializers and exports can find it with",
            " * `Reflect.getMetadata(PII_METADATA_KEY, entity.prototype, property)`.",
            " */",
            "export function Pii(category: string, masking: string): PropertyDecorator {",
            f"{_INDENT}return (target: object, property: string | symbol) => {{",
            f"{_INDENT * 2}const marker: PiiMarker = {{ category, masking }};",
            f"{_INDENT * 2}Reflect.defineMetadata(PII_METADATA_KEY, marker, target, property);",
            f"{_INDENT}}};",
            "}",
            "",
        ]
    )


def _index_file(plan: _Plan) -> str:
    entities = sorted(plan.entities, key=lambda p: p.module)
    lines = _header(plan)
    lines += [f'import {{ {p.class_name} }} from "./{p.module}";' for p in entities]
    lines.append("")
    if plan.has_pii:
        lines += ['export { Pii, PII_METADATA_KEY } from "./pii";', 'export type { PiiMarker } from "./pii";']
    lines.append(f"export {{ {', '.join(p.class_name for p in entities)} }};")
    lines += ["", "/** Every entity, for a DataSource's `entities` option. */", "export const ENTITIES = ["]
    lines += [f"{_INDENT}{p.class_name}," for p in entities]
    return "\n".join(lines + ["];", ""])

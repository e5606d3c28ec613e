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

from catalog.choices import TYPE_FAMILIES, DataType
from catalog.codegen.base import (
    CodeColumn,
    CodeEntity,
    CodegenError,
    CodeIndex,
    CodeModel,
    GeneratedFile,
    camel_case,
    generated_notice,
    generation_label,
    pascal_case,
)
from catalog.codegen.ddl import column_type, condition_sql, line_comment, qualified
from catalog.codegen.planner import EntityPlan, LanguageDescriptor, ModelPlan, Relation
from catalog.literals import parse_literal
from catalog.schema.metadata import constraint_name

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
DIRECTORY = "src/entities"
_INDENT = "  "


def ts_identifier(name: str) -> str:
    """A property name as a TypeScript identifier: reserved words get a trailing underscore."""
    return f"{name}_" if name in TS_RESERVED_WORDS else name


def ts_string(text: str) -> str:
    """A double-quoted TypeScript string literal of `text` (JSON's escaping is valid TypeScript)."""
    return json.dumps(text, ensure_ascii=False)


class _EntityPlan(EntityPlan):
    @property
    def module(self) -> str:
        """The file name without `.ts`: order-items.entity."""
        return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", self.class_name).lower() + ".entity"


def generate(model: CodeModel, options: dict) -> list[GeneratedFile]:
    """`<entity>.entity.ts` per entity, `pii.ts` when a column holds PII, `index.ts` exporting them all."""
    plan = _plan(model, options)
    files = [GeneratedFile(f"{DIRECTORY}/{p.module}.ts", _entity_file(plan, p)) for p in plan.entities]
    if plan.has_pii:
        files.append(GeneratedFile(f"{DIRECTORY}/pii.ts", _pii_file(plan)))
    files.append(GeneratedFile(f"{DIRECTORY}/index.ts", _index_file(plan)))
    return sorted(files, key=lambda f: f.path)


# --- Planning: names, keys and relations (catalog/codegen/planner.py) --------------------------------------


def _class_name(name: str) -> str:
    converted = pascal_case(name)
    return f"{converted}Entity" if converted in USED_TYPE_NAMES else converted


TYPESCRIPT = LanguageDescriptor(
    target="TypeORM",
    types=TS_TYPES,
    class_name=_class_name,
    member_name=lambda name: ts_identifier(camel_case(name)),
    member_case="camel",
    member_word="property",
    relation_word="relation",
    collision_suffix="Relation",
    key_need="TypeORM needs a primary column on every entity",
    key_label="id",
)


def _plan(model: CodeModel, options: dict) -> ModelPlan:
    generate_keys = bool(options.get("generate_keys"))
    return ModelPlan.build(model, TYPESCRIPT, generate_keys=generate_keys, plan_class=_EntityPlan)


# --- Text helpers -------------------------------------------------------------------------------------------


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


def _header(plan: ModelPlan) -> list[str]:
    return generated_notice(plan.model.datastore)


def _entity_file(plan: ModelPlan, entity_plan: _EntityPlan) -> str:
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
        lines += line_comment(note)
    lines += _jsdoc([entity.description, f"Table {qualified(plan.model, plan.profile, entity.name)}."])
    lines += decorators + [f"export class {entity_plan.class_name} {{", *body, "}", ""]
    return "\n".join(lines)


def _entity_decorator(plan: ModelPlan, entity: CodeEntity) -> str:
    parts = [f"name: {ts_string(entity.name)}"]
    if plan.model.schema and plan.profile.supports_schemas:
        parts.append(f"schema: {ts_string(plan.model.schema)}")
    if entity.description and plan.profile.supports_comments:
        parts.append(f"comment: {ts_string(entity.description)}")
    return f"@Entity({_options(parts)})"


def _unique_decorators(plan: ModelPlan, entity_plan: _EntityPlan, imports: _Imports) -> list[str]:
    sole_key = [c.name for c in entity_plan.key] if len(entity_plan.key) == 1 else []
    decorators = []
    for column in entity_plan.entity.columns:
        if column.is_unique and [column.name] != sole_key:
            imports.use("Unique")
            name = constraint_name(plan.profile, entity_plan.entity.name, [column.name], "uniq")
            decorators.append(f"@Unique({ts_string(name)}, [{ts_string(entity_plan.members[column.name])}])")
    return decorators


def _check_decorators(plan: ModelPlan, entity_plan: _EntityPlan, imports: _Imports) -> list[str]:
    decorators = []
    for column in entity_plan.entity.columns:
        for name, sql in plan.checks.get((entity_plan.entity.name, column.name), []):
            imports.use("Check")
            decorators.append(f"@Check({ts_string(name)}, {ts_string(sql)})")
    return decorators


def _index_decorators(
    plan: ModelPlan, entity_plan: _EntityPlan, imports: _Imports
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


def _index_decorator(
    plan: ModelPlan, entity_plan: _EntityPlan, index: CodeIndex, notes: list[str]
) -> str | None:
    """@Index with its options; what the dialect lacks goes to `notes` as the DDL says it (None: left out)."""
    profile = plan.profile
    options = ["unique: true"] if index.is_unique else []
    if index.condition:
        condition = condition_sql(plan.profile, index.condition)
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
    fields = ", ".join(ts_string(entity_plan.members[name]) for name, _order in index.columns)
    suffix = f", {_options(options)}" if options else ""
    return f"@Index({ts_string(index.name)}, [{fields}]{suffix})"


def _index_unsupported(plan: ModelPlan, index: CodeIndex) -> list[str]:
    """What the database's index has that TypeORM's @Index cannot say."""
    unsupported = []
    if any(order == "desc" for _name, order in index.columns):
        unsupported.append("a descending column")
    if index.include and plan.profile.supports_index_include:
        unsupported.append(f"INCLUDE ({', '.join(index.include)})")
    return unsupported


def _index_sql(plan: ModelPlan, index: CodeIndex) -> str:
    quote = plan.profile.quote
    keys = ", ".join(quote(name) + (" DESC" if order == "desc" else "") for name, order in index.columns)
    text = f"{'UNIQUE ' if index.is_unique else ''}{keys}"
    if index.include:
        text += f" INCLUDE ({', '.join(quote(name) for name in index.include)})"
    if index.method != "btree":
        text += f" USING {index.method}"
    if index.condition:
        text += f" WHERE {condition_sql(plan.profile, index.condition)}"
    return text


def _column_type(plan: ModelPlan, column: CodeColumn, where: str) -> tuple[str, str | None]:
    """(TypeORM type, length) of the column type the DDL gives it in this dialect."""
    ddl = plan.profile.compile(column_type(plan.profile, column)).lower()
    match = re.fullmatch(r"([a-z ]+?)\s*(?:\((.*)\))?", ddl)
    base, arguments = (match.group(1), match.group(2)) if match else (ddl, None)
    if base not in TYPEORM_COLUMN_TYPES:
        raise CodegenError(
            f"Column '{where}' is {ddl} in {plan.profile.label}, which TypeORM has no column type for; "
            "change its type in the catalog or leave the entity out."
        )
    return base, (arguments if base in LENGTH_TYPES else None)


def _column_property(
    plan: ModelPlan, entity_plan: _EntityPlan, column: CodeColumn, imports: _Imports
) -> list[str]:
    options, notes = _column_options(plan, entity_plan, column)
    decorators = [_column_decorator(plan, entity_plan, column, imports, options)]
    if _is_generated_uuid(column):
        imports.use("Generated")
        decorators.append('@Generated("uuid")')
    elif column.generation is not None and entity_plan.key != [column]:
        imports.use("Generated")
        decorators.append(
            '@Generated("identity")' if column.generation.is_identity else '@Generated("increment")'
        )
    if column.is_pii:
        imports.modules.setdefault("./pii", set()).add("Pii")
        decorators.insert(0, f"@Pii({ts_string(column.pii_category)}, {ts_string(column.masking_strategy)})")
    doc = [column.description] + ([column.pii_label] if column.is_pii else [])
    lines = ([""] if entity_plan.columns[0] is not column else []) + _jsdoc(doc, _INDENT)
    for note in notes:
        lines += line_comment(note, _INDENT)
    lines += _audit_notes(plan, entity_plan, column)
    nullable = column.nullable and not entity_plan.is_key(column)
    ts_type = TS_TYPES[column.data_type] + (" | null" if nullable else "")
    lines += [f"{_INDENT}{decorator}" for decorator in decorators]
    return lines + [f"{_INDENT}{entity_plan.members[column.name]}!: {ts_type};"]


def _column_options(
    plan: ModelPlan, entity_plan: _EntityPlan, column: CodeColumn
) -> tuple[list[str], list[str]]:
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
    if column.generation is not None and column.generation.options:
        notes.append(f"{generation_label(column)}: the sequence options come from Custodian's DDL only.")
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
    if column.generation is not None and entity_plan.key == [column]:
        imports.use("PrimaryGeneratedColumn")
        name = constraint_name(plan.profile, entity_plan.entity.name, [column.name], "pk")
        options = [*options, f"primaryKeyConstraintName: {ts_string(name)}"]
        if not column.generation.is_identity:
            return f'@PrimaryGeneratedColumn("increment", {_options(options)})'
        mode = "ALWAYS" if column.generation.is_always else "BY DEFAULT"
        options.append(f"generatedIdentity: {ts_string(mode)}")
        return f'@PrimaryGeneratedColumn("identity", {_options(options)})'
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


def _audit_notes(plan: ModelPlan, entity_plan: _EntityPlan, column: CodeColumn) -> list[str]:
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
    return line_comment(notes.get(column.name, "audit column: the application sets it."), _INDENT)


def _default(plan: ModelPlan, column: CodeColumn) -> tuple[str, str]:
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
    plan: ModelPlan, entity_plan: _EntityPlan, relation: Relation, imports: _Imports
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
        lines += line_comment(
            "ON DELETE SET DEFAULT is applied by the database; TypeORM's onDelete cannot say it.", _INDENT
        )
    if fk.on_update in ON_DELETE:
        options.append(f"onUpdate: {ts_string(ON_DELETE[fk.on_update])}")
    elif fk.on_update == "set_default":
        lines += line_comment(
            "ON UPDATE SET DEFAULT is applied by the database; TypeORM's onUpdate cannot say it.", _INDENT
        )
    if fk.is_deferrable:
        options.append(f"deferrable: {ts_string(fk.deferrable_sql.removeprefix('DEFERRABLE '))}")
    parameter = _parameter(target)
    inverse = f"({parameter}) => {parameter}.{relation.inverse}"
    suffix = f", {_options(options)}" if options else ""
    lines.append(f"{_INDENT}@{kind}(() => {target}, {inverse}{suffix})")
    join = [f"name: {ts_string(fk.column.name)}"]
    if [c.name for c in target_plan.key] != [fk.target_column.name]:
        join.append(f"referencedColumnName: {ts_string(target_plan.members[fk.target_column.name])}")
    name = constraint_name(plan.profile, fk.entity.name, [fk.column.name], "fk")
    join.append(f"foreignKeyConstraintName: {ts_string(name)}")
    lines.append(f"{_INDENT}@JoinColumn({_options(join)})")
    nullable = " | null" if fk.column.nullable else ""
    lines.append(f"{_INDENT}{relation.name}!: Relation<{target}>{nullable};")
    return lines


def _inverse_property(
    plan: ModelPlan, entity_plan: _EntityPlan, relation: Relation, imports: _Imports
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


def _pii_file(plan: ModelPlan) -> str:
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


def _index_file(plan: ModelPlan) -> str:
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

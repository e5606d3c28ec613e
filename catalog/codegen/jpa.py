"""JPA entities (Java): one class per entity, with keys, constraints, indexes and relationships both ways.

Each entity becomes `<Class>.java` under `src/main/java/<package path>/`: `@Entity`, `@Table` (name, schema,
named unique constraints, indexes with their sort order), `@Column` (name, nullability, length, precision,
scale, and a columnDefinition only where the Java type alone would give another column type), `@Id` or an
`@EmbeddedId` of an `@Embeddable <Class>Id`, `@ManyToOne`/`@OneToOne` with `@JoinColumn` and a named
`@ForeignKey` (`@MapsId` where a key column is also a foreign key), and the inverse `@OneToMany`/`@OneToOne`
with `mappedBy`. Constraint names are the ones Custodian's DDL gives, so a schema JPA generates agrees.

JPA has no annotation for a check constraint, ON DELETE, a partial index, an index method or INCLUDE
columns: each is written as a `// Custodian:` comment stating the rule (Hibernate's @Check and @OnDelete
would tie the code to Hibernate). PII columns carry `@Pii(category = ..., masking = ...)`, a run-time
annotation generated into the package, and a Javadoc line.

Naming: classes PascalCase, fields camelCase, each mapped to its column by name (quoted where SQL needs it);
a Java keyword gets a trailing underscore (`class` -> `class_`), a class named like a type the code uses an
`Entity` suffix. A reference is named after its foreign-key column without `_id` (else after the target
class); the inverse side after the dependent class, `inverse<Reference>` for a self-reference and
`<dependent><Reference>` when one entity points at another twice.

Options: `namespace` ("jakarta", the default, or "javax"), `package` (default `com.example.<store>`),
`generate_keys` (add a surrogate `id` key to an entity with no primary key instead of refusing it).
"""

import html
import math
import re
from dataclasses import dataclass

from catalog.codegen.base import (
    CodeColumn,
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
from catalog.codegen.planner import EntityPlan, LanguageDescriptor, ModelPlan, Relation, capitalized
from catalog.literals import parse_literal
from catalog.schema.dialects import DialectProfile
from catalog.schema.metadata import constraint_name
from core.quoting import needs_quoting

__all__ = ["generate", "JAVA_KEYWORDS", "java_identifier", "java_string"]

# Reserved keywords and literals; contextual words such as `var`, `record` or `yield` are valid field names.
JAVA_KEYWORDS = frozenset(
    """
    abstract assert boolean break byte case catch char class const continue default do double else enum
    extends final finally float for goto if implements import instanceof int interface long native new
    package private protected public return short static strictfp super switch synchronized this throw throws
    transient try void volatile while true false null _
    """.split()
)
# Catalog type -> (Java type, import).
JAVA_TYPES = {
    "uuid": ("UUID", "java.util.UUID"),
    "varchar": ("String", None),
    "char": ("String", None),
    "text": ("String", None),
    "smallint": ("Short", None),
    "integer": ("Integer", None),
    "bigint": ("Long", None),
    "numeric": ("BigDecimal", "java.math.BigDecimal"),
    "real": ("Float", None),
    "double": ("Double", None),
    "boolean": ("Boolean", None),
    "date": ("LocalDate", "java.time.LocalDate"),
    "time": ("LocalTime", "java.time.LocalTime"),
    "timestamp": ("LocalDateTime", "java.time.LocalDateTime"),
    "timestamptz": ("OffsetDateTime", "java.time.OffsetDateTime"),
    "json": ("String", None),
    "jsonb": ("String", None),
    "bytea": ("byte[]", None),
}
# What a Java type does not say on its own, written beside the field.
_JSON_NOTE = (
    "{} is mapped as a String of JSON text; with Hibernate 6 add @JdbcTypeCode(SqlTypes.JSON) (or a "
    "converter) so the driver sends it as JSON."
)
TYPE_NOTES = {
    "json": _JSON_NOTE.format("json"),
    "jsonb": _JSON_NOTE.format("jsonb"),
    "uuid": "UUID is a basic type from Jakarta Persistence 3.1 on and in Hibernate; an older JPA provider "
    "would serialize it, so give it an AttributeConverter there.",
}
# The Java type alone would make JPA create another column type: the DDL's type goes in columnDefinition.
COLUMN_DEFINITION_TYPES = {"char", "text", "json", "jsonb"}
# Default functions -> the Java expression giving a new object the same value, per Java type.
DEFAULT_EXPRESSIONS = {
    ("now()", "OffsetDateTime"): "OffsetDateTime.now()",
    ("now()", "LocalDateTime"): "LocalDateTime.now()",
    ("now()", "LocalDate"): "LocalDate.now()",
    ("current_timestamp", "OffsetDateTime"): "OffsetDateTime.now()",
    ("current_timestamp", "LocalDateTime"): "LocalDateTime.now()",
    ("current_timestamp", "LocalDate"): "LocalDate.now()",
    ("localtimestamp", "LocalDateTime"): "LocalDateTime.now()",
    ("current_date", "LocalDate"): "LocalDate.now()",
    ("current_time", "LocalTime"): "LocalTime.now()",
    ("gen_random_uuid()", "UUID"): "UUID.randomUUID()",
}
INTEGER_RANGES = {
    "Short": (-(2**15), 2**15 - 1),
    "Integer": (-(2**31), 2**31 - 1),
    "Long": (-(2**63), 2**63 - 1),
}
ON_DELETE_SQL = {
    "restrict": "RESTRICT",
    "cascade": "CASCADE",
    "set_null": "SET NULL",
    "set_default": "SET DEFAULT",
}
# Types the generated code names: an entity class with one of these names would shadow it.
USED_TYPE_NAMES = frozenset(
    """
    String Integer Long Short Float Double Boolean Byte Character Number Object Class Math System Override
    Serializable Objects List ArrayList UUID BigDecimal LocalDate LocalTime LocalDateTime OffsetDateTime
    Entity Table Column Id EmbeddedId Embeddable Index UniqueConstraint ManyToOne OneToMany OneToOne
    JoinColumn ForeignKey FetchType MapsId GeneratedValue GenerationType Version Pii Documented Retention
    RetentionPolicy Target ElementType
    """.split()
)
_PACKAGE_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
_INDENT = "    "


def java_identifier(name: str) -> str:
    """A field name as a Java identifier: keywords get a trailing underscore (`class` -> `class_`)."""
    return f"{name}_" if name in JAVA_KEYWORDS else name


def java_string(text: str) -> str:
    """A Java string literal of `text`: control characters as octal escapes, never a `\\u` escape (javac would
    decode one before parsing)."""
    escapes = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    out = []
    for char in text:
        if char in escapes:
            out.append(escapes[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\{ord(char):03o}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


@dataclass(eq=False)
class _EntityPlan(EntityPlan):
    id_field: str = "id"  # the @EmbeddedId field of a composite key

    @property
    def is_embedded(self) -> bool:
        return len(self.key) > 1

    @property
    def id_class(self) -> str:
        return f"{self.class_name}Id"


@dataclass(eq=False)
class _Plan(ModelPlan):
    package: str = ""
    persistence: str = "jakarta.persistence"  # or "javax.persistence"

    @property
    def directory(self) -> str:
        return "src/main/java/" + self.package.replace(".", "/")


def generate(model: CodeModel, options: dict) -> list[GeneratedFile]:
    """`<Class>.java` per entity, `<Class>Id.java` per composite key, `Pii.java` when a column holds PII."""
    plan = _plan(model, options)
    files = []
    for entity_plan in plan.entities:
        files.append(
            GeneratedFile(f"{plan.directory}/{entity_plan.class_name}.java", _entity_file(plan, entity_plan))
        )
        if entity_plan.is_embedded:
            files.append(
                GeneratedFile(f"{plan.directory}/{entity_plan.id_class}.java", _id_file(plan, entity_plan))
            )
    if plan.has_pii:
        files.append(GeneratedFile(f"{plan.directory}/Pii.java", _pii_file(plan)))
    return sorted(files, key=lambda f: f.path)


# --- Planning: names, keys and relationships (catalog/codegen/planner.py) --------------------------------


def _class_name(name: str) -> str:
    converted = pascal_case(name)
    return f"{converted}Entity" if converted in USED_TYPE_NAMES else converted


def _field_name(name: str) -> str:
    return java_identifier(camel_case(name))


def _id_field(plan: _EntityPlan) -> None:
    """A composite key's @EmbeddedId field is `id` (or `idRelation` when a column has that name)."""
    if plan.is_embedded:
        taken = set(plan.members.values())
        free = [name for name in ("id", "idRelation") if name not in taken]
        if not free:
            raise CodegenError(
                f"Entity '{plan.entity.name}': the field 'id' collides with another member, even as "
                "'idRelation'; rename one of the columns."
            )
        plan.id_field = free[0]
    plan.reserved.add(plan.id_field)


JAVA = LanguageDescriptor(
    target="Java",
    types=JAVA_TYPES,
    class_name=_class_name,
    member_name=_field_name,
    member_case="camel",
    member_word="field",
    relation_word="relationship",
    collision_suffix="Relation",
    key_need="JPA needs an @Id to identify its rows",
    key_label="the id field",
    entity_planned=_id_field,
)


def _plan(model: CodeModel, options: dict) -> _Plan:
    namespace = options.get("namespace") or "jakarta"
    if namespace not in ("jakarta", "javax"):
        raise CodegenError(f"JPA namespace '{namespace}' is not one of 'jakarta' (JPA 3) or 'javax' (JPA 2).")
    plan = _Plan.build(
        model,
        JAVA,
        generate_keys=bool(options.get("generate_keys")),
        plan_class=_EntityPlan,
        package=_package(options.get("package"), model.datastore),
        persistence=f"{namespace}.persistence",
    )
    _check_class_names(plan.entities, model)
    for entity_plan in plan.entities:
        for relation in entity_plan.references:
            _derived_identity(entity_plan, plan.of(relation.fk.target_entity), relation)
    return plan


def _package(requested: str | None, datastore: str) -> str:
    if requested:
        parts = requested.split(".")
        bad = [p for p in parts if not _PACKAGE_PART.match(p) or p in JAVA_KEYWORDS]
        if bad:
            raise CodegenError(
                f"'{requested}' is not a Java package name ({', '.join(map(repr, bad))} is not an "
                "identifier); use dot-separated lower-case words such as com.example.shop."
            )
        return requested
    store = re.sub(r"[^a-z0-9_]", "_", (datastore or "catalog").lower()) or "catalog"
    store = f"_{store}" if store[0].isdigit() else store
    return f"com.example.{java_identifier(store)}"


def _check_class_names(plans: list[_EntityPlan], model: CodeModel) -> None:
    """A composite key's class must not take the name of another entity's class (Pii is a USED_TYPE_NAME)."""
    owners = {p.class_name: f"entity '{p.entity.name}'" for p in plans}
    extra = [(p.id_class, f"the key class of entity '{p.entity.name}'") for p in plans if p.is_embedded]
    for name, what in extra:
        if name in owners:
            raise CodegenError(
                f"Data store '{model.datastore}': {what} and {owners[name]} are both named '{name}'; "
                "rename one of the entities."
            )
        owners[name] = what


def _derived_identity(plan: _EntityPlan, target: _EntityPlan, relation: Relation) -> None:
    """A key column that is also a foreign key: @MapsId when it is the target's id of the same Java type,
    else the relationship only reads the column the key field writes."""
    fk = relation.fk
    column = fk.column
    if not plan.is_key(column):
        return
    same_type = JAVA_TYPES[column.data_type][0] == JAVA_TYPES[fk.target_column.data_type][0]
    if [c.name for c in target.key] == [fk.target_column.name] and same_type:
        relation.maps_id = plan.members[column.name] if plan.is_embedded else ""
    else:
        relation.read_only = True
        plan.notes.append(
            f"{plan.entity.name}.{column.name} is a key column referencing {fk.target_entity.name}."
            f"{fk.target_column.name}, which is not that entity's id of the same Java type; the key field "
            "writes the column and the relationship only reads it."
        )


# --- Text helpers -------------------------------------------------------------------------------------------


def _no_unicode_escapes(text: str) -> str:
    """javac decodes `\\uXXXX` even inside comments: make every such backslash an escaped one."""
    return re.sub(r"\\+(?=u)", lambda m: m.group(0) + "\\" * (len(m.group(0)) % 2), text)


def _comment(text: str, indent: str = "") -> list[str]:
    """`// Custodian: ...` lines with no unicode escape javac would decode."""
    return line_comment(_no_unicode_escapes(text), indent)


def _javadoc(paragraphs: list[str], indent: str = "") -> list[str]:
    paragraphs = [p for p in paragraphs if p and p.strip()]
    if not paragraphs:
        return []
    lines = [f"{indent}/**"]
    for number, paragraph in enumerate(paragraphs):
        if number:
            lines.append(f"{indent} * <p>")
        escaped = html.escape(paragraph, quote=False).replace("@", "&#64;").replace("\\", "&#92;")
        lines += [f"{indent} * {line}".rstrip() for line in escaped.replace("*/", "*&#47;").splitlines()]
    return lines + [f"{indent} */"]


def _sql_name(profile: DialectProfile, name: str) -> str:
    """The name as JPA should send it: a delimited identifier ("Name") where SQL needs quotes."""
    return f'"{name}"' if needs_quoting(name, profile.sqla) else name


def _annotation(name: str, parts: list[str]) -> str:
    return f"@{name}({', '.join(parts)})" if parts else f"@{name}"


# --- Entity classes -----------------------------------------------------------------------------------------


class _Imports:
    def __init__(self, persistence: str):
        self.persistence = persistence
        self.names: set[str] = set()

    def jpa(self, *names: str) -> None:
        self.names.update(f"{self.persistence}.{name}" for name in names)

    def java_type(self, column: CodeColumn) -> str:
        java_type, module = JAVA_TYPES[column.data_type]
        if module:
            self.names.add(module)
        return java_type

    def render(self) -> list[str]:
        groups = [
            sorted(n for n in self.names if n.startswith(self.persistence)),
            sorted(n for n in self.names if not n.startswith(self.persistence)),
        ]
        lines = []
        for group in groups:
            if group:
                lines += [f"import {name};" for name in group] + [""]
        return lines


def _header(plan: _Plan) -> list[str]:
    return [*generated_notice(plan.model.datastore), f"package {plan.package};", ""]


def _entity_file(plan: _Plan, entity_plan: _EntityPlan) -> str:
    entity = entity_plan.entity
    imports = _Imports(plan.persistence)
    imports.jpa("Entity", "Table")
    table = _table_annotation(plan, entity_plan, imports)
    body = _key_members(plan, entity_plan, imports)
    for column in entity_plan.columns:
        if not entity_plan.is_key(column):
            body += _column_field(plan, entity_plan, column, imports)
        relation = entity_plan.reference(column)
        if relation:
            body += _reference_field(plan, entity_plan, relation, imports)
    for relation in entity_plan.inverses:
        body += _inverse_field(plan, relation, imports)
    body += _accessors(_members(plan, entity_plan))
    lines = _header(plan) + imports.render()
    notes = entity_plan.notes + plan.dialect_notes.get(entity.name, []) + _index_notes(plan, entity_plan)
    for note in notes:
        lines += _comment(note)
    lines += _javadoc([entity.description, f"Table {qualified(plan.model, plan.profile, entity.name)}."])
    lines += ["@Entity", table, f"public class {entity_plan.class_name} {{", "", *body]
    while lines[-1] == "":
        lines.pop()
    return "\n".join(lines + ["}", ""])


def _table_annotation(plan: _Plan, entity_plan: _EntityPlan, imports: _Imports) -> str:
    entity, profile = entity_plan.entity, plan.profile
    parts = [f"name = {java_string(_sql_name(profile, entity.name))}"]
    if plan.model.schema and profile.supports_schemas:
        parts.append(f"schema = {java_string(_sql_name(profile, plan.model.schema))}")
    sole_key = [c.name for c in entity_plan.key] if len(entity_plan.key) == 1 else []
    uniques = [
        f"@UniqueConstraint(name = {java_string(constraint_name(profile, entity.name, [c.name], 'uniq'))}, "
        f"columnNames = {java_string(_sql_name(profile, c.name))})"
        for c in entity.columns
        if c.is_unique and [c.name] != sole_key
    ]
    indexes = [_index_annotation(plan, index) for index in entity.indexes]
    indexes = [i for i in indexes if i]
    if uniques:
        imports.jpa("UniqueConstraint")
        parts.append("uniqueConstraints = " + _array(uniques))
    if indexes:
        imports.jpa("Index")
        parts.append("indexes = " + _array(indexes))
    if not uniques and not indexes:
        return f"@Table({', '.join(parts)})"
    return "@Table(\n" + ",\n".join(_INDENT + part for part in parts) + "\n)"


def _array(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    inner = f",\n{_INDENT * 2}".join(items)
    return f"{{\n{_INDENT * 2}{inner}\n{_INDENT}}}"


def _index_annotation(plan: _Plan, index: CodeIndex) -> str | None:
    # A unique index over only some rows would be a stronger rule over all of them: left out (see notes).
    if not index.columns or (index.condition and index.is_unique):
        return None
    column_list = ", ".join(
        _sql_name(plan.profile, name) + (" DESC" if order == "desc" else "") for name, order in index.columns
    )
    parts = [f"name = {java_string(index.name)}", f"columnList = {java_string(column_list)}"]
    if index.is_unique:
        parts.append("unique = true")
    return _annotation("Index", parts)


def _index_notes(plan: _Plan, entity_plan: _EntityPlan) -> list[str]:
    notes = []
    for index in entity_plan.entity.indexes:
        if not index.columns:
            notes.append(f"index {index.name} has no columns and is left out.")
            continue
        if index.condition:
            condition = condition_sql(plan.profile, index.condition)
            if index.is_unique:
                notes.append(
                    f"unique index {index.name} covers only rows WHERE {condition}; JPA's @Index has no "
                    "condition, so it is left out here (the database keeps it)."
                )
            else:
                notes.append(
                    f"index {index.name} covers only rows WHERE {condition} in the database; JPA's @Index "
                    "has no condition."
                )
        if index.include:
            notes.append(f"index {index.name} also INCLUDEs {', '.join(index.include)}; JPA's @Index cannot.")
        if index.method != "btree":
            notes.append(f"index {index.name} uses the {index.method} method; JPA's @Index cannot say so.")
    return notes


def _key_members(plan: _Plan, entity_plan: _EntityPlan, imports: _Imports) -> list[str]:
    if entity_plan.is_embedded:
        imports.jpa("EmbeddedId")
        lines = _javadoc([f"The primary key ({', '.join(c.name for c in entity_plan.key)})."], _INDENT)
        return lines + [
            f"{_INDENT}@EmbeddedId",
            f"{_INDENT}private {entity_plan.id_class} {entity_plan.id_field} = new {entity_plan.id_class}();",
            "",
        ]
    imports.jpa("Id")
    column = entity_plan.key[0]
    extra = []
    if column is entity_plan.generated_key or column.generation is not None:
        imports.jpa("GeneratedValue", "GenerationType")
        extra = [f"{_INDENT}@GeneratedValue(strategy = GenerationType.IDENTITY)"]
        if column.generation is not None and (column.generation.is_always or column.generation.options):
            extra = _comment(f"{generation_label(column)} in Custodian's DDL.", _INDENT) + extra
    return _column_field(plan, entity_plan, column, imports, annotations=[f"{_INDENT}@Id", *extra])


def _column_field(
    plan: _Plan, entity_plan: _EntityPlan, column: CodeColumn, imports: _Imports, annotations=None
) -> list[str]:
    entity = entity_plan.entity
    field_name = entity_plan.members[column.name]
    java_type = imports.java_type(column)
    doc = [column.description]
    if column.is_pii:
        doc.append(column.pii_label)
    lines = _javadoc(doc, _INDENT)
    for name, sql in plan.checks.get((entity.name, column.name), []):
        lines += _comment(
            f"CHECK ({sql}) [{name}] is enforced by the database; JPA has no check annotation.", _INDENT
        )
    if column.data_type in TYPE_NOTES:
        lines += _comment(TYPE_NOTES[column.data_type], _INDENT)
    if column.generation is not None and not entity_plan.is_key(column):
        lines += _comment(f"{generation_label(column)}: the database fills it; read-only here.", _INDENT)
    # Audit columns are written by the database or by JPA itself, never from an initial value.
    initializer, default_note = ("", "") if entity_plan.is_audit(column) else _initializer(column, java_type)
    if default_note:
        lines += _comment(default_note, _INDENT)
    if column.is_pii:
        category, masking = java_string(column.pii_category), java_string(column.masking_strategy)
        lines.append(f"{_INDENT}@Pii(category = {category}, masking = {masking})")
    lines += annotations or []
    lines += _audit_annotations(plan, entity_plan, column, imports)
    reference = entity_plan.reference(column)
    copy = reference is not None and not entity_plan.is_key(column)
    if copy:
        lines += _comment(f"read-only copy of the foreign key; set it through {reference.name}.", _INDENT)
    read_only = copy or _is_database_kept(plan, entity_plan, column)
    lines.append(f"{_INDENT}{_column_annotation(plan, column, imports, read_only=read_only)}")
    lines.append(f"{_INDENT}private {java_type} {field_name}{initializer};")
    return lines + [""]


def _is_database_kept(plan: _Plan, entity_plan: _EntityPlan, column: CodeColumn) -> bool:
    """created_at always, updated_at where the DDL adds a trigger, a generated column outside the key
    (JPA generates only an @Id): the database writes them."""
    if column.generation is not None and not entity_plan.is_key(column):
        return True
    if not entity_plan.is_audit(column):
        return False
    return column.name == "created_at" or (column.name == "updated_at" and plan.profile.supports_triggers)


def _audit_annotations(
    plan: _Plan, entity_plan: _EntityPlan, column: CodeColumn, imports: _Imports
) -> list[str]:
    if not entity_plan.is_audit(column):
        return []
    if column.name == "version":
        imports.jpa("Version")
        return [
            *_comment("audit column: JPA sets it on insert and increments it on every update.", _INDENT),
            f"{_INDENT}@Version",
        ]
    if column.name == "created_at":
        return _comment("audit column: the database sets it on insert.", _INDENT)
    if column.name == "updated_at":
        if plan.profile.supports_triggers:
            return _comment("audit column: Custodian's trigger keeps it current.", _INDENT)
        return _comment(f"audit column: no trigger on {plan.profile.label}; set it on every update.", _INDENT)
    return _comment("audit column: the application sets it.", _INDENT)


def _column_annotation(plan: _Plan, column: CodeColumn, imports: _Imports, read_only: bool = False) -> str:
    imports.jpa("Column")
    parts = [f"name = {java_string(_sql_name(plan.profile, column.name))}"]
    if not column.nullable:
        parts.append("nullable = false")
    if read_only:
        parts += ["insertable = false", "updatable = false"]
    if column.data_type in ("varchar", "char") and column.length:
        parts.append(f"length = {column.length}")
    if column.data_type == "numeric" and column.precision:
        parts += [f"precision = {column.precision}", f"scale = {column.scale or 0}"]
    if column.data_type in COLUMN_DEFINITION_TYPES:
        definition = plan.profile.compile(column_type(plan.profile, column)).lower()
        parts.append(f"columnDefinition = {java_string(definition)}")
    return _annotation("Column", parts)


def _initializer(column: CodeColumn, java_type: str) -> tuple[str, str]:
    """(" = <expression>" for new objects, a note on a default Java cannot give)."""
    text = column.default_value.strip()
    if not text:
        return "", ""
    if column.default_is_function:
        expression = DEFAULT_EXPRESSIONS.get((text.lower(), java_type))
        if expression is None:
            return (
                "",
                f"the database default {text} has no Java equivalent here; set the field before saving.",
            )
        return f" = {expression}", f"the database default is {text}; new objects start with {expression}."
    literal = _java_literal(column, java_type)
    if literal is None:
        return "", f"the database default {text!r} has no Java literal here; set the field before saving."
    return f" = {literal}", ""


def _java_literal(column: CodeColumn, java_type: str) -> str | None:
    value = parse_literal(column.data_type, column.default_value)
    if java_type == "Boolean":
        return "true" if value else "false"
    if java_type in INTEGER_RANGES:
        low, high = INTEGER_RANGES[java_type]
        if not low <= value <= high:
            return None
        return {"Short": f"(short) {value}", "Integer": f"{value}", "Long": f"{value}L"}[java_type]
    if java_type == "BigDecimal":
        return f'new BigDecimal("{value}")'
    if java_type in ("Float", "Double"):
        if not math.isfinite(value) or (java_type == "Float" and abs(value) > 3.4e38):
            return None
        return f"{value!r}f" if java_type == "Float" else repr(value)
    if java_type == "String":
        # Text keeps its spaces; JSON is its text as written.
        return java_string(column.default_value if isinstance(value, str) else column.default_value.strip())
    if java_type == "UUID":
        return f'UUID.fromString("{value}")'
    if java_type in ("LocalDate", "LocalTime", "LocalDateTime"):
        if getattr(value, "tzinfo", None) is not None:
            return None
        return f'{java_type}.parse("{value.isoformat()}")'
    if java_type == "OffsetDateTime":
        return f'OffsetDateTime.parse("{value.isoformat()}")' if value.tzinfo is not None else None
    return None


def _reference_field(
    plan: _Plan, entity_plan: _EntityPlan, relation: Relation, imports: _Imports
) -> list[str]:
    fk = relation.fk
    target = plan.of(fk.target_entity).class_name
    kind = "OneToOne" if relation.is_one_to_one else "ManyToOne"
    imports.jpa(kind, "FetchType", "JoinColumn", "ForeignKey")
    lines = _javadoc([f"The {fk.target_entity.name} row that {fk.column.name} references."], _INDENT)
    if fk.on_delete in ON_DELETE_SQL:
        lines += _comment(
            f"ON DELETE {ON_DELETE_SQL[fk.on_delete]} is applied by the database; JPA has no annotation "
            "for it.",
            _INDENT,
        )
    if fk.database_rules():
        lines += _comment(
            f"{', '.join(fk.database_rules())} is applied by the database; JPA has no annotation for it.",
            _INDENT,
        )
    if relation.maps_id is not None:
        imports.jpa("MapsId")
        lines.append(
            f"{_INDENT}@MapsId({java_string(relation.maps_id)})" if relation.maps_id else f"{_INDENT}@MapsId"
        )
    options = ["fetch = FetchType.LAZY"] + ([] if fk.column.nullable else ["optional = false"])
    lines.append(f"{_INDENT}@{kind}({', '.join(options)})")
    join = [f"name = {java_string(_sql_name(plan.profile, fk.column.name))}"]
    target_plan = plan.of(fk.target_entity)
    if [c.name for c in target_plan.key] != [fk.target_column.name]:
        join.append(f"referencedColumnName = {java_string(_sql_name(plan.profile, fk.target_column.name))}")
    if not fk.column.nullable:
        join.append("nullable = false")
    if relation.read_only:
        join += ["insertable = false", "updatable = false"]
    name = constraint_name(plan.profile, fk.entity.name, [fk.column.name], "fk")
    join.append(f"foreignKey = @ForeignKey(name = {java_string(name)})")
    lines.append(f"{_INDENT}@JoinColumn({', '.join(join)})")
    lines.append(f"{_INDENT}private {target} {relation.name};")
    return lines + [""]


def _inverse_field(plan: _Plan, relation: Relation, imports: _Imports) -> list[str]:
    fk = relation.fk
    dependent = plan.of(fk.entity).class_name
    lines = _javadoc([f"The {fk.entity.name} rows whose {fk.column.name} references this row."], _INDENT)
    if relation.is_one_to_one:
        imports.jpa("OneToOne")
        return lines + [
            f"{_INDENT}@OneToOne(mappedBy = {java_string(relation.name)})",
            f"{_INDENT}private {dependent} {relation.inverse};",
            "",
        ]
    imports.jpa("OneToMany")
    imports.names.update({"java.util.List", "java.util.ArrayList"})
    return lines + [
        f"{_INDENT}@OneToMany(mappedBy = {java_string(relation.name)})",
        f"{_INDENT}private List<{dependent}> {relation.inverse} = new ArrayList<>();",
        "",
    ]


def _members(plan: _Plan, entity_plan: _EntityPlan) -> list[tuple[str, str, bool]]:
    """(Java type, field, has a setter) of every field, in declaration order, for the accessors."""
    if entity_plan.is_embedded:
        members = [(entity_plan.id_class, entity_plan.id_field, True)]
    else:
        key = entity_plan.key[0]
        members = [(JAVA_TYPES[key.data_type][0], entity_plan.members[key.name], True)]
    for column in entity_plan.columns:
        relation = entity_plan.reference(column)
        if not entity_plan.is_key(column):
            # A read-only column gets no setter: what it was set to would never be saved.
            writable = relation is None and not _is_database_kept(plan, entity_plan, column)
            members.append((JAVA_TYPES[column.data_type][0], entity_plan.members[column.name], writable))
        if relation:
            members.append((plan.of(relation.fk.target_entity).class_name, relation.name, True))
    for relation in entity_plan.inverses:
        dependent = plan.of(relation.fk.entity).class_name
        java_type = dependent if relation.is_one_to_one else f"List<{dependent}>"
        members.append((java_type, relation.inverse, True))
    return members


def _accessors(members: list[tuple[str, str, bool]]) -> list[str]:
    lines = []
    for java_type, name, writable in members:
        suffix = capitalized(name) + ("_" if name.endswith("_") else "")
        lines += [
            f"{_INDENT}public {java_type} get{suffix}() {{",
            f"{_INDENT * 2}return {name};",
            f"{_INDENT}}}",
            "",
        ]
        if writable:
            lines += [
                f"{_INDENT}public void set{suffix}({java_type} {name}) {{",
                f"{_INDENT * 2}this.{name} = {name};",
                f"{_INDENT}}}",
                "",
            ]
    return lines


# --- Composite keys and the PII annotation ------------------------------------------------------------------


def _id_file(plan: _Plan, entity_plan: _EntityPlan) -> str:
    imports = _Imports(plan.persistence)
    imports.jpa("Embeddable")
    imports.names.update({"java.io.Serializable", "java.util.Objects"})
    name = entity_plan.id_class
    body = [f"{_INDENT}private static final long serialVersionUID = 1L;", ""]
    members = []
    for column in entity_plan.key:
        body += _column_field(plan, entity_plan, column, imports)
        members.append((JAVA_TYPES[column.data_type][0], entity_plan.members[column.name], True))
    fields = [f for _t, f, _w in members]
    params = ", ".join(f"{t} {f}" for t, f, _w in members)
    body += [f"{_INDENT}public {name}() {{", f"{_INDENT}}}", "", f"{_INDENT}public {name}({params}) {{"]
    body += [f"{_INDENT * 2}this.{f} = {f};" for f in fields] + [f"{_INDENT}}}", ""]
    body += _accessors(members)
    same = " && ".join(f"Objects.equals({f}, that.{f})" for f in fields)
    body += [
        f"{_INDENT}@Override",
        f"{_INDENT}public boolean equals(Object other) {{",
        f"{_INDENT * 2}if (this == other) {{",
        f"{_INDENT * 3}return true;",
        f"{_INDENT * 2}}}",
        f"{_INDENT * 2}if (!(other instanceof {name})) {{",
        f"{_INDENT * 3}return false;",
        f"{_INDENT * 2}}}",
        f"{_INDENT * 2}{name} that = ({name}) other;",
        f"{_INDENT * 2}return {same};",
        f"{_INDENT}}}",
        "",
        f"{_INDENT}@Override",
        f"{_INDENT}public int hashCode() {{",
        f"{_INDENT * 2}return Objects.hash({', '.join(fields)});",
        f"{_INDENT}}}",
    ]
    doc = _javadoc(
        [f"The primary key of {entity_plan.entity.name}: {', '.join(c.name for c in entity_plan.key)}."]
    )
    lines = _header(plan) + imports.render() + doc
    lines += ["@Embeddable", f"public class {name} implements Serializable {{", "", *body, "}", ""]
    return "\n".join(lines)


def _pii_file(plan: _Plan) -> str:
    return "\n".join(
        [
            *_header(plan),
            "import java.lang.annotation.Documented;",
            "import java.lang.annotation.ElementType;",
            "import java.lang.annotation.Retention;",
            "import java.lang.annotation.RetentionPolicy;",
            "import java.lang.annotation.Target;",
            "",
            "/**",
            " * Marks a field that holds personal data, with the catalog's PII category and masking",
            " * strategy.",
            " * <p>",
            " * Kept at run time: loggers, serializers and exports can find it by reflection and mask the",
            " * value.",
            " */",
            "@Documented",
            "@Retention(RetentionPolicy.RUNTIME)",
            "@Target({ElementType.FIELD, ElementType.METHOD})",
            "public @interface Pii {",
            "",
            f"{_INDENT}/** direct_identifier, quasi_identifier, health, financial or credential. */",
            f"{_INDENT}String category();",
            "",
            f"{_INDENT}/** How the value is masked: hash, redact, partial, tokenize, nullify or none. */",
            f"{_INDENT}String masking();",
            "}",
            "",
        ]
    )

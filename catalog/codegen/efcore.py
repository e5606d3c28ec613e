"""Entity Framework Core (C#): one entity class per entity, a DbContext with Fluent API, and a PII attribute.

The DbContext says everything the catalog knows (table and schema, keys, column names, lengths, precision,
defaults, unique constraints, indexes, relationships with their delete rule, check constraints, comments) in
the data store's SQL dialect, with the constraint names the DDL uses, so EF's model and Custodian's schema
agree. EF's own per-foreign-key indexes are switched off: the catalog lists every index the database has.

Naming: classes and properties are PascalCase, every property is mapped to its column by `HasColumnName`.
PascalCase names can never be C# keywords (those are all lower case); a keyword in a namespace is escaped
with `@`. A property named like its class (C# forbids it) or like a member of `object`, and a class named like
a type the generated code uses, get a `Value` / `Entity` suffix. Reference navigations are named after the
foreign-key column without `_id` (else the target class); the inverse side is named after the dependent class,
`Inverse<Navigation>` for a self-reference, `<Dependent><Navigation>` when one entity points at another twice;
a name already taken gets a `Navigation` suffix.

What EF Core cannot express (ON DELETE SET DEFAULT, a relationship between different CLR types, an index
feature the provider lacks ...) is written as a `// Custodian:` comment, never dropped.

The code targets EF Core 8 (DateOnly and TimeOnly properties, TableBuilder check constraints and comments)
with the data store's provider: index INCLUDE columns and methods use the Npgsql or SQL Server extensions.
Options: `namespace` (default `<Store>.Data`), `generate_keys` (add a surrogate `id` key to an entity with no
primary key instead of refusing it).
"""

import html
import re
from dataclasses import dataclass, field

import sqlalchemy as sa
import sqlglot

from catalog.codegen.base import (
    AUDIT_COLUMNS,
    CodeColumn,
    CodeEntity,
    CodeForeignKey,
    CodegenError,
    CodeModel,
    GeneratedFile,
    names_unique,
    pascal_case,
    surrogate_key,
)
from catalog.codegen.base import (
    synthetic_column as _synthetic_column,
)
from catalog.literals import parse_literal
from catalog.schema.dialects import DialectProfile, profile_for
from catalog.schema.metadata import constraint_name, q, sa_type
from core.errors import SchemaError

__all__ = ["generate", "CSHARP_KEYWORDS", "csharp_identifier", "csharp_string"]

# C# reserved keywords (contextual keywords such as `var` or `record` are valid identifiers).
CSHARP_KEYWORDS = frozenset(
    """
    abstract as base bool break byte case catch char checked class const continue decimal default delegate do
    double else enum event explicit extern false finally fixed float for foreach goto if implicit in int
    interface internal is lock long namespace new null object operator out override params private protected
    public readonly ref return sbyte sealed short sizeof stackalloc static string struct switch this throw
    true try typeof uint ulong unchecked unsafe ushort using virtual void volatile while
    """.split()
)

# Catalog type -> (CLR type, is a value type). DateOnly/TimeOnly need EF Core 8 (or Npgsql 6+).
CLR_TYPES = {
    "uuid": ("Guid", True),
    "varchar": ("string", False),
    "char": ("string", False),
    "text": ("string", False),
    "smallint": ("short", True),
    "integer": ("int", True),
    "bigint": ("long", True),
    "numeric": ("decimal", True),
    "real": ("float", True),
    "double": ("double", True),
    "boolean": ("bool", True),
    "date": ("DateOnly", True),
    "time": ("TimeOnly", True),
    "timestamp": ("DateTime", True),
    "timestamptz": ("DateTimeOffset", True),
    "json": ("string", False),
    "jsonb": ("string", False),
    "bytea": ("byte[]", False),
}
# The CLR type alone does not say the column type: EF would pick another (DateTime is timestamptz in Npgsql).
EXPLICIT_COLUMN_TYPES = {"timestamp", "json", "jsonb"}
# C# literal suffixes for defaults written as CLR values (HasDefaultValue must get the property's exact type).
LITERAL_FORMATS = {
    "smallint": "(short){}",
    "integer": "{}",
    "bigint": "{}L",
    "numeric": "{}m",
    "real": "{}f",
    "double": "{}d",
}
DELETE_BEHAVIORS = {
    "cascade": "Cascade",
    "restrict": "Restrict",
    "set_null": "SetNull",
    "no_action": "NoAction",
}
# Types the generated code names: an entity class with one of these names would shadow it.
USED_TYPE_NAMES = frozenset(
    """
    System Microsoft DbContext DbContextOptions DbSet ModelBuilder ModelConfigurationBuilder DeleteBehavior
    ForeignKeyIndexConvention ICollection List Guid DateOnly TimeOnly DateTime DateTimeOffset Attribute
    AttributeUsage AttributeTargets AttributeUsageAttribute Pii PiiAttribute String Object
    """.split()
)
# Members of DbContext a DbSet property must not hide.
DBCONTEXT_MEMBERS = frozenset(
    """
    Database ChangeTracker Model ContextId Set Add AddAsync AddRange AddRangeAsync Attach AttachRange Entry
    Find FindAsync Remove RemoveRange Update UpdateRange SaveChanges SaveChangesAsync Dispose DisposeAsync
    FromExpression OnConfiguring OnModelCreating ConfigureConventions SavedChanges SavingChanges
    SaveChangesFailed Equals GetHashCode GetType ToString
    """.split()
)
OBJECT_MEMBERS = frozenset(["Equals", "GetHashCode", "GetType", "ToString", "MemberwiseClone", "Finalize"])
# What Custodian adds to a table with audit columns (as catalog/schema/metadata.py creates them).
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
_INDENT = "    "


def csharp_identifier(name: str) -> str:
    """A name as a C# identifier: keywords escaped with `@`; CodegenError for what no identifier can be."""
    if not _IDENTIFIER.match(name):
        raise CodegenError(f"'{name}' is not a C# identifier; use letters, digits and underscores.")
    return f"@{name}" if name in CSHARP_KEYWORDS else name


def csharp_string(text: str) -> str:
    """A regular C# string literal of `text` (every line break and control character escaped)."""
    escapes = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"}
    out = []
    for char in text:
        if char in escapes:
            out.append(escapes[char])
        elif ord(char) < 0x20 or char in "\x85\u2028\u2029":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


@dataclass
class _Relationship:
    fk: CodeForeignKey
    reference: str = ""  # navigation on the dependent
    inverse: str = ""  # navigation (collection, or reference for one-to-one) on the principal

    @property
    def is_one_to_one(self) -> bool:
        return self.fk.column.is_unique or [c.name for c in self.fk.entity.primary_key] == [
            self.fk.column.name
        ]


@dataclass
class _EntityPlan:
    entity: CodeEntity
    class_name: str
    columns: list[CodeColumn]  # the catalog's, then audit columns, then a generated key
    properties: dict[str, str] = field(default_factory=dict)  # column name -> property
    references: list[_Relationship] = field(default_factory=list)
    inverses: list[_Relationship] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    generated_key: CodeColumn | None = None

    @property
    def key(self) -> list[CodeColumn]:
        return [self.generated_key] if self.generated_key else self.entity.primary_key


@dataclass
class _Plan:
    model: CodeModel
    profile: DialectProfile
    namespace: str
    context: str
    entities: list[_EntityPlan]
    db_sets: dict[str, str]  # class -> DbSet property
    by_entity: dict[str, _EntityPlan] = field(default_factory=dict)

    def of(self, entity: CodeEntity) -> _EntityPlan:
        return self.by_entity[entity.name]

    @property
    def has_pii(self) -> bool:
        return any(c.is_pii for plan in self.entities for c in plan.columns)


def generate(model: CodeModel, options: dict) -> list[GeneratedFile]:
    """`<Class>.cs` per entity, `<Store>DbContext.cs`, and `PiiAttribute.cs` when a column holds PII."""
    plan = _plan(model, options)
    # Configuring first collects every note, so the entity classes repeat what the DbContext cannot say.
    blocks = {p.class_name: _configuration(plan, p) for p in plan.entities}
    files = [GeneratedFile(f"{p.class_name}.cs", _entity_file(plan, p)) for p in plan.entities]
    if plan.has_pii:
        files.append(GeneratedFile("PiiAttribute.cs", _pii_attribute_file(plan)))
    files.append(GeneratedFile(f"{plan.context}.cs", _context_file(plan, blocks)))
    return files


# --- Planning: names, keys and relationships, decided once for both sides ---------------------------------


def _plan(model: CodeModel, options: dict) -> _Plan:
    try:
        profile = profile_for(model.engine or "postgresql")
    except SchemaError as exc:
        raise CodegenError(exc.message) from None
    store = pascal_case(model.datastore or "catalog")
    namespace = options.get("namespace") or f"{store}.Data"
    namespace = ".".join(csharp_identifier(part) for part in namespace.split("."))
    context = f"{store}DbContext"
    classes = names_unique(
        [e.name for e in model.entities],
        lambda name: _class_name(name, context),
        f"Data store '{model.datastore}'",
    )
    plans = [
        _entity_plan(entity, classes[entity.name], bool(options.get("generate_keys")))
        for entity in model.entities
    ]
    by_entity = {plan.entity.name: plan for plan in plans}
    _relationships(plans, by_entity, classes)
    db_sets = names_unique(
        [p.class_name for p in plans],
        lambda name: f"{name}Set" if name in DBCONTEXT_MEMBERS else name,
        f"{context} (DbSet properties)",
    )
    return _Plan(model, profile, namespace, context, plans, db_sets, by_entity)


def _class_name(name: str, context: str) -> str:
    converted = pascal_case(name)
    return f"{converted}Entity" if converted in USED_TYPE_NAMES or converted == context else converted


def _entity_plan(entity: CodeEntity, class_name: str, generate_keys: bool) -> _EntityPlan:
    for column in entity.columns:
        if column.data_type not in CLR_TYPES:
            raise CodegenError(
                f"Column '{entity.name}.{column.name}' has type '{column.data_type}', which has no "
                "Entity Framework Core equivalent here; change its type or leave the entity out."
            )
    columns = list(entity.columns)
    if entity.has_audit_columns:
        _audit_clash(entity)
        columns += [_synthetic_column(entity, *spec) for spec in AUDIT_COLUMNS]
    plan = _EntityPlan(entity, class_name, columns)
    if not entity.primary_key:
        _generated_key(plan, generate_keys)
    plan.properties = names_unique(
        [c.name for c in plan.columns],
        lambda name: _member_name(name, class_name),
        f"Entity '{entity.name}'",
    )
    if entity.has_audit_columns:
        plan.notes.append(
            f"created_at, updated_at, created_by, updated_by and version are the audit columns Custodian "
            f"adds to {entity.name}; the database (or the application) keeps updated_at and version current."
        )
    return plan


def _audit_clash(entity: CodeEntity) -> None:
    clash = [name for name, *_spec in AUDIT_COLUMNS if any(c.name == name for c in entity.columns)]
    if clash:
        raise CodegenError(
            f"Entity '{entity.name}' has audit columns and its own column(s) {', '.join(clash)}; rename "
            "them or turn the audit columns off."
        )


def _generated_key(plan: _EntityPlan, generate_keys: bool) -> None:
    plan.generated_key, note = surrogate_key(
        plan.entity,
        plan.columns,
        generate_keys=generate_keys,
        need="EF Core needs one to track its rows",
        label="Id",
    )
    plan.columns.append(plan.generated_key)
    plan.notes.append(note)


def _member_name(name: str, class_name: str) -> str:
    converted = pascal_case(name)
    # C# forbids a member named like its class; one named like an object member would hide it.
    return f"{converted}Value" if converted == class_name or converted in OBJECT_MEMBERS else converted


def _relationships(plans: list[_EntityPlan], by_entity: dict, classes: dict) -> None:
    for plan in plans:
        related = {fk.column.name for fk in plan.entity.foreign_keys}
        for column in plan.entity.columns:
            if column.references_id and column.name not in related:
                plan.notes.append(
                    f"{plan.entity.name}.{column.name} references an entity that is not generated here; "
                    "it stays a plain property (generate both entities for the navigation)."
                )
        for fk in plan.entity.foreign_keys:
            if _clr(fk.column)[0] != _clr(fk.target_column)[0]:
                plan.notes.append(
                    f"{fk.entity.name}.{fk.column.name} ({fk.column.data_type}) references "
                    f"{fk.target_entity.name}.{fk.target_column.name} ({fk.target_column.data_type}); "
                    "EF Core needs one CLR type on both sides of a relationship, so no navigation is "
                    "generated. Give both columns the same type in the catalog."
                )
                continue
            plan.references.append(_Relationship(fk))
    for plan in plans:
        taken = {plan.class_name, *plan.properties.values()}
        for relationship in plan.references:
            candidate = _reference_candidate(relationship.fk, classes)
            # The property's name is unique in the class, so "<Property>Navigation" is the fallback.
            fallback = f"{plan.properties[relationship.fk.column.name]}Navigation"
            relationship.reference = _free_name([candidate, fallback], taken, plan.entity.name)
            by_entity[relationship.fk.target_entity.name].inverses.append(relationship)
    for plan in plans:
        taken = {plan.class_name, *plan.properties.values(), *(r.reference for r in plan.references)}
        for relationship in plan.inverses:
            candidate = _inverse_candidate(relationship, plan.inverses, classes)
            relationship.inverse = _free_name([candidate, f"{candidate}Navigation"], taken, plan.entity.name)


def _reference_candidate(fk: CodeForeignKey, classes: dict) -> str:
    """customer_id -> Customer, parentId -> Parent; without an id suffix, the target's class."""
    stem = re.sub(r"(?:_[iI][dD]|(?<=[a-z0-9])Id)$", "", fk.column.name)
    return pascal_case(stem) if stem and stem != fk.column.name else classes[fk.target_entity.name]


def _inverse_candidate(relationship: _Relationship, inverses: list[_Relationship], classes: dict) -> str:
    fk = relationship.fk
    dependent = classes[fk.entity.name]
    if fk.entity is fk.target_entity:
        return f"Inverse{relationship.reference}"
    if sum(1 for other in inverses if other.fk.entity is fk.entity) > 1:
        return f"{dependent}{relationship.reference}"
    return dependent


def _free_name(candidates: list[str], taken: set[str], entity: str) -> str:
    for name in candidates:
        if name not in taken:
            taken.add(name)
            return name
    raise CodegenError(
        f"Entity '{entity}': the navigation '{candidates[0]}' collides with a property or another "
        f"navigation, even as '{candidates[-1]}'; rename one of the columns."
    )


def _clr(column: CodeColumn) -> tuple[str, bool]:
    return CLR_TYPES[column.data_type]


# --- Entity classes -----------------------------------------------------------------------------------------


def _header(plan: _Plan) -> list[str]:
    return [
        "// <auto-generated>",
        f"// Generated by Custodian from the catalog of data store '{plan.model.datastore}' "
        f"({plan.profile.label}). Regenerate it rather than editing it.",
        "// </auto-generated>",
        "#nullable enable",
    ]


def _doc(text: str, indent: str = "", tag: str = "summary") -> list[str]:
    lines = [html.escape(line.strip(), quote=False) for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return []
    return [f"{indent}/// <{tag}>", *(f"{indent}/// {line}" for line in lines), f"{indent}/// </{tag}>"]


def _comments(notes: list[str], indent: str) -> list[str]:
    lines = []
    for note in notes:
        first, *rest = note.splitlines() or [""]
        lines.append(f"{indent}// Custodian: {first}")
        lines += [f"{indent}//   {line}" for line in rest]
    return lines


def _entity_file(plan: _Plan, entity_plan: _EntityPlan) -> str:
    lines = [*_header(plan), "using System;", "using System.Collections.Generic;", ""]
    lines += [f"namespace {plan.namespace};", ""]
    lines += _comments(entity_plan.notes, "")
    lines += _doc(entity_plan.entity.description)
    lines += [f"public partial class {entity_plan.class_name}", "{"]
    members = [_property(entity_plan, column) for column in entity_plan.columns]
    members += [_reference_navigation(plan, r) for r in entity_plan.references]
    members += [_inverse_navigation(plan, r) for r in entity_plan.inverses]
    lines.append("\n\n".join(members))
    lines += ["}", ""]
    return "\n".join(lines)


def _property(entity_plan: _EntityPlan, column: CodeColumn) -> str:
    clr, is_value_type = _clr(column)
    lines = _doc(column.description, _INDENT)
    remarks = f"Column {column.name} ({_type_label(column)})."
    if column.is_pii:
        lines += _doc(f"{remarks} {column.pii_label}.", _INDENT, "remarks")
        category, masking = csharp_string(column.pii_category), csharp_string(column.masking_strategy)
        lines.append(f"{_INDENT}[Pii({category}, {masking})]")
    else:
        lines += _doc(remarks, _INDENT, "remarks")
    declared = f"{clr}?" if column.nullable else clr
    literal = _csharp_literal(column)
    if literal is not None:
        initializer = f" = {literal};"  # a new object carries the catalog's default
    elif not column.nullable and not is_value_type:
        initializer = " = null!;"  # EF sets it when it materializes the row
    else:
        initializer = ""
    lines.append(
        f"{_INDENT}public {declared} {entity_plan.properties[column.name]} {{ get; set; }}{initializer}"
    )
    return "\n".join(lines)


def _type_label(column: CodeColumn) -> str:
    """varchar(254), numeric(12,2), bigint: the catalog type with its parameters."""
    if column.data_type in ("varchar", "char") and column.length:
        return f"{column.data_type}({column.length})"
    if column.data_type == "numeric" and column.precision:
        scale = f",{column.scale}" if column.scale is not None else ""
        return f"numeric({column.precision}{scale})"
    return column.data_type


def _reference_navigation(plan: _Plan, relationship: _Relationship) -> str:
    fk = relationship.fk
    target = plan.of(fk.target_entity).class_name
    declared, initializer = (f"{target}?", "") if fk.column.nullable else (target, " = null!;")
    doc = _doc(f"The {fk.target_entity.name} row that {fk.column.name} references.", _INDENT)
    declaration = f"public virtual {declared} {relationship.reference} {{ get; set; }}{initializer}"
    return "\n".join([*doc, f"{_INDENT}{declaration}"])


def _inverse_navigation(plan: _Plan, relationship: _Relationship) -> str:
    fk = relationship.fk
    dependent = plan.of(fk.entity).class_name
    doc = _doc(f"The {fk.entity.name} rows whose {fk.column.name} references this row.", _INDENT)
    if relationship.is_one_to_one:
        declaration = f"public virtual {dependent}? {relationship.inverse} {{ get; set; }}"
    else:
        declaration = (
            f"public virtual ICollection<{dependent}> {relationship.inverse} {{ get; set; }} "
            f"= new List<{dependent}>();"
        )
    return "\n".join([*doc, f"{_INDENT}{declaration}"])


def _csharp_literal(column: CodeColumn) -> str | None:
    """The column's literal default as a C# value of the property's type; None for none or not expressible."""
    if not column.default_value.strip() or column.default_is_function:
        return None
    if column.data_type in ("varchar", "char", "text"):
        return csharp_string(column.default_value)
    if column.data_type == "boolean":
        return "true" if parse_literal("boolean", column.default_value) else "false"
    if column.data_type not in LITERAL_FORMATS:
        return None
    value = parse_literal(column.data_type, column.default_value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        return LITERAL_FORMATS[column.data_type].format(repr(value))
    text = format(value, "f") if column.data_type == "numeric" else str(value)
    return LITERAL_FORMATS[column.data_type].format(text)


def _pii_attribute_file(plan: _Plan) -> str:
    lines = [*_header(plan), "using System;", "", f"namespace {plan.namespace};", ""]
    lines += [
        "/// <summary>",
        "/// Marks a property that holds personal data: its PII category and the masking strategy the",
        "/// catalog prescribes (Custodian's PIICategory and MaskingStrategy values).",
        "/// </summary>",
        "[AttributeUsage(AttributeTargets.Property, AllowMultiple = false, Inherited = true)]",
        "public sealed class PiiAttribute : Attribute",
        "{",
        "    public PiiAttribute(string category, string masking)",
        "    {",
        "        Category = category;",
        "        Masking = masking;",
        "    }",
        "",
        "    /// <summary>direct_identifier, quasi_identifier, health, financial or credential.</summary>",
        "    public string Category { get; }",
        "",
        "    /// <summary>none, hash, redact, partial, tokenize or nullify.</summary>",
        "    public string Masking { get; }",
        "}",
        "",
    ]
    return "\n".join(lines)


# --- The DbContext ------------------------------------------------------------------------------------------


def _context_file(plan: _Plan, blocks: dict[str, list[str]]) -> str:
    model, context = plan.model, plan.context
    where = (
        f"schema {model.schema}" if model.schema and plan.profile.supports_schemas else "the default schema"
    )
    lines = [*_header(plan), "using Microsoft.EntityFrameworkCore;"]
    lines += [
        "using Microsoft.EntityFrameworkCore.Metadata.Conventions;",
        "",
        f"namespace {plan.namespace};",
        "",
    ]
    lines += _doc(f"The entities of data store {model.datastore} ({where}, {plan.profile.label}).")
    lines += [f"public partial class {context} : DbContext", "{"]
    lines += [
        f"    public {context}(DbContextOptions<{context}> options)",
        "        : base(options)",
        "    {",
    ]
    lines += ["    }", ""]
    lines += [
        f"    public DbSet<{p.class_name}> {plan.db_sets[p.class_name]} => Set<{p.class_name}>();"
        for p in plan.entities
    ]
    lines += [
        "",
        "    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)",
        "    {",
        "        // The catalog lists every index the database has; EF's index per foreign key adds more.",
        "        configurationBuilder.Conventions.Remove(typeof(ForeignKeyIndexConvention));",
        "    }",
        "",
        "    protected override void OnModelCreating(ModelBuilder modelBuilder)",
        "    {",
    ]
    for entity_plan in plan.entities:
        lines.append(f"        modelBuilder.Entity<{entity_plan.class_name}>(entity =>")
        lines.append("        {")
        body = "\n\n".join(blocks[entity_plan.class_name])
        lines += [f"            {line}" if line else "" for line in body.splitlines()]
        lines += ["        });", ""]
    lines += ["        OnModelCreatingPartial(modelBuilder);", "    }", ""]
    lines += ["    partial void OnModelCreatingPartial(ModelBuilder modelBuilder);", "}", ""]
    return "\n".join(lines)


def _configuration(plan: _Plan, entity_plan: _EntityPlan) -> list[str]:
    """The Fluent API statements of one entity; what cannot be said is added to the entity's notes."""
    statements = [_table(plan, entity_plan), _key(plan, entity_plan)]
    statements += _unique_columns(plan, entity_plan)
    statements += _indexes(plan, entity_plan)
    statements += [_property_configuration(plan, entity_plan, column) for column in entity_plan.columns]
    statements += [_relationship(plan, entity_plan, r) for r in entity_plan.references]
    notes = "\n".join(_comments(entity_plan.notes, ""))
    return [notes, *statements] if notes else statements


def _lambda(parameter: str, properties: list[str]) -> str:
    if len(properties) == 1:
        return f"{parameter} => {parameter}.{properties[0]}"
    return f"{parameter} => new {{ {', '.join(f'{parameter}.{p}' for p in properties)} }}"


def _chain(head: str, calls: list[str]) -> str:
    return "\n".join([head, *(f"{_INDENT}{call}" for call in calls)]) + ";"


def _table(plan: _Plan, entity_plan: _EntityPlan) -> str:
    entity = entity_plan.entity
    schema = plan.model.schema if plan.model.schema and plan.profile.supports_schemas else ""
    target = csharp_string(entity.name) + (f", {csharp_string(schema)}" if schema else "")
    table_calls = [f"t.HasComment({csharp_string(entity.description)});"] if entity.description else []
    table_calls += [
        f"t.HasCheckConstraint({csharp_string(name)}, {csharp_string(sql)});"
        for name, sql in _checks(plan, entity_plan)
    ]
    if not table_calls:
        return f"entity.ToTable({target});"
    return "\n".join([f"entity.ToTable({target}, t =>", "{", *(f"{_INDENT}{c}" for c in table_calls), "});"])


def _checks(plan: _Plan, entity_plan: _EntityPlan) -> list[tuple[str, str]]:
    """(name, SQL) of each column rule, named and written as the DDL writes them."""
    profile, table = plan.profile, entity_plan.entity.name
    checks = []
    for column in entity_plan.entity.columns:
        type_ = sa_type(profile, _type_spec(column))
        sql_column = sa.column(q(column.name), type_)

        def add(expression, suffix, column_name=column.name):
            name = constraint_name(profile, table, [column_name], suffix)
            checks.append((name, profile.compile(expression)))

        if column.min_value:
            add(sql_column >= sa.literal(parse_literal(column.data_type, column.min_value), type_), "min")
        if column.max_value:
            add(sql_column <= sa.literal(parse_literal(column.data_type, column.max_value), type_), "max")
        if column.allowed_values:
            values = [parse_literal(column.data_type, str(v)) for v in column.allowed_values]
            add(sql_column.in_([sa.literal(v, type_) for v in values]), "in")
        if column.min_length is not None:
            add(getattr(sa.func, profile.length_function)(sql_column) >= column.min_length, "len")
        if column.pattern and profile.supports_regex_check:
            add(sql_column.regexp_match(column.pattern), "re")
        elif column.pattern:
            entity_plan.notes.append(
                f"{table}.{column.name}: {profile.label} has no regular expressions in CHECK constraints; "
                f"pattern {column.pattern!r} is not enforced by the database (the application must check it)."
            )
    return checks


def _type_spec(column: CodeColumn) -> dict:
    return {
        "data_type": column.data_type,
        "length": column.length,
        "precision": column.precision,
        "scale": column.scale,
    }


def _key(plan: _Plan, entity_plan: _EntityPlan) -> str:
    properties = [entity_plan.properties[c.name] for c in entity_plan.key]
    head = f"entity.HasKey({_lambda('e', properties)})"
    if entity_plan.generated_key:
        return f"{head};"
    name = constraint_name(plan.profile, entity_plan.entity.name, [c.name for c in entity_plan.key], "pk")
    return f"{head}.HasName({csharp_string(name)});"


def _unique_columns(plan: _Plan, entity_plan: _EntityPlan) -> list[str]:
    """Unique constraints as named unique indexes (a unique alternate key would make the value read-only)."""
    key = entity_plan.key
    statements = []
    for column in entity_plan.entity.columns:
        if column.is_unique and not (len(key) == 1 and key[0].name == column.name):
            name = constraint_name(plan.profile, entity_plan.entity.name, [column.name], "uniq")
            prop = entity_plan.properties[column.name]
            statements.append(f"entity.HasIndex(e => e.{prop}, {csharp_string(name)}).IsUnique();")
    return statements


def _indexes(plan: _Plan, entity_plan: _EntityPlan) -> list[str]:
    profile, props = plan.profile, entity_plan.properties
    statements = []
    for index in entity_plan.entity.indexes:
        if not index.columns:
            entity_plan.notes.append(f"index {index.name} has no columns and is left out.")
            continue
        calls = ["IsUnique()"] if index.is_unique else []
        if any(order == "desc" for _name, order in index.columns):
            flags = ", ".join("true" if order == "desc" else "false" for _name, order in index.columns)
            calls.append(f"IsDescending({flags})")
        if index.condition and profile.supports_partial_index:
            condition = sqlglot.transpile(
                index.condition, read="postgres", write=profile.sqlglot, identify=True
            )
            calls.append(f"HasFilter({csharp_string(condition[0])})")
        elif index.condition and index.is_unique:
            entity_plan.notes.append(
                f"index {index.name}: {profile.label} has no partial indexes; a unique index WHERE "
                f"{index.condition} cannot be expressed and is left out."
            )
            continue
        elif index.condition:
            entity_plan.notes.append(
                f"index {index.name}: {profile.label} has no partial indexes; it covers all rows, not only "
                f"WHERE {index.condition}."
            )
        if index.include and profile.supports_index_include:
            calls.append(f"IncludeProperties({_lambda('e', [props[name] for name in index.include])})")
        elif index.include:
            entity_plan.notes.append(
                f"index {index.name}: {profile.label} has no INCLUDE columns; "
                f"{', '.join(index.include)} are not included."
            )
        if index.method != "btree" and profile.supports_index_method:
            calls.append(f"HasMethod({csharp_string(index.method)})")
        elif index.method != "btree":
            entity_plan.notes.append(
                f"index {index.name}: {profile.label} has no {index.method} method; a default index is used."
            )
        keys = _lambda("e", [props[name] for name, _order in index.columns])
        statements.append(
            _chain(f"entity.HasIndex({keys}, {csharp_string(index.name)})", [f".{c}" for c in calls])
        )
    return statements


def _property_configuration(plan: _Plan, entity_plan: _EntityPlan, column: CodeColumn) -> str:
    profile, table = plan.profile, entity_plan.entity.name
    calls = [f"HasColumnName({csharp_string(column.name)})"]
    if column.data_type in EXPLICIT_COLUMN_TYPES:
        calls.append(
            f"HasColumnType({csharp_string(profile.compile(sa_type(profile, _type_spec(column))).lower())})"
        )
    if column.data_type in ("json", "jsonb"):
        entity_plan.notes.append(
            f"{table}.{column.name} ({column.data_type}) is a string holding JSON text; map it to an owned "
            "type with ToJson() to work with its structure."
        )
    if column.data_type in profile.type_notes:
        entity_plan.notes.append(f"{table}.{column.name}: {profile.type_notes[column.data_type]}")
    if column.data_type in ("varchar", "char") and column.length:
        calls.append(f"HasMaxLength({column.length})")
    if column.data_type == "char":
        calls.append("IsFixedLength()")
    if column.data_type == "numeric" and column.precision:
        scale = f", {column.scale}" if column.scale is not None else ""
        calls.append(f"HasPrecision({column.precision}{scale})")
    if not column.nullable:
        calls.append("IsRequired()")
    calls += _default_calls(plan, entity_plan, column)
    if column.description:
        calls.append(f"HasComment({csharp_string(column.description)})")
    if column.is_pii:
        calls.append(f'HasAnnotation("Custodian:Pii", {csharp_string(column.pii_label)})')
    head = f"entity.Property(e => e.{entity_plan.properties[column.name]})"
    return _chain(head, [f".{call}" for call in calls])


def _default_calls(plan: _Plan, entity_plan: _EntityPlan, column: CodeColumn) -> list[str]:
    profile = plan.profile
    key = entity_plan.key
    if column is entity_plan.generated_key:
        return ["ValueGeneratedOnAdd()"]
    text = column.default_value.strip()
    if not text:
        # EF would make a lone integer or Guid key database- or client-generated; the catalog's is not.
        is_sole_key = len(key) == 1 and key[0].name == column.name
        return ["ValueGeneratedNever()"] if is_sole_key and column.data_type in _GENERATED_BY_EF else []
    if column.default_is_function:
        sql = profile.default_functions.get(text.lower())
        if sql is None:
            entity_plan.notes.append(
                f"{entity_plan.entity.name}.{column.name}: {profile.label} has no equivalent of default "
                f"{text}; the application must set it."
            )
            return []
        return [f"HasDefaultValueSql({csharp_string(sql)})"]
    literal = _csharp_literal(column)
    if literal is not None:
        # The property starts at the default, so EF always sends it (false or 0 are values, not "unset").
        return [f"HasDefaultValue({literal})", "ValueGeneratedNever()"]
    sql = profile.literal(
        column.default_value if column.data_type in ("varchar", "char", "text") else text, sa.Text()
    )
    return [f"HasDefaultValueSql({csharp_string(sql)})"]


_GENERATED_BY_EF = {"smallint", "integer", "bigint", "uuid"}


def _relationship(plan: _Plan, entity_plan: _EntityPlan, relationship: _Relationship) -> str:
    fk = relationship.fk
    principal = plan.of(fk.target_entity)
    prop = entity_plan.properties[fk.column.name]
    target_prop = principal.properties[fk.target_column.name]
    references_key = [c.name for c in principal.key] == [fk.target_column.name]
    if relationship.is_one_to_one:
        head = f"entity.HasOne(d => d.{relationship.reference}).WithOne(p => p.{relationship.inverse})"
        calls = [f".HasForeignKey<{entity_plan.class_name}>(d => d.{prop})"]
        if not references_key:
            calls.append(f".HasPrincipalKey<{principal.class_name}>(p => p.{target_prop})")
    else:
        head = f"entity.HasOne(d => d.{relationship.reference}).WithMany(p => p.{relationship.inverse})"
        calls = [f".HasForeignKey(d => d.{prop})"]
        if not references_key:
            calls.append(f".HasPrincipalKey(p => p.{target_prop})")
    behavior = DELETE_BEHAVIORS.get(fk.on_delete)
    if behavior is None:
        entity_plan.notes.append(
            f"{fk.entity.name}.{fk.column.name}: ON DELETE {fk.on_delete.replace('_', ' ').upper()} has no "
            "EF Core DeleteBehavior; NoAction leaves the delete to the database constraint (EF migrations "
            "would create NO ACTION)."
        )
        behavior = "NoAction"
    calls.append(f".OnDelete(DeleteBehavior.{behavior})")
    name = constraint_name(plan.profile, fk.entity.name, [fk.column.name], "fk")
    calls.append(f".HasConstraintName({csharp_string(name)})")
    return _chain(head, calls)

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

from catalog.codegen.base import (
    CodeColumn,
    CodeForeignKey,
    CodegenError,
    CodeModel,
    GeneratedFile,
    generation_label,
    names_unique,
    pascal_case,
)
from catalog.codegen.ddl import column_type, condition_sql
from catalog.codegen.planner import EntityPlan, LanguageDescriptor, ModelPlan, Relation
from catalog.literals import parse_literal
from catalog.schema.metadata import constraint_name

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


@dataclass(eq=False)
class _Plan(ModelPlan):
    namespace: str = ""
    context: str = ""  # the DbContext class
    db_sets: dict[str, str] = field(default_factory=dict)  # class -> DbSet property


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


# --- Planning: names, keys and relationships (catalog/codegen/planner.py) --------------------------------


def _plan(model: CodeModel, options: dict) -> _Plan:
    store = pascal_case(model.datastore or "catalog")
    namespace = options.get("namespace") or f"{store}.Data"
    namespace = ".".join(csharp_identifier(part) for part in namespace.split("."))
    context = f"{store}DbContext"
    generate_keys = bool(options.get("generate_keys"))
    plan = _Plan.build(
        model, _csharp(context), generate_keys=generate_keys, namespace=namespace, context=context
    )
    plan.db_sets = names_unique(
        [p.class_name for p in plan.entities],
        lambda name: f"{name}Set" if name in DBCONTEXT_MEMBERS else name,
        f"{context} (DbSet properties)",
    )
    # What the dialect cannot say is said once per entity, with the rest of its notes.
    for entity_plan in plan.entities:
        entity_plan.notes += plan.dialect_notes[entity_plan.entity.name]
    return plan


def _csharp(context: str) -> LanguageDescriptor:
    """C# for one DbContext: no entity class may take the context's name."""

    def class_name(name: str) -> str:
        converted = pascal_case(name)
        return f"{converted}Entity" if converted in USED_TYPE_NAMES or converted == context else converted

    return LanguageDescriptor(
        target="Entity Framework Core",
        types=CLR_TYPES,
        class_name=class_name,
        member_name=pascal_case,  # PascalCase is never a C# keyword: those are all lower case
        member_case="pascal",
        member_word="navigation",
        relation_word="navigation",
        collision_suffix="Navigation",
        key_need="EF Core needs one to track its rows",
        key_label="Id",
        column_member=_member_name,
        relation_refusal=_clr_mismatch,
        entity_planned=_entity_planned,
    )


def _member_name(name: str, class_name: str) -> str:
    converted = pascal_case(name)
    # C# forbids a member named like its class; one named like an object member would hide it.
    return f"{converted}Value" if converted == class_name or converted in OBJECT_MEMBERS else converted


def _entity_planned(plan: EntityPlan) -> None:
    plan.reserved.add(plan.class_name)
    if plan.entity.has_audit_columns:
        plan.notes.append(
            f"created_at, updated_at, created_by, updated_by and version are the audit columns Custodian "
            f"adds to {plan.entity.name}; the database (or the application) keeps updated_at and version "
            "current."
        )


def _clr_mismatch(fk: CodeForeignKey) -> str | None:
    if _clr(fk.column)[0] == _clr(fk.target_column)[0]:
        return None
    return (
        f"{fk.entity.name}.{fk.column.name} ({fk.column.data_type}) references "
        f"{fk.target_entity.name}.{fk.target_column.name} ({fk.target_column.data_type}); "
        "EF Core needs one CLR type on both sides of a relationship, so no navigation is "
        "generated. Give both columns the same type in the catalog."
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


def _entity_file(plan: _Plan, entity_plan: EntityPlan) -> str:
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


def _property(entity_plan: EntityPlan, column: CodeColumn) -> str:
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
        f"{_INDENT}public {declared} {entity_plan.members[column.name]} {{ get; set; }}{initializer}"
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


def _reference_navigation(plan: _Plan, relationship: Relation) -> str:
    fk = relationship.fk
    target = plan.of(fk.target_entity).class_name
    declared, initializer = (f"{target}?", "") if fk.column.nullable else (target, " = null!;")
    doc = _doc(f"The {fk.target_entity.name} row that {fk.column.name} references.", _INDENT)
    declaration = f"public virtual {declared} {relationship.name} {{ get; set; }}{initializer}"
    return "\n".join([*doc, f"{_INDENT}{declaration}"])


def _inverse_navigation(plan: _Plan, relationship: Relation) -> str:
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


def _configuration(plan: _Plan, entity_plan: EntityPlan) -> list[str]:
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


def _table(plan: _Plan, entity_plan: EntityPlan) -> str:
    entity = entity_plan.entity
    schema = plan.model.schema if plan.model.schema and plan.profile.supports_schemas else ""
    target = csharp_string(entity.name) + (f", {csharp_string(schema)}" if schema else "")
    table_calls = [f"t.HasComment({csharp_string(entity.description)});"] if entity.description else []
    table_calls += [
        f"t.HasCheckConstraint({csharp_string(name)}, {csharp_string(sql)});"
        for column in entity.columns
        for name, sql in plan.checks.get((entity.name, column.name), [])
    ]
    if not table_calls:
        return f"entity.ToTable({target});"
    return "\n".join([f"entity.ToTable({target}, t =>", "{", *(f"{_INDENT}{c}" for c in table_calls), "});"])


def _key(plan: _Plan, entity_plan: EntityPlan) -> str:
    properties = [entity_plan.members[c.name] for c in entity_plan.key]
    head = f"entity.HasKey({_lambda('e', properties)})"
    if entity_plan.generated_key:
        return f"{head};"
    name = constraint_name(plan.profile, entity_plan.entity.name, [c.name for c in entity_plan.key], "pk")
    return f"{head}.HasName({csharp_string(name)});"


def _unique_columns(plan: _Plan, entity_plan: EntityPlan) -> list[str]:
    """Unique constraints as named unique indexes (a unique alternate key would make the value read-only)."""
    key = entity_plan.key
    statements = []
    for column in entity_plan.entity.columns:
        if column.is_unique and not (len(key) == 1 and key[0].name == column.name):
            name = constraint_name(plan.profile, entity_plan.entity.name, [column.name], "uniq")
            prop = entity_plan.members[column.name]
            statements.append(f"entity.HasIndex(e => e.{prop}, {csharp_string(name)}).IsUnique();")
    return statements


def _indexes(plan: _Plan, entity_plan: EntityPlan) -> list[str]:
    profile, props = plan.profile, entity_plan.members
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
            calls.append(f"HasFilter({csharp_string(condition_sql(profile, index.condition))})")
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


def _property_configuration(plan: _Plan, entity_plan: EntityPlan, column: CodeColumn) -> str:
    profile, table = plan.profile, entity_plan.entity.name
    calls = [f"HasColumnName({csharp_string(column.name)})"]
    if column.data_type in EXPLICIT_COLUMN_TYPES:
        calls.append(f"HasColumnType({csharp_string(profile.compile(column_type(profile, column)).lower())})")
    if column.data_type in ("json", "jsonb"):
        entity_plan.notes.append(
            f"{table}.{column.name} ({column.data_type}) is a string holding JSON text; map it to an owned "
            "type with ToJson() to work with its structure."
        )
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
    head = f"entity.Property(e => e.{entity_plan.members[column.name]})"
    return _chain(head, [f".{call}" for call in calls])


def _default_calls(plan: _Plan, entity_plan: EntityPlan, column: CodeColumn) -> list[str]:
    profile = plan.profile
    key = entity_plan.key
    if column is entity_plan.generated_key:
        return ["ValueGeneratedOnAdd()"]
    if column.generation is not None:
        return _generation_calls(plan, entity_plan, column)
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

# Npgsql's words for each key generation, where the provider has serials and both identity kinds.
_NPGSQL_GENERATION = {
    "serial": "UseSerialColumn()",
    "always": "UseIdentityAlwaysColumn()",
    "by_default": "UseIdentityByDefaultColumn()",
}
_NPGSQL_IDENTITY_OPTIONS = {
    "start": "startValue",
    "increment": "incrementBy",
    "minvalue": "minValue",
    "maxvalue": "maxValue",
    "cycle": "cyclic",
    "cache": "numbersToCache",
}


def _csharp_number_or_flag(value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(int(value))


def _generation_calls(plan: _Plan, entity_plan: EntityPlan, column: CodeColumn) -> list[str]:
    """ValueGeneratedOnAdd(), with Npgsql's serial or identity kind and sequence options on PostgreSQL; a
    note elsewhere for what the provider's own identity does not say."""
    calls = ["ValueGeneratedOnAdd()"]
    generation = column.generation
    if plan.profile.serial_types:
        calls.append(_NPGSQL_GENERATION[generation.kind])
        if generation.options:
            options = ", ".join(
                f"{_NPGSQL_IDENTITY_OPTIONS[name]}: {_csharp_number_or_flag(value)}"
                for name, value in generation.options
            )
            calls.append(f"HasIdentityOptions({options})")
    elif generation.is_always or generation.options:
        entity_plan.notes.append(
            f"{entity_plan.entity.name}.{column.name}: {generation_label(column)} in Custodian's DDL; "
            f"the {plan.profile.label} provider's identity column does not say it."
        )
    return calls


def _relationship(plan: _Plan, entity_plan: EntityPlan, relationship: Relation) -> str:
    fk = relationship.fk
    principal = plan.of(fk.target_entity)
    prop = entity_plan.members[fk.column.name]
    target_prop = principal.members[fk.target_column.name]
    references_key = [c.name for c in principal.key] == [fk.target_column.name]
    if relationship.is_one_to_one:
        head = f"entity.HasOne(d => d.{relationship.name}).WithOne(p => p.{relationship.inverse})"
        calls = [f".HasForeignKey<{entity_plan.class_name}>(d => d.{prop})"]
        if not references_key:
            calls.append(f".HasPrincipalKey<{principal.class_name}>(p => p.{target_prop})")
    else:
        head = f"entity.HasOne(d => d.{relationship.name}).WithMany(p => p.{relationship.inverse})"
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
    if fk.database_rules():
        entity_plan.notes.append(
            f"{fk.entity.name}.{fk.column.name}: {', '.join(fk.database_rules())} is applied by the "
            "database; EF Core has no way to say it (EF migrations would leave it out)."
        )
    name = constraint_name(plan.profile, fk.entity.name, [fk.column.name], "fk")
    calls.append(f".HasConstraintName({csharp_string(name)})")
    return _chain(head, calls)

"""SQLAlchemy 2.0 declarative models from the catalog: one `models.py` whose `Base.metadata.create_all()`
builds the schema Custodian's own DDL builds.

Types, defaults, check expressions, index options and constraint names come from the rules of
`catalog.schema.metadata` for the data store's dialect, so both schemas have the same tables, keys, checks and
indexes under the same names. What SQLAlchemy or the dialect cannot express is written into the file as a
comment. The Python source helpers (literals, comments, docstrings, calls) are shared with `django_models`;
relation names come from `planner` (the suffix rule and Python's reverse names).
"""

import keyword
from dataclasses import dataclass, field

import sqlalchemy as sa
import sqlglot

from catalog.choices import TYPE_FAMILIES, DataType
from catalog.codegen.base import (
    CodeColumn,
    CodeEntity,
    CodeForeignKey,
    CodegenError,
    CodeIndex,
    CodeModel,
    GeneratedFile,
    audit_columns,
    names_unique,
    pascal_case,
    snake_case,
)
from catalog.codegen.ddl import column_type, profile_of
from catalog.codegen.planner import relation_stem, reverse_names
from catalog.codegen.python_source import (
    SURROGATE_KEY,
    PythonModule,
    call_source,
    comment_lines,
    default_function_sql,
    docstring_lines,
    import_order,
    python_string,
    surrogate_entities,
)
from catalog.literals import parse_literal
from catalog.schema.dialects import DialectProfile
from catalog.schema.metadata import ON_DELETE_SQL, constraint_name

__all__ = ["generate", "check_expressions", "index_condition_sql"]

# Names a generated class body uses (module imports, Declarative's own attributes): a column called like one
# would shadow it, so its attribute is escaped like a keyword.
_ATTRIBUTE_RESERVED = frozenset(keyword.kwlist) | {
    "metadata",
    "registry",
    "mapped_column",
    "relationship",
    "datetime",
    "decimal",
    "uuid",
    "column",
    "text",
}
_CLASS_RESERVED = frozenset(keyword.kwlist) | {
    "Any",
    "Base",
    "BigInteger",
    "Boolean",
    "CHAR",
    "CheckConstraint",
    "Date",
    "DateTime",
    "DeclarativeBase",
    "Double",
    "ForeignKey",
    "Identity",
    "Index",
    "Integer",
    "JSON",
    "JSONB",
    "LargeBinary",
    "Mapped",
    "MetaData",
    "Numeric",
    "PrimaryKeyConstraint",
    "REAL",
    "SmallInteger",
    "String",
    "Text",
    "Time",
    "UniqueConstraint",
    "Uuid",
}
# ON DELETE on the database -> what the one-to-many side lets the database do (SQLAlchemy would otherwise
# load the children and set their key to NULL first, which a RESTRICT or a NOT NULL key forbids).
_PASSIVE_DELETES = {
    "cascade": ['cascade="all, delete"', "passive_deletes=True"],
    "set_null": ["passive_deletes=True"],
    "set_default": ["passive_deletes=True"],
    "restrict": ['passive_deletes="all"'],
    "no_action": ['passive_deletes="all"'],
}


# --- Naming -------------------------------------------------------------------------------------------


def _escape_attribute(name: str) -> str:
    return f"{name}_" if name in _ATTRIBUTE_RESERVED else name


def _attribute(name: str) -> str:
    """The Python attribute of a database column name."""
    return _escape_attribute(snake_case(name))


def _class_name(name: str) -> str:
    converted = pascal_case(name)
    return f"{converted}_" if converted in _CLASS_RESERVED else converted


@dataclass
class _Names:
    """Every Python name the module uses, decided before any code is written."""

    classes: dict[str, str]  # entity name -> class
    attributes: dict[str, dict[str, str]]  # entity name -> {column name -> attribute}
    forward: dict = field(default_factory=dict)  # (entity, column) -> many-to-one attribute
    reverse: dict = field(default_factory=dict)  # (entity, column) -> attribute on the target


def _names(model: CodeModel, surrogates: set[str]) -> _Names:
    classes = names_unique([e.name for e in model.entities], _class_name, f"Data store '{model.datastore}'")
    attributes = {}
    for entity in model.entities:
        columns = [c.name for c in [*entity.columns, *audit_columns(entity)]]
        if entity.name in surrogates:
            columns.append(SURROGATE_KEY)
        attributes[entity.name] = names_unique(columns, _attribute, f"Entity '{entity.name}'")
    names = _Names(classes, attributes)
    taken = {e.name: set(attributes[e.name].values()) for e in model.entities}
    for entity in model.entities:
        for fk in entity.foreign_keys:
            names.forward[(entity.name, fk.column.name)] = _forward_name(fk, attributes, taken[entity.name])
    names.reverse = reverse_names(model, names.forward, taken, _escape_attribute)
    return names


def _forward_name(fk: CodeForeignKey, attributes: dict, taken: set[str]) -> str:
    """customer_id -> customer; a column without an _id/_key suffix gets `<column>_<target>`."""
    column_attr = attributes[fk.entity.name][fk.column.name]
    stem = snake_case(relation_stem(fk.column.name) or fk.column.name)
    for candidate in (stem, f"{snake_case(fk.column.name)}_{snake_case(fk.target_entity.name)}"):
        candidate = _escape_attribute(candidate)
        if candidate != column_attr and candidate not in taken:
            taken.add(candidate)
            return candidate
    raise CodegenError(
        f"Entity '{fk.entity.name}': no free attribute name for the relationship of column "
        f"'{fk.column.name}' ('{stem}' and '{candidate}' are taken); rename the column."
    )


# --- The module ---------------------------------------------------------------------------------------


@dataclass
class _Module(PythonModule):
    """What the file needs while it is written: names, the dialect's rules and the imports used."""

    names: _Names | None = None


def generate(model: CodeModel, options: dict) -> list[GeneratedFile]:
    """`models.py`: a DeclarativeBase and one mapped class per entity; CodegenError when an entity has no
    primary key (unless `generate_keys`) or two names collide in Python."""
    surrogates = surrogate_entities(model, options, need="which SQLAlchemy needs to map it")
    module = _Module(model, profile_of(model), surrogates, names=_names(model, surrogates))
    module.use("sqlalchemy.orm", "DeclarativeBase", "Mapped", "mapped_column")
    body = [_base_class(module)]
    body += [_entity_class(module, entity) for entity in model.entities]
    return [GeneratedFile("models.py", "\n\n\n".join([_header(module), *body]) + "\n")]


def _header(module: _Module) -> str:
    where = f' (schema "{module.schema}")' if module.schema else ""
    summary = (
        f"SQLAlchemy 2.0 models of data store {module.model.datastore}{where}, generated by Custodian "
        "from its catalog.\n\nRegenerate them rather than editing: the catalog is the source of truth."
    )
    lines = [*docstring_lines(summary, ""), "", "from __future__ import annotations", ""]
    lines += [f"import {name}" for name in sorted(module.modules)]
    if "typing" in module.imports:
        lines.append(f"from typing import {', '.join(sorted(module.imports['typing']))}")
    lines.append("")
    for source in sorted(m for m in module.imports if m != "typing"):
        names = sorted(module.imports[source], key=import_order)
        line = f"from {source} import {', '.join(names)}"
        # Wrapped where isort (and ruff's I rules at their default line length of 88) wraps it.
        if len(line) > 88:
            line = f"from {source} import (\n" + "".join(f"    {name},\n" for name in names) + ")"
        lines.append(line)
    return "\n".join(line for index, line in enumerate(lines) if line or lines[index - 1]).strip("\n")


def _base_class(module: _Module) -> str:
    lines = ["class Base(DeclarativeBase):", '    """The declarative base of these models."""', ""]
    if module.schema:
        module.use("sqlalchemy", "MetaData")
        lines.append(f"    metadata = MetaData(schema={python_string(module.schema)})")
    else:
        lines.append("    pass")
    return "\n".join(lines)


def _entity_class(module: _Module, entity: CodeEntity) -> str:
    lines = [f"class {module.names.classes[entity.name]}(Base):"]
    if entity.description:
        lines += [*docstring_lines(entity.description, "    "), ""]
    notes: list[str] = []
    table_args = _table_args(module, entity, notes)
    for fk in entity.foreign_keys:
        if fk.is_deferrable and not module.profile.supports_deferrable:
            notes.append(
                f"{fk.column.name}: {fk.deferrable_sql} in the catalog; {module.profile.label} has no "
                "deferrable foreign keys, so this one is checked at each statement."
            )
    if entity.has_audit_columns:
        notes.append(
            "updated_at and version are kept current by the database trigger custodian_touch_row, "
            "which Custodian's DDL creates and SQLAlchemy models cannot declare."
        )
    for note in notes:
        lines += comment_lines(note, "    ")
    lines.append(f"    __tablename__ = {python_string(entity.name)}")
    if table_args:
        lines += ["    __table_args__ = (", *[f"{entry}," for entry in table_args], "    )"]
    lines.append("")
    if entity.name in module.surrogates:
        lines += _surrogate_key(module)
    for column in [*entity.columns, *audit_columns(entity)]:
        lines += _column_lines(module, entity, column)
    relationships = _relationship_lines(module, entity)
    if relationships:
        lines += ["", *relationships]
    return "\n".join(lines)


def _surrogate_key(module: _Module) -> list[str]:
    module.use("sqlalchemy", "BigInteger", "Identity")
    return [
        "    # No primary key in the catalog: a surrogate key generated on request (generate_keys); the",
        "    # catalog's table has no such column.",
        f"    {SURROGATE_KEY}: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)",
    ]


# --- Columns ------------------------------------------------------------------------------------------


def _type_source(module: _Module, column: CodeColumn) -> str:
    """The SQLAlchemy type Custodian's DDL gives the column in this dialect, as source: String(254) ..."""
    type_ = column_type(module.profile, column)
    name = type(type_).__name__
    source_module = type(type_).__module__
    if source_module.startswith("sqlalchemy.dialects."):
        module.use(".".join(source_module.split(".")[:3]), name)
    else:
        module.use("sqlalchemy", name)
    if isinstance(type_, sa.String) and type_.length:
        return f"{name}({type_.length})"
    if isinstance(type_, sa.Numeric) and not isinstance(type_, sa.Float) and type_.precision is not None:
        return f"{name}({type_.precision}{f', {type_.scale}' if type_.scale is not None else ''})"
    if isinstance(type_, sa.DateTime) and type_.timezone:
        return f"{name}(timezone=True)"
    return name


def _python_type(module: _Module, column: CodeColumn) -> str:
    if TYPE_FAMILIES[DataType(column.data_type)] == "json":
        module.use("typing", "Any")
        return "Any"
    type_ = column_type(module.profile, column)
    python_type = type_.python_type
    if python_type.__module__ == "builtins":
        return python_type.__name__
    module.modules.add(python_type.__module__)
    return f"{python_type.__module__}.{python_type.__qualname__}"


def _server_default(module: _Module, column: CodeColumn) -> tuple[str | None, str | None]:
    """(source of server_default, or a note when the dialect has no such default), as Custodian's DDL."""
    text, sql, note = default_function_sql(module, column)
    if not text or note:
        return None, note
    if sql is not None:
        module.use("sqlalchemy", "text")
        return f"text({python_string(sql)})", None
    value = parse_literal(column.data_type, column.default_value)
    family = TYPE_FAMILIES[DataType(column.data_type)]
    module.use("sqlalchemy", "text")
    if family == "boolean":
        return f"text({python_string(module.profile.boolean_literals[int(value)])})", None
    if family in ("integer", "numeric", "float"):
        return f"text({python_string(str(value))})", None
    # Any other literal is a quoted string the column's type accepts, as in Custodian's DDL.
    return python_string(column.default_value if family == "string" else text), None


def _foreign_key_source(module: _Module, entity: CodeEntity, column: CodeColumn) -> str | None:
    fk = next((fk for fk in entity.foreign_keys if fk.column is column), None)
    if fk is None:
        return None
    module.use("sqlalchemy", "ForeignKey")
    target = ".".join(p for p in (module.schema, fk.target_entity.name, fk.target_column.name) if p)
    args = [python_string(target)]
    if ON_DELETE_SQL[fk.on_delete]:
        args.append(f"ondelete={python_string(ON_DELETE_SQL[fk.on_delete])}")
    if ON_DELETE_SQL[fk.on_update]:
        args.append(f"onupdate={python_string(ON_DELETE_SQL[fk.on_update])}")
    if fk.is_deferrable and module.profile.supports_deferrable:
        initially = "DEFERRED" if fk.initially_deferred else "IMMEDIATE"
        args += ["deferrable=True", f"initially={python_string(initially)}"]
    name = constraint_name(module.profile, entity.name, [column.name], "fk")
    args.append(f"name={python_string(name)}")
    return f"ForeignKey({', '.join(args)})"


def _generation_source(module: _Module, entity: CodeEntity, column: CodeColumn) -> tuple[list[str], str]:
    """(Identity(...) for an identity column, a note where SQLAlchemy cannot say the generation)."""
    generation = column.generation
    if generation is None:
        return [], ""
    if generation.is_identity:
        module.use("sqlalchemy", "Identity")
        options = [f"always={generation.is_always}"] + [
            f"{name}={value!r}" for name, value in generation.options
        ]
        return [f"Identity({', '.join(options)})"], ""
    if len(entity.primary_key) == 1 and column.primary_key_position:
        return [], ""
    return [], (
        "a serial column; SQLAlchemy makes SERIAL only for a table's single integer primary key, so its "
        "sequence comes from Custodian's DDL."
    )


def _column_lines(module: _Module, entity: CodeEntity, column: CodeColumn) -> list[str]:
    attribute = module.names.attributes[entity.name][column.name]
    lines = []
    args = [python_string(column.name)] if attribute != column.name else []
    args.append(_type_source(module, column))
    foreign_key = _foreign_key_source(module, entity, column)
    if foreign_key:
        args.append(foreign_key)
    elif column.references_id:
        lines.append(
            "    # A foreign key to an entity outside this selection: the column is kept, not the key."
        )
    generation_args, generation_note = _generation_source(module, entity, column)
    args += generation_args
    if generation_note:
        lines += comment_lines(f"{column.name}: {generation_note}", "    ")
    if column.primary_key_position:
        args.append("primary_key=True")
        sole_integer_key = (
            len(entity.primary_key) == 1 and TYPE_FAMILIES[DataType(column.data_type)] == "integer"
        )
        if column.generation is None and sole_integer_key:
            args.append("autoincrement=False")  # no sequence behind this key
        elif column.generation is not None and not column.generation.is_identity and sole_integer_key:
            args.append("autoincrement=True")  # SQLAlchemy's SERIAL
    default, note = _server_default(module, column)
    if default:
        args.append(f"server_default={default}")
    if note:
        lines += comment_lines(f"{column.name}: {note}", "    ")
    if column.description and module.profile.supports_comments:
        args.append(f"comment={python_string(column.description)}")
    if column.description:
        args.append(f"doc={python_string(column.description)}")
    if column.is_pii:
        lines += comment_lines(column.pii_label, "    ")
        pii, masking = python_string(column.pii_category), python_string(column.masking_strategy)
        args.append(f'info={{"pii": {pii}, "masking": {masking}}}')
    python_type = _python_type(module, column)
    annotation = f"Mapped[{python_type} | None]" if column.nullable else f"Mapped[{python_type}]"
    lines.append(call_source("mapped_column", args, "    ", f"{attribute}: {annotation} = "))
    return lines


# --- Table arguments: keys, checks, indexes, comment --------------------------------------------------


_ARGS_INDENT = " " * 8


def _table_args(module: _Module, entity: CodeEntity, notes: list[str]) -> list[str]:
    """PrimaryKeyConstraint, UniqueConstraint, CheckConstraint and Index entries named as Custodian's DDL
    names them, then the table comment; `notes` collects what the dialect cannot express."""
    profile = module.profile
    entries = []
    key = [c.name for c in entity.primary_key]
    if key:
        module.use("sqlalchemy", "PrimaryKeyConstraint")
        name = python_string(constraint_name(profile, entity.name, key, "pk"))
        entries.append(
            call_source("PrimaryKeyConstraint", [*map(python_string, key), f"name={name}"], _ARGS_INDENT)
        )
    for column in entity.columns:
        if column.is_unique and not (column.primary_key_position and len(key) == 1):
            module.use("sqlalchemy", "UniqueConstraint")
            name = python_string(constraint_name(profile, entity.name, [column.name], "uniq"))
            entries.append(
                call_source("UniqueConstraint", [python_string(column.name), f"name={name}"], _ARGS_INDENT)
            )
    for column in entity.columns:
        entries += _checks(module, entity, column, notes)
    for index in entity.indexes:
        source = _index_source(module, index, notes)
        if source:
            entries.append(source)
    if entity.description and profile.supports_comments:
        entries.append(f"{_ARGS_INDENT}{{{python_string('comment')}: {python_string(entity.description)}}}")
    return entries


def check_expressions(
    profile: DialectProfile, column: CodeColumn
) -> tuple[list[tuple[str, object]], list[str]]:
    """The column's checks as SQLAlchemy expressions with the suffix Custodian names them by (min, max, in,
    len, re), and notes on the rules the dialect cannot check."""
    type_ = column_type(profile, column)
    target = sa.column(column.name, type_)
    checks = []
    if column.min_value:
        checks.append(("min", target >= sa.literal(parse_literal(column.data_type, column.min_value), type_)))
    if column.max_value:
        checks.append(("max", target <= sa.literal(parse_literal(column.data_type, column.max_value), type_)))
    if column.allowed_values:
        values = [sa.literal(parse_literal(column.data_type, str(v)), type_) for v in column.allowed_values]
        checks.append(("in", target.in_(values)))
    if column.min_length is not None:
        checks.append(("len", getattr(sa.func, profile.length_function)(target) >= column.min_length))
    notes = []
    if column.pattern:
        if profile.supports_regex_check:
            checks.append(("re", target.regexp_match(column.pattern)))
        else:
            notes.append(
                f"{column.name}: {profile.label} has no regular expressions in CHECK constraints; pattern "
                f"{column.pattern!r} is not enforced by the database."
            )
    return checks, notes


def _checks(module: _Module, entity: CodeEntity, column: CodeColumn, notes: list[str]) -> list[str]:
    checks, check_notes = check_expressions(module.profile, column)
    notes += check_notes
    entries = []
    for suffix, expression in checks:
        module.use("sqlalchemy", "CheckConstraint")
        name = python_string(constraint_name(module.profile, entity.name, [column.name], suffix))
        sql = python_string(module.profile.compile(expression))
        entries.append(call_source("CheckConstraint", [sql, f"name={name}"], _ARGS_INDENT))
    return entries


def index_condition_sql(profile: DialectProfile, condition: str) -> str:
    """A partial index's condition in the dialect's SQL, identifiers quoted, as Custodian's DDL writes it."""
    return sqlglot.transpile(condition, read="postgres", write=profile.sqlglot, identify=True)[0]


def _index_source(module: _Module, index: CodeIndex, notes: list[str]) -> str | None:
    """Index(...) with its keys (DESC ones through column()) and the dialect's options, or None when the
    dialect cannot have it at all."""
    if not index.columns:
        notes.append(f"index {index.name} has no columns and is left out.")
        return None
    module.use("sqlalchemy", "Index")
    args = [python_string(index.name)]
    for name, order in index.columns:
        if order == "desc":
            # A bare string would be read as SQL text; column() finds the table's column, quoted as needed.
            module.use("sqlalchemy", "column")
            args.append(f"column({python_string(name)}).desc()")
        else:
            args.append(python_string(name))
    if index.is_unique:
        args.append("unique=True")
    options = _index_options(module, index, notes)
    if options is None:
        return None
    return call_source("Index", args + options, _ARGS_INDENT)


def _index_options(module: _Module, index: CodeIndex, notes: list[str]) -> list[str] | None:
    """INCLUDE, WHERE and USING as the dialect's keyword arguments, as Custodian's DDL has them."""
    profile, options = module.profile, []
    if index.include and profile.supports_index_include:
        options.append(f"{profile.sqla.name}_include=[{', '.join(map(python_string, index.include))}]")
    elif index.include:
        included = ", ".join(index.include)
        notes.append(
            f"index {index.name}: {profile.label} has no INCLUDE columns; {included} are not included."
        )
    if index.condition and profile.supports_partial_index:
        module.use("sqlalchemy", "text")
        options.append(
            f"{profile.sqla.name}_where=text({python_string(index_condition_sql(profile, index.condition))})"
        )
    elif index.condition and index.is_unique:
        notes.append(
            f"index {index.name}: {profile.label} has no partial indexes; a unique index WHERE "
            f"{index.condition} cannot be expressed and is left out."
        )
        return None
    elif index.condition:
        notes.append(
            f"index {index.name}: {profile.label} has no partial indexes; it covers all rows, not only "
            f"WHERE {index.condition}."
        )
    if index.method != "btree" and profile.supports_index_method:
        options.append(f"postgresql_using={python_string(index.method)}")
    elif index.method != "btree":
        notes.append(f"index {index.name}: {profile.label} has no {index.method} method; a default index.")
    return options


# --- Relationships ------------------------------------------------------------------------------------


def _ambiguous(fk: CodeForeignKey) -> bool:
    """Whether more than one foreign key joins the two tables (either way): SQLAlchemy must be told which."""
    pair = {fk.entity.name, fk.target_entity.name}
    joining = [
        other
        for other in [*fk.entity.foreign_keys, *fk.target_entity.foreign_keys]
        if {other.entity.name, other.target_entity.name} == pair
    ]
    return len({(other.entity.name, other.column.name) for other in joining}) > 1


def _relationship_lines(module: _Module, entity: CodeEntity) -> list[str]:
    names = module.names
    lines = []
    module_used = False
    for fk in entity.foreign_keys:
        key = (entity.name, fk.column.name)
        target_class = names.classes[fk.target_entity.name]
        args = [f"back_populates={python_string(names.reverse[key])}"]
        column_ref = f"{names.classes[entity.name]}.{names.attributes[entity.name][fk.column.name]}"
        if _ambiguous(fk):
            args.append(f"foreign_keys={python_string(f'[{column_ref}]')}")
        if fk.target_entity is entity:
            target_ref = f"{target_class}.{names.attributes[entity.name][fk.target_column.name]}"
            args.append(f"remote_side={python_string(f'[{target_ref}]')}")
        annotation = f"Mapped[{target_class} | None]" if fk.column.nullable else f"Mapped[{target_class}]"
        lines.append(call_source("relationship", args, "    ", f"{names.forward[key]}: {annotation} = "))
        module_used = True
    for fk in entity.referenced_by:
        key = (fk.entity.name, fk.column.name)
        source_class = names.classes[fk.entity.name]
        args = [f"back_populates={python_string(names.forward[key])}"]
        if _ambiguous(fk):
            column_ref = f"{source_class}.{names.attributes[fk.entity.name][fk.column.name]}"
            args.append(f"foreign_keys={python_string(f'[{column_ref}]')}")
        args += _PASSIVE_DELETES[fk.on_delete]
        one = fk.is_one_to_one
        annotation = f"Mapped[{source_class} | None]" if one else f"Mapped[list[{source_class}]]"
        lines.append(call_source("relationship", args, "    ", f"{names.reverse[key]}: {annotation} = "))
        module_used = True
    if module_used:
        module.use("sqlalchemy.orm", "relationship")
    return lines

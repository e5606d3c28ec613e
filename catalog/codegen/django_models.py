"""Django models from the catalog: one `models.py` whose migrations build the tables Custodian's own DDL
builds, as far as Django can say it.

Unique and check constraints and indexes carry the names Custodian's DDL gives them. Where Django has no field
for a catalog type (char(n), real, timestamp without time zone, numeric without precision) the file defines a
small field with that database type. What Django cannot say (ON DELETE in the database, json rather than
jsonb, an index condition that is not a simple comparison ...) is written into the file as a comment.
"""

import keyword
from dataclasses import dataclass, field, replace

import sqlglot
from django.db import models
from sqlglot import exp

from catalog.codegen.base import (
    CodeColumn,
    CodeEntity,
    CodeForeignKey,
    CodegenError,
    CodeIndex,
    CodeModel,
    GeneratedFile,
    audit_columns,
    generation_label,
    names_unique,
    pascal_case,
    snake_case,
)
from catalog.codegen.ddl import profile_of
from catalog.codegen.planner import relation_stem, reverse_names
from catalog.codegen.python_source import (
    SURROGATE_KEY,
    PythonModule,
    call_source,
    comment_lines,
    default_function_sql,
    docstring_lines,
    import_order,
    python_literal,
    python_string,
    surrogate_entities,
)
from catalog.schema.dialects import profile_for
from catalog.schema.metadata import constraint_name

__all__ = ["generate", "CUSTOM_FIELDS"]

INDEX_NAME_LIMIT = models.Index.max_name_length
_INDEX_NAME_PROFILE = replace(profile_for("postgresql"), max_identifier_bytes=INDEX_NAME_LIMIT)
# A field called like a Model attribute or method would replace it; names the class body uses would be
# shadowed. Escaped as <name>_field (Django forbids names ending in an underscore).
_FIELD_RESERVED = (
    frozenset(keyword.kwlist)
    | {name for name in dir(models.Model) if not name.startswith("_")}
    | {"objects", "id", "models", "datetime", "decimal", "uuid"}
)
# Model names may not end in an underscore either (models.E024).
_CLASS_RESERVED = frozenset(keyword.kwlist) | {
    "Now",
    "RandomUUID",
    "GinIndex",
    "GistIndex",
    "HashIndex",
    "BrinIndex",
}

# Fields for catalog types Django has none for: class name -> source, written once when used.
CUSTOM_FIELDS = {
    "FixedCharField": '''class FixedCharField(models.CharField):
    """char(n): Django's CharField is varchar(n)."""

    def db_type(self, connection):
        return f"char({self.max_length})"''',
    "RealField": '''class RealField(models.FloatField):
    """real (4 bytes): Django's FloatField is double precision."""

    def db_type(self, connection):
        return "real"''',
    "NumericField": '''class NumericField(models.Field):
    """numeric without precision or scale: Django's DecimalField needs both."""

    def db_type(self, connection):
        return "numeric"''',
    "TimestampField": '''class TimestampField(models.DateTimeField):
    """timestamp without time zone: Django's DateTimeField is timestamp with time zone on PostgreSQL."""

    def db_type(self, connection):
        return "timestamp" if connection.vendor == "postgresql" else super().db_type(connection)

    def get_prep_value(self, value):
        # Naive values stay naive: DateTimeField would make them aware in the current time zone.
        return self.to_python(models.Field.get_prep_value(self, value))''',
}
_CLASS_RESERVED |= set(CUSTOM_FIELDS)

_FIELD_CLASSES = {
    "uuid": "models.UUIDField",
    "varchar": "models.CharField",
    "char": "FixedCharField",
    "text": "models.TextField",
    "smallint": "models.SmallIntegerField",
    "integer": "models.IntegerField",
    "bigint": "models.BigIntegerField",
    "numeric": "models.DecimalField",
    "real": "RealField",
    "double": "models.FloatField",
    "boolean": "models.BooleanField",
    "date": "models.DateField",
    "time": "models.TimeField",
    "timestamp": "TimestampField",
    "timestamptz": "models.DateTimeField",
    "json": "models.JSONField",
    "jsonb": "models.JSONField",
    "bytea": "models.BinaryField",
}
_TYPE_NOTES = {"json": "json in the catalog: Django's JSONField is jsonb on PostgreSQL."}
# Catalog ON DELETE -> Django's on_delete (which Django 5.2 carries out in Python, not in the database).
_ON_DELETE = {
    "cascade": "models.CASCADE",
    "restrict": "models.PROTECT",
    "set_null": "models.SET_NULL",
    "set_default": "models.SET_DEFAULT",
    "no_action": "models.DO_NOTHING",
}
_INDEX_CLASSES = {"gin": "GinIndex", "gist": "GistIndex", "hash": "HashIndex", "brin": "BrinIndex"}
_COMPARISONS = {exp.EQ: "", exp.GT: "__gt", exp.GTE: "__gte", exp.LT: "__lt", exp.LTE: "__lte"}


# --- Naming -------------------------------------------------------------------------------------------


def _escape_field(name: str) -> str:
    return f"{name}_field" if name in _FIELD_RESERVED else name


def _class_name(name: str) -> str:
    converted = pascal_case(name)
    return f"{converted}Model" if converted in _CLASS_RESERVED else converted


@dataclass
class _Names:
    """Every Python name of the module, decided before any code is written."""

    classes: dict[str, str]  # entity -> model class
    fields: dict[str, dict[str, str]]  # entity -> {column -> field name}
    columns: dict[str, dict[str, str]]  # entity -> {column -> name in lookups (attname of a foreign key)}
    related: dict = field(default_factory=dict)  # (entity, column) -> related_name on the target


def _names(model: CodeModel, surrogates: set[str]) -> _Names:
    classes = names_unique([e.name for e in model.entities], _class_name, f"Data store '{model.datastore}'")
    names = _Names(classes, {}, {})
    for entity in model.entities:
        names.fields[entity.name], names.columns[entity.name] = _entity_fields(
            entity, entity.name in surrogates
        )
    taken = {
        e.name: set(names.fields[e.name].values()) | set(names.columns[e.name].values())
        for e in model.entities
    }
    forward = {
        (e.name, fk.column.name): names.fields[e.name][fk.column.name]
        for e in model.entities
        for fk in e.foreign_keys
    }
    names.related = reverse_names(model, forward, taken, _escape_field)
    return names


def _entity_fields(entity: CodeEntity, surrogate: bool) -> tuple[dict[str, str], dict[str, str]]:
    """({column: field name}, {column: name in lookups, the attname of a foreign key})."""
    columns = [c.name for c in [*entity.columns, *audit_columns(entity)]]
    if surrogate:
        columns.append(SURROGATE_KEY)
    # The sole primary key may be called id; any other id field would clash with Django's (models.E004).
    sole_id = [c.name for c in entity.primary_key] == ["id"]

    def field_name(name: str) -> str:
        return "id" if sole_id and name == "id" else _escape_field(snake_case(name))

    fields = names_unique(columns, field_name, f"Entity '{entity.name}'")
    lookups = dict(fields)
    for fk in entity.foreign_keys:
        taken = {name for column, name in lookups.items() if column != fk.column.name}
        taken |= {name for column, name in fields.items() if column != fk.column.name}
        fields[fk.column.name] = _foreign_key_field(fk, fields[fk.column.name], taken)
        lookups[fk.column.name] = f"{fields[fk.column.name]}_id"
    return fields, lookups


def _foreign_key_field(fk: CodeForeignKey, own: str, taken: set[str]) -> str:
    """customer_id, customer_key -> customer (attname customer_id, db_column the column's name); a column
    without an id or key suffix keeps its own name."""
    stem = relation_stem(fk.column.name)
    if stem:
        stem = _escape_field(snake_case(stem))
        if stem not in taken and f"{stem}_id" not in taken:
            return stem
    if f"{own}_id" in taken:
        raise CodegenError(
            f"Entity '{fk.entity.name}': the foreign key '{fk.column.name}' would be the field '{own}' with "
            f"the attribute '{own}_id', which another column already has; rename one of them."
        )
    return own


# --- The module ---------------------------------------------------------------------------------------


@dataclass
class _Module(PythonModule):
    names: _Names | None = None
    app_label: str = ""
    custom_fields: set[str] = field(default_factory=set)


def generate(model: CodeModel, options: dict) -> list[GeneratedFile]:
    """`models.py`: one Django model per entity; CodegenError when an entity has no primary key (unless
    `generate_keys`) or two names collide in Python. `app_label` sets Meta.app_label."""
    surrogates = surrogate_entities(
        model, options, need="and a Django model would silently get an id column the table does not have"
    )
    module = _Module(
        model,
        profile_of(model),
        surrogates,
        names=_names(model, surrogates),
        app_label=options.get("app_label") or "",
    )
    module.use("django.db", "models")
    classes = [_model_class(module, entity) for entity in model.entities]
    custom = [CUSTOM_FIELDS[name] for name in sorted(module.custom_fields)]
    return [GeneratedFile("models.py", "\n\n\n".join([_header(module), *custom, *classes]) + "\n")]


def _header(module: _Module) -> str:
    where = f' (schema "{module.schema}")' if module.schema else ""
    summary = (
        f"Django models of data store {module.model.datastore}{where}, generated by Custodian from its "
        "catalog.\n\nRegenerate them rather than editing: the catalog is the source of truth."
    )
    lines = [
        *docstring_lines(summary + "".join(f"\n{line}" for line in _module_notes(module)), ""),
        "",
        *[f"import {name}" for name in sorted(module.modules)],
        "",
    ]
    for source in sorted(module.imports):
        lines.append(f"from {source} import {', '.join(sorted(module.imports[source], key=import_order))}")
    return "\n".join(line for index, line in enumerate(lines) if line or lines[index - 1]).strip("\n")


def _module_notes(module: _Module) -> list[str]:
    if not any(entity.foreign_keys for entity in module.model.entities):
        return []
    return [
        "",
        "Django 5.2 carries out on_delete in Python: the foreign keys it creates have no ON DELETE clause",
        "(Custodian's DDL has them) and are DEFERRABLE INITIALLY DEFERRED.",
    ]


def _model_class(module: _Module, entity: CodeEntity) -> str:
    lines = [f"class {module.names.classes[entity.name]}(models.Model):"]
    if entity.description:
        lines += [*docstring_lines(entity.description, "    "), ""]
    if entity.has_audit_columns:
        lines += comment_lines(
            "updated_at and version are kept current by the database trigger custodian_touch_row, which "
            "Custodian's DDL creates and Django models cannot declare.",
            "    ",
        )
    key = entity.primary_key
    if len(key) > 1:
        attnames = [module.names.columns[entity.name][c.name] for c in key]
        lines.append(f"    pk = models.CompositePrimaryKey({', '.join(map(python_string, attnames))})")
    if entity.name in module.surrogates:
        lines += [
            "    # No primary key in the catalog: a surrogate key generated on request (generate_keys); the",
            "    # catalog's table has no such column.",
            f"    {SURROGATE_KEY} = models.BigAutoField(primary_key=True)",
        ]
    for column in [*entity.columns, *audit_columns(entity)]:
        lines += _field_lines(module, entity, column)
    lines += ["", *_meta_lines(module, entity)]
    return "\n".join(lines)


# --- Fields -------------------------------------------------------------------------------------------


def _type_arguments(module: _Module, column: CodeColumn) -> tuple[str, list[str], list[str]]:
    """(field class, its type arguments, notes) for the column's catalog type."""
    field_class = _FIELD_CLASSES[column.data_type]
    notes = [_TYPE_NOTES[column.data_type]] if column.data_type in _TYPE_NOTES else []
    args = []
    if column.data_type in ("varchar", "char"):
        args.append(f"max_length={column.length}")
    if column.data_type == "numeric":
        if column.precision is None:
            field_class = "NumericField"
        else:
            args += [f"max_digits={column.precision}", f"decimal_places={column.scale or 0}"]
    if not field_class.startswith("models."):
        module.custom_fields.add(field_class)
    return field_class, args, notes


def _db_default(module: _Module, column: CodeColumn) -> tuple[str | None, str | None]:
    """(source of db_default, or a note when Django cannot set it), as Custodian's DDL sets the default."""
    text, sql, note = default_function_sql(module, column)
    if not text or note:
        return None, note
    if sql is not None:
        if text.lower() in ("now()", "current_timestamp"):
            module.use("django.db.models.functions", "Now")
            return "Now()", None
        if sql.lower() == "gen_random_uuid()":
            module.use("django.contrib.postgres.functions", "RandomUUID")
            return "RandomUUID()", None
        output = _FIELD_CLASSES[column.data_type]
        output = output if output.startswith("models.") else "models.DateTimeField"
        return f"models.Func(template={python_string(sql.replace('%', '%%'))}, output_field={output}())", None
    source, needed = python_literal(column, column.default_value)
    module.modules.update(needed)
    return source, None


_AUTO_FIELDS = {
    "smallint": "models.SmallAutoField",
    "integer": "models.AutoField",
    "bigint": "models.BigAutoField",
}


def _generation_notes(module: _Module, entity: CodeEntity, column: CodeColumn) -> list[str]:
    """What Django's AutoField does not say of the catalog's key generation (Django 5.2 creates an
    AutoField as GENERATED BY DEFAULT AS IDENTITY on PostgreSQL, without sequence options)."""
    generation = column.generation
    if generation is None:
        return []
    if not (len(entity.primary_key) == 1 and entity.primary_key[0] is column):
        return [
            f"{generation_label(column)} in the database; Django generates only a primary key (AutoField), "
            "so leave this field for the database to fill."
        ]
    notes = []
    if not generation.is_identity and module.profile.serial_types:
        notes.append("a serial in Custodian's DDL; Django's migrations would create an identity instead.")
    if generation.is_always:
        notes.append("GENERATED ALWAYS in Custodian's DDL; Django's AutoField is GENERATED BY DEFAULT.")
    if generation.options:
        notes.append(f"{generation_label(column)}: the sequence options come from Custodian's DDL only.")
    return notes


def _field_lines(module: _Module, entity: CodeEntity, column: CodeColumn) -> list[str]:
    names = module.names
    field_name = names.fields[entity.name][column.name]
    fk = next((fk for fk in entity.foreign_keys if fk.column is column), None)
    lines, args = [], []
    if fk is not None:
        field_class, notes = _relation_arguments(module, fk, args)
        default_column = f"{field_name}_id"
    else:
        field_class, args, notes = _type_arguments(module, column)
        default_column = field_name
        if column.references_id:
            notes.append(
                "A foreign key to an entity outside this selection: the column is kept, not the key."
            )
    if len(entity.primary_key) == 1 and entity.primary_key[0] is column:
        args.append("primary_key=True")
        if column.generation is not None and fk is None:
            field_class = _AUTO_FIELDS[column.data_type]
    notes += _generation_notes(module, entity, column)
    if default_column != column.name:
        args.append(f"db_column={python_string(column.name)}")
    if column.nullable:
        args += ["null=True", "blank=True"]
    default, note = _db_default(module, column)
    if default:
        args.append(f"db_default={default}")
        if fk is not None and fk.on_delete == "set_default" and not column.default_is_function:
            args.append(f"default={default}")  # on_delete=SET_DEFAULT needs a Python default (fields.E321)
    notes += [note] if note else []
    if column.description and module.profile.supports_comments:
        args.append(f"db_comment={python_string(column.description)}")
    for text in notes:
        lines += comment_lines(f"{column.name}: {text}", "    ")
    if column.is_pii:
        lines += comment_lines(column.pii_label, "    ")
    lines.append(call_source(field_class, args, "    ", f"{field_name} = "))
    return lines


def _relation_arguments(module: _Module, fk: CodeForeignKey, args: list[str]) -> tuple[str, list[str]]:
    """ForeignKey (OneToOneField for a key that is the whole primary key) with its target and on_delete."""
    names = module.names
    notes = []
    key = fk.entity.primary_key
    field_class = "models.OneToOneField" if len(key) == 1 and key[0] is fk.column else "models.ForeignKey"
    on_delete = _ON_DELETE[fk.on_delete]
    if fk.on_delete == "set_default" and (not fk.column.default_value or fk.column.default_is_function):
        # Django's SET_DEFAULT needs a Python value (fields.E321); without a literal default the database
        # sets NULL, which SET_NULL says for a nullable column.
        on_delete = "models.SET_NULL" if fk.column.nullable else "models.DO_NOTHING"
        notes.append(f"ON DELETE SET DEFAULT without a literal default: {on_delete} here.")
    if fk.on_update_sql:
        notes.append(f"ON UPDATE {fk.on_update_sql} is applied by the database; Django has no on_update.")
    if fk.deferrable == "initially_immediate":
        notes.append("DEFERRABLE INITIALLY IMMEDIATE in the catalog; Django creates it INITIALLY DEFERRED.")
    args += [python_string(names.classes[fk.target_entity.name]), f"on_delete={on_delete}"]
    target_key = fk.target_entity.primary_key
    if not (len(target_key) == 1 and target_key[0] is fk.target_column):
        args.append(f"to_field={python_string(names.fields[fk.target_entity.name][fk.target_column.name])}")
    args.append(f"related_name={python_string(names.related[(fk.entity.name, fk.column.name)])}")
    if field_class == "models.ForeignKey":
        args.append("db_index=False")  # the catalog says which indexes exist
    if field_class == "models.ForeignKey" and fk.column.is_unique:
        notes.append(
            "one-to-one: a ForeignKey with the named UniqueConstraint below, since a OneToOneField would add "
            "a second, unnamed unique constraint."
        )
    if fk.column.data_type != fk.target_column.data_type:
        notes.append(
            f"{fk.column.data_type} in the catalog: Django gives a foreign key the type of its target "
            f"({fk.target_column.data_type})."
        )
    return field_class, notes


# --- Meta: table, constraints, indexes ----------------------------------------------------------------


def _meta_lines(module: _Module, entity: CodeEntity) -> list[str]:
    table = f'"{module.schema}"."{entity.name}"' if module.schema else entity.name
    lines = ["    class Meta:"]
    if module.app_label:
        lines.append(f"        app_label = {python_string(module.app_label)}")
    # Django quotes a name only when it is not quoted yet: the quoted pair puts the table in the schema.
    lines.append(f"        db_table = {python_string(table)}")
    if entity.description and module.profile.supports_comments:
        lines.append(f"        db_table_comment = {python_string(entity.description)}")
    notes: list[str] = []
    constraints = _unique_constraints(module, entity) + _check_constraints(module, entity, notes)
    indexes = []
    for index in entity.indexes:
        source = _index_source(module, entity, index, notes)
        if source and index.is_unique:
            constraints.append(source)
        elif source:
            indexes.append(source)
    for attribute, entries in (("constraints", constraints), ("indexes", indexes)):
        if entries:
            lines += [f"        {attribute} = [", *[f"{entry}," for entry in entries], "        ]"]
    return lines[:1] + [line for note in notes for line in comment_lines(note, "        ")] + lines[1:]


def _unique_constraints(module: _Module, entity: CodeEntity) -> list[str]:
    key = entity.primary_key
    entries = []
    for column in entity.columns:
        if column.is_unique and not (column.primary_key_position and len(key) == 1):
            name = constraint_name(module.profile, entity.name, [column.name], "uniq")
            field_name = python_string(module.names.fields[entity.name][column.name])
            entries.append(
                call_source(
                    "models.UniqueConstraint",
                    [f"fields=[{field_name}]", f"name={python_string(name)}"],
                    " " * 12,
                )
            )
    return entries


def _check_conditions(module: _Module, entity: CodeEntity, column: CodeColumn) -> list[tuple[str, str]]:
    """(suffix Custodian names the check by, condition source) for each rule on the column."""
    lookup = module.names.columns[entity.name][column.name]
    conditions = []
    for suffix, text, operator in (("min", column.min_value, "gte"), ("max", column.max_value, "lte")):
        if text:
            source, needed = python_literal(column, text)
            module.modules.update(needed)
            conditions.append((suffix, f"models.Q({lookup}__{operator}={source})"))
    if column.allowed_values:
        values = []
        for value in column.allowed_values:
            source, needed = python_literal(column, str(value))
            module.modules.update(needed)
            values.append(source)
        conditions.append(("in", f"models.Q({lookup}__in=[{', '.join(values)}])"))
    if column.min_length is not None:
        length = (
            f"models.Func({python_string(lookup)}, function={python_string(module.profile.length_function)}, "
            "output_field=models.IntegerField())"
        )
        conditions.append(("len", f"models.lookups.GreaterThanOrEqual({length}, {column.min_length})"))
    return conditions


def _check_constraints(module: _Module, entity: CodeEntity, notes: list[str]) -> list[str]:
    entries = []
    for column in entity.columns:
        conditions = _check_conditions(module, entity, column)
        if column.pattern:
            if module.profile.supports_regex_check:
                lookup = module.names.columns[entity.name][column.name]
                conditions.append(("re", f"models.Q({lookup}__regex={python_string(column.pattern)})"))
            else:
                notes.append(
                    f"{column.name}: {module.profile.label} has no regular expressions in CHECK constraints; "
                    f"pattern {column.pattern!r} is not enforced by the database."
                )
        for suffix, condition in conditions:
            name = constraint_name(module.profile, entity.name, [column.name], suffix)
            args = [f"condition={condition}", f"name={python_string(name)}"]
            entries.append(call_source("models.CheckConstraint", args, " " * 12))
    return entries


def _index_source(module: _Module, entity: CodeEntity, index: CodeIndex, notes: list[str]) -> str | None:
    """models.Index (or a PostgreSQL index class); for a unique index a UniqueConstraint over expressions,
    which Django creates as a unique index (not a constraint), as Custodian's DDL does."""
    profile = module.profile
    lookups = module.names.columns[entity.name]
    if not index.columns:
        notes.append(f"index {index.name} has no columns and is left out.")
        return None
    if index.is_unique:
        callee = "models.UniqueConstraint"
        args = [
            f"models.F({python_string(lookups[c])}){'.desc()' if o == 'desc' else ''}"
            for c, o in index.columns
        ]
    else:
        callee = _index_class(module, index, notes)
        fields = [("-" if order == "desc" else "") + lookups[c] for c, order in index.columns]
        args = [f"fields=[{', '.join(map(python_string, fields))}]"]
    args.append(f"name={python_string(_index_name(index, notes))}")
    if index.include and profile.supports_index_include:
        args.append(f"include=[{', '.join(python_string(lookups[c]) for c in index.include)}]")
    elif index.include:
        notes.append(
            f"index {index.name}: {profile.label} has no INCLUDE columns; "
            f"{', '.join(index.include)} are not included."
        )
    if index.condition:
        condition = (
            _condition_source(index.condition, entity, lookups) if profile.supports_partial_index else None
        )
        if condition:
            args.append(f"condition={condition}")
        else:
            notes.append(
                f"index {index.name}: the condition WHERE {index.condition} is not a comparison Django's Q "
                f"can say on {profile.label}; "
                + ("this unique index is left out." if index.is_unique else "it covers all rows.")
            )
            if index.is_unique:
                return None
    return call_source(callee, args, " " * 12)


def _index_class(module: _Module, index: CodeIndex, notes: list[str]) -> str:
    if index.method == "btree":
        return "models.Index"
    if not module.profile.supports_index_method:
        notes.append(
            f"index {index.name}: {module.profile.label} has no {index.method} method; a default index."
        )
        return "models.Index"
    module.use("django.contrib.postgres.indexes", _INDEX_CLASSES[index.method])
    return _INDEX_CLASSES[index.method]


def _index_name(index: CodeIndex, notes: list[str]) -> str:
    """The catalog's name, or one Django accepts: at most 30 characters, not starting with _ or a digit."""
    if index.is_unique or (len(index.name) <= INDEX_NAME_LIMIT and index.name[0].isalpha()):
        return index.name
    name = constraint_name(_INDEX_NAME_PROFILE, "ix", [index.name], "idx")
    notes.append(
        f"index {index.name} is named {name} here: Django wants index names of at most {INDEX_NAME_LIMIT} "
        "characters that start with a letter (models.E033, E034)."
    )
    return name


# --- Index conditions as Q ----------------------------------------------------------------------------


def _condition_source(condition: str, entity: CodeEntity, lookups: dict[str, str]) -> str | None:
    """The condition as models.Q(...) when it is comparisons of columns with literals joined by AND, OR, NOT;
    None for anything else (said as a comment by the caller)."""
    try:
        tree = sqlglot.parse_one(condition, read="postgres")
    except sqlglot.errors.ParseError:
        return None
    nullable = {c.name: c.nullable for c in entity.columns}
    return _q(tree, lookups, nullable)


def _q(node, lookups: dict[str, str], nullable: dict[str, bool]) -> str | None:
    if isinstance(node, exp.Paren):
        return _q(node.this, lookups, nullable)
    if isinstance(node, (exp.And, exp.Or)):
        left, right = _q(node.this, lookups, nullable), _q(node.expression, lookups, nullable)
        if left is None or right is None:
            return None
        return f"({left}) {'&' if isinstance(node, exp.And) else '|'} ({right})"
    if isinstance(node, exp.Not):
        inner = _q(node.this, lookups, nullable)
        return f"~({inner})" if inner else None
    column = node.this if isinstance(node, (exp.Binary, exp.In)) else None
    if not isinstance(column, exp.Column) or column.table or column.name not in lookups:
        return None
    lookup = lookups[column.name]
    if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
        return f"models.Q({lookup}__isnull={not node.args.get('negate')})"
    if isinstance(node, exp.In) and not node.args.get("query"):
        values = [_literal(v) for v in node.expressions]
        return None if None in values else f"models.Q({lookup}__in=[{', '.join(values)}])"
    value = _literal(node.expression) if isinstance(node, exp.Binary) else None
    if value is None:
        return None
    if isinstance(node, exp.NEQ):
        # ~Q(x=v) is NOT (x = v AND x IS NOT NULL) on a nullable column: the same only when x is NOT NULL.
        return None if nullable.get(column.name, True) else f"~models.Q({lookup}={value})"
    suffix = _COMPARISONS.get(type(node))
    return None if suffix is None else f"models.Q({lookup}{suffix}={value})"


def _literal(node) -> str | None:
    if isinstance(node, exp.Boolean):
        return repr(bool(node.this))
    if isinstance(node, exp.Literal):
        return python_string(node.this) if node.is_string else node.this
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        return f"-{node.this.this}"
    return None

"""MongoDB: a `$jsonSchema` validator per entity and a mongosh script creating the collections and indexes.

For teams that keep an entity in a document store: `<collection>.validator.json` is the validator document
(`{"$jsonSchema": ...}`), `create_collections.js` creates each collection with it (or replaces the validator
of an existing one) and creates the catalog's keys and indexes. Collection and field names are the catalog's
entity and column names: MongoDB accepts them as they are, so the mapping is the identity.

Decisions:
- `required` lists every NOT NULL column, defaults included: MongoDB applies no defaults, so a document
  without the field would break the NOT NULL the catalog promises; the default is said in the description
  for the application to set. A nullable column also accepts null (its bsonType and enum include it).
- MongoDB adds `_id` to every document. It is listed in `properties` without a type (so
  `additionalProperties: false` admits it) and is never required; a catalog primary key stays a field with a
  unique index. An entity without a primary key is fine here: `_id` identifies its documents.
- Types: text, char and varchar are strings (with maxLength); smallint and integer are `int` (smallint with
  its range); bigint is `int` or `long` (drivers store small integers as int32); numeric is `decimal` with the
  range its precision allows; real and double are `double`; date and timestamps are `date`; json is an
  object or array; bytea is `binData`. uuid and time have no BSON type that $jsonSchema can check, so they are
  strings with a pattern (canonical UUID text, HH:MM[:SS[.ffffff]]).
- Ranges (`minimum`/`maximum`) apply to numbers only; a date or time bound, or an enum of dates, cannot be
  said in $jsonSchema. Foreign keys do not exist in MongoDB. What cannot be expressed is written in the
  field's or the collection's `description` (JSON has no comments) and as a comment in the script, never
  dropped.
- Files are MongoDB Extended JSON: a bound that is not a whole number is `{"$numberDecimal": "..."}`, so the
  script reads each validator through `EJSON.deserialize`.
- A unique key over a nullable column only indexes documents where the column is set (partial index), as SQL
  lets any number of rows hold NULL in a unique column.

Options: `additional_properties` (default False: a document may hold only the catalog's fields and `_id`).
"""

import decimal
import json

import sqlglot
from sqlglot import exp

from catalog.codegen.base import (
    CodeColumn,
    CodeEntity,
    CodegenError,
    CodeIndex,
    CodeModel,
    GeneratedFile,
    audit_columns,
    generation_label,
    names_unique,
)
from catalog.codegen.ddl import profile_of
from catalog.literals import parse_literal
from catalog.schema.dialects import DialectProfile
from catalog.schema.metadata import constraint_name

__all__ = ["generate", "BSON_TYPES"]

BSON_TYPES = {
    "uuid": ["string"],
    "varchar": ["string"],
    "char": ["string"],
    "text": ["string"],
    "smallint": ["int"],
    "integer": ["int"],
    "bigint": ["int", "long"],
    "numeric": ["decimal"],
    "real": ["double"],
    "double": ["double"],
    "boolean": ["bool"],
    "date": ["date"],
    "time": ["string"],
    "timestamp": ["date"],
    "timestamptz": ["date"],
    "json": ["object", "array"],
    "jsonb": ["object", "array"],
    "bytea": ["binData"],
}
NUMERIC_TYPES = {"smallint", "integer", "bigint", "numeric", "real", "double"}
STRING_TYPES = {"varchar", "char", "text"}
TYPE_PATTERNS = {
    "uuid": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
    "time": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$",
}
TYPE_NOTES = {
    "uuid": "uuid is stored as its canonical 36-character text: $jsonSchema cannot check a binary UUID.",
    "time": "time is stored as text HH:MM[:SS[.ffffff]]: BSON has no time-of-day type.",
    "date": "date is stored as a BSON date at midnight UTC: BSON has no date-only type.",
    "timestamp": "timestamp without time zone is stored as a BSON date, which is a UTC instant: store UTC.",
    "real": "real (single precision) is stored as a double.",
    "json": "any JSON object or array; a bare JSON scalar is not accepted.",
    "jsonb": "any JSON object or array; a bare JSON scalar is not accepted.",
}
SMALLINT_RANGE = (-32768, 32767)
# $type aliases for a partial index that skips documents where a column is null or missing.
TYPE_ALIASES = {"int": "number", "long": "number", "decimal": "number", "double": "number", "array": "object"}
ON_DELETE_LABELS = {
    "no_action": "NO ACTION",
    "restrict": "RESTRICT",
    "cascade": "CASCADE",
    "set_null": "SET NULL",
    "set_default": "SET DEFAULT",
}
_COMPARISONS = {exp.EQ: None, exp.GT: "$gt", exp.GTE: "$gte", exp.LT: "$lt", exp.LTE: "$lte"}
_FLIPPED = {None: None, "$gt": "$lt", "$gte": "$lte", "$lt": "$gt", "$lte": "$gte"}


class _NotTranslatable(Exception):
    """An index condition that MongoDB's partial filter expressions cannot say."""


def generate(model: CodeModel, options: dict) -> list[GeneratedFile]:
    """`<collection>.validator.json` per entity and `create_collections.js`; CodegenError for bad input."""
    profile = profile_of(model)
    # Collection names stay as they are; two that differ only in case would share a file on many disks.
    names_unique(
        [e.name for e in model.entities],
        str.lower,
        f"Data store '{model.datastore}' (validator files are named without regard to case)",
    )
    strict = not options.get("additional_properties", False)
    collections = [_Collection(entity, profile, strict) for entity in model.entities]
    files = [GeneratedFile(f"{c.entity.name}.validator.json", _json(c.validator) + "\n") for c in collections]
    files.append(GeneratedFile("create_collections.js", _script(model, collections)))
    return files


def _json(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _extended(value):
    """A number as Extended JSON: exact integers stay numbers, other decimals become $numberDecimal."""
    if isinstance(value, decimal.Decimal):
        if value == value.to_integral_value() and abs(value) < 2**53:
            return int(value)
        return {"$numberDecimal": str(value)}
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**53:
        return {"$numberDecimal": str(value)}
    return value


def _on_delete(fk_on_delete: str) -> str:
    return ON_DELETE_LABELS.get(fk_on_delete, fk_on_delete.upper())


def _rules(fk) -> str:
    """ON DELETE X, with ON UPDATE and DEFERRABLE when the catalog says them."""
    return ", ".join([f"ON DELETE {_on_delete(fk.on_delete)}", *fk.database_rules()])


class _Collection:
    """One entity as a collection: its validator, its indexes, and the notes on what MongoDB cannot say."""

    def __init__(self, entity: CodeEntity, profile: DialectProfile, strict: bool):
        self.entity, self.profile = entity, profile
        self.columns = [*entity.columns, *audit_columns(entity)]
        self._check_names()
        # What MongoDB cannot say, for the descriptions and the script's comments.
        self.notes: list[str] = self._collection_notes()
        self.column_notes: dict[str, list[str]] = {c.name: [] for c in self.columns}
        self.indexes = self._indexes()
        self.validator = {"$jsonSchema": self._schema(strict)}

    def _check_names(self) -> None:
        for column in self.columns:
            if column.name.startswith("$") or "." in column.name or "\0" in column.name:
                raise CodegenError(
                    f"Column '{self.entity.name}.{column.name}' cannot be a MongoDB field: a field name may "
                    "not start with '$' or contain '.' (it would read as an operator or a path); rename it."
                )
            if column.data_type not in BSON_TYPES:
                raise CodegenError(
                    f"Column '{self.entity.name}.{column.name}' has type '{column.data_type}', which has no "
                    "BSON equivalent here; change its type or leave the entity out."
                )

    def column_by_name(self, name: str) -> CodeColumn:
        return next(c for c in self.columns if c.name == name)

    # --- The validator -------------------------------------------------------------------------------------

    def _schema(self, strict: bool) -> dict:
        entity = self.entity
        properties = {}
        if not any(c.name == "_id" for c in self.columns):
            properties["_id"] = {"description": "Added by MongoDB to every document; not a catalog column."}
        for column in self.columns:
            properties[column.name] = self._property(column)
        schema = {"bsonType": "object", "title": entity.name}
        description = _sentences([entity.description, *self.notes])
        if description:
            schema["description"] = description
        required = [c.name for c in self.columns if not c.nullable]
        if required:  # $jsonSchema refuses an empty list
            schema["required"] = required
        schema["properties"] = properties
        schema["additionalProperties"] = not strict
        return schema

    def _collection_notes(self) -> list[str]:
        entity, notes = self.entity, []
        key = entity.primary_key
        if key:
            names = ", ".join(c.name for c in key)
            notes.append(f"Primary key ({names}) is a unique index; MongoDB's own _id is separate.")
        else:
            notes.append("No primary key in the catalog: documents are identified by MongoDB's _id only.")
        for fk in entity.referenced_by:
            notes.append(
                f"Referenced by {fk.entity.name}.{fk.column.name} ({_rules(fk)}); "
                "MongoDB has no foreign keys: the application applies the delete rule."
            )
        if entity.has_audit_columns:
            notes.append(
                "created_at, updated_at, created_by, updated_by and version are Custodian's audit columns; "
                "MongoDB has no triggers: the application keeps updated_at and version current."
            )
        return notes

    def _property(self, column: CodeColumn) -> dict:
        types = BSON_TYPES[column.data_type] + (["null"] if column.nullable else [])
        rules: dict = {"bsonType": types[0] if len(types) == 1 else types}
        notes = self.column_notes[column.name]
        if column.data_type in TYPE_NOTES:
            notes.append(TYPE_NOTES[column.data_type])
        self._enum(column, rules, notes)
        self._strings(column, rules, notes)
        self._range(column, rules, notes)
        self._default_and_reference(column, notes)
        if column.generation is not None:
            notes.append(
                f"Key generation ({generation_label(column)}) does not apply to MongoDB: the application "
                "gives the value"
            )
        text = _sentences([column.description, column.pii_label if column.is_pii else "", *notes])
        return {"bsonType": rules.pop("bsonType"), **({"description": text} if text else {}), **rules}

    def _enum(self, column: CodeColumn, rules: dict, notes: list[str]) -> None:
        if not column.allowed_values:
            return
        if column.data_type in ("date", "timestamp", "timestamptz", "json", "jsonb", "bytea"):
            notes.append(
                f"Cannot be expressed in $jsonSchema: allowed values {column.allowed_values} "
                f"(an enum of {column.data_type} values); the application must check them."
            )
            return
        values = [_enum_value(column.data_type, str(v)) for v in column.allowed_values]
        rules["enum"] = values + ([None] if column.nullable else [])

    def _strings(self, column: CodeColumn, rules: dict, notes: list[str]) -> None:
        patterns = [p for p in (TYPE_PATTERNS.get(column.data_type), column.pattern) if p]
        if patterns:
            rules["pattern"] = patterns[0]
        if len(patterns) > 1:  # one pattern per schema: the catalog's is added as a second condition
            rules["allOf"] = [{"pattern": p} for p in patterns[1:]]
        if column.min_length is not None:
            rules["minLength"] = column.min_length
        if column.data_type in ("varchar", "char") and column.length:
            rules["maxLength"] = column.length
        if column.data_type == "char" and column.length:
            notes.append(
                f"char({column.length}) is blank-padded in SQL; here up to {column.length} characters."
            )

    def _range(self, column: CodeColumn, rules: dict, notes: list[str]) -> None:
        if column.data_type not in NUMERIC_TYPES:
            bounds = [
                f"{keyword} {value}"
                for keyword, value in (("minimum", column.min_value), ("maximum", column.max_value))
                if value
            ]
            if bounds:
                notes.append(
                    f"Cannot be expressed in $jsonSchema: {' and '.join(bounds)} (minimum and maximum apply "
                    f"to numbers only, not {column.data_type}); the application must check it."
                )
            return
        low, high = _type_range(column)
        _bound(rules, "minimum", column.min_value, column.data_type, low)
        _bound(rules, "maximum", column.max_value, column.data_type, high)
        if column.data_type == "numeric" and column.scale:
            notes.append(
                f"At most {column.scale} decimal places (numeric scale) is not checked by $jsonSchema."
            )

    def _default_and_reference(self, column: CodeColumn, notes: list[str]) -> None:
        if column.default_value.strip():
            notes.append(
                f"Default in the catalog: {column.default_value}; MongoDB applies no defaults, the "
                "application sets it."
            )
        related = {fk.column.name: fk for fk in self.entity.foreign_keys}
        if column.name in related:
            fk = related[column.name]
            notes.append(
                f"References {fk.target_entity.name}.{fk.target_column.name} ({_rules(fk)}); "
                "MongoDB has no foreign keys: the application keeps it."
            )
        elif column.references_id:
            notes.append(
                "References a column of an entity not generated here; MongoDB has no foreign keys: the "
                "application keeps it."
            )

    # --- Indexes -------------------------------------------------------------------------------------------

    def _indexes(self) -> list[tuple[dict, dict]]:
        """(keys, options) for createIndex: the primary key, unique columns, then the catalog's indexes."""
        entity, profile = self.entity, self.profile
        result = []
        key = entity.primary_key
        if key:
            name = constraint_name(profile, entity.name, [c.name for c in key], "pk")
            result.append(({c.name: 1 for c in key}, {"name": name, "unique": True}))
        for column in entity.columns:
            if column.is_unique and not (len(key) == 1 and key[0].name == column.name):
                options = {
                    "name": constraint_name(profile, entity.name, [column.name], "uniq"),
                    "unique": True,
                }
                options.update(self._partial([], [column] if column.nullable else []))
                result.append(({column.name: 1}, options))
        for index in entity.indexes:
            translated = self._index(index)
            if translated:
                result.append(translated)
        return result

    def _index(self, index: CodeIndex) -> tuple[dict, dict] | None:
        if not index.columns:
            self.notes.append(f"Index {index.name} has no columns and is left out.")
            return None
        options = {"name": index.name}
        conditions = []
        if index.condition:
            try:
                conditions = _filter_conditions(index.condition, self)
            except _NotTranslatable:
                if index.is_unique:
                    self.notes.append(
                        f"Index {index.name}: a unique index WHERE {index.condition} cannot be expressed as "
                        "a MongoDB partial filter and is left out; the application must keep it unique."
                    )
                    return None
                self.notes.append(
                    f"Index {index.name}: WHERE {index.condition} cannot be expressed as a MongoDB partial "
                    "filter; the index covers every document."
                )
        if index.is_unique:
            options["unique"] = True
            nullable = [self.column_by_name(name) for name, _order in index.columns]
            options.update(self._partial(conditions, [c for c in nullable if c.nullable]))
        elif conditions:
            options.update(self._partial(conditions, []))
        if index.include:
            self.notes.append(
                f"Index {index.name}: MongoDB has no INCLUDE columns; not included: "
                f"{', '.join(index.include)}."
            )
        if index.method != "btree":
            self.notes.append(
                f"Index {index.name}: MongoDB has no {index.method} index; a regular one is created."
            )
        return ({name: -1 if order == "desc" else 1 for name, order in index.columns}, options)

    def _partial(self, conditions: list[dict], nullable: list[CodeColumn]) -> dict:
        conditions = conditions + [{c.name: {"$type": _type_alias(c)}} for c in nullable]
        if not conditions:
            return {}
        return {"partialFilterExpression": conditions[0] if len(conditions) == 1 else {"$and": conditions}}


def _sentences(parts: list[str]) -> str:
    """Non-empty parts as one text, each ended by a full stop when it has no closing punctuation."""
    parts = [part.strip() for part in parts if part.strip()]
    return " ".join(part if part[-1] in ".!?" else f"{part}." for part in parts)


def _bound(rules: dict, keyword: str, catalog_value: str, data_type: str, type_bound) -> None:
    """minimum or maximum: the catalog's (inclusive) bound, else the one the type allows."""
    if catalog_value:
        rules[keyword] = _extended(parse_literal(data_type, catalog_value))
    elif type_bound is not None:
        rules[keyword], exclusive = type_bound
        if exclusive:  # draft 4, as $jsonSchema has it: exclusiveMaximum is a flag on maximum
            rules[f"exclusive{keyword.capitalize()}"] = True


def _type_alias(column: CodeColumn) -> str:
    first = BSON_TYPES[column.data_type][0]
    return TYPE_ALIASES.get(first, first)


def _type_range(column: CodeColumn):
    """((low, exclusive), (high, exclusive)) the type allows, or (None, None): smallint, numeric(p,s)."""
    if column.data_type == "smallint":
        return (SMALLINT_RANGE[0], False), (SMALLINT_RANGE[1], False)
    if column.data_type == "numeric" and column.precision:
        limit = _extended(decimal.Decimal(10) ** (column.precision - (column.scale or 0)))
        negative = {"$numberDecimal": f"-{limit['$numberDecimal']}"} if isinstance(limit, dict) else -limit
        return (negative, True), (limit, True)
    return None, None


def _enum_value(data_type: str, text: str):
    value = parse_literal(data_type, text)
    if data_type in ("uuid", "time"):
        return str(value) if data_type == "uuid" else value.isoformat()
    return _extended(value)


def _filter_conditions(condition: str, collection: _Collection) -> list[dict]:
    """The index condition as partial-filter conjuncts; _NotTranslatable for anything else."""
    try:
        tree = sqlglot.parse_one(condition, read="postgres")
    except sqlglot.errors.SqlglotError:
        raise _NotTranslatable(condition) from None
    while isinstance(tree, exp.Paren):
        tree = tree.this
    nodes = list(tree.flatten()) if isinstance(tree, exp.And) else [tree]
    return [_conjunct(node, collection) for node in nodes]


def _conjunct(node: exp.Expression, collection: _Collection) -> dict:
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Is) and node.args.get("negate") and isinstance(node.expression, exp.Null):
        column = _filter_column(node.this, collection)
        return {column.name: {"$type": _type_alias(column)}}  # IS NOT NULL: set, and not null
    if type(node) not in _COMPARISONS:
        raise _NotTranslatable(node.sql())
    operator, left, right = _COMPARISONS[type(node)], node.this, node.expression
    if not isinstance(left, exp.Column):
        operator, left, right = _FLIPPED[operator], right, left
    column = _filter_column(left, collection)
    value = _filter_value(right, column)
    return {column.name: value if operator is None else {operator: value}}


def _filter_column(node: exp.Expression, collection: _Collection) -> CodeColumn:
    if not isinstance(node, exp.Column) or node.table:
        raise _NotTranslatable(node.sql())
    try:
        return collection.column_by_name(node.name)
    except StopIteration:
        raise _NotTranslatable(node.sql()) from None


def _filter_value(node: exp.Expression, column: CodeColumn):
    negative = isinstance(node, exp.Neg)
    node = node.this if negative else node
    if isinstance(node, exp.Boolean) and column.data_type == "boolean" and not negative:
        return bool(node.this)
    if isinstance(node, exp.Literal) and node.is_string and column.data_type in STRING_TYPES and not negative:
        return node.this
    if isinstance(node, exp.Literal) and not node.is_string and column.data_type in NUMERIC_TYPES:
        try:
            value = parse_literal(column.data_type, ("-" if negative else "") + node.this)
        except ValueError:
            raise _NotTranslatable(node.sql()) from None
        return _extended(value)
    raise _NotTranslatable(node.sql())


# --- The mongosh script -----------------------------------------------------------------------------------

_SCRIPT_PREAMBLE = """\
// Run it against the target database: mongosh "mongodb://HOST:PORT/DATABASE" create_collections.js
// Each collection gets its $jsonSchema validator (an existing collection's validator is replaced through
// collMod) and the catalog's keys and indexes (createIndex does nothing when the same index exists).
// MongoDB adds _id to every document; a catalog primary key is kept as fields with a unique index.
// MongoDB has no foreign keys: references are listed as comments, and the application keeps them.

function ensureCollection(name, validator) {
  const options = { validator: validator, validationLevel: "strict", validationAction: "error" };
  if (db.getCollectionNames().includes(name)) {
    db.runCommand({ collMod: name, ...options });
  } else {
    db.createCollection(name, options);
  }
}
"""


def _comment_lines(text: str) -> list[str]:
    return [f"// {line}".rstrip() for line in text.splitlines()] or ["//"]


def _script(model: CodeModel, collections: list[_Collection]) -> str:
    where = f" (schema {model.schema})" if model.schema else ""
    lines = [
        f"// Generated by Custodian from the catalog of data store '{model.datastore}'{where}.",
        "// Regenerate it rather than editing it.",
        _SCRIPT_PREAMBLE,
    ]
    for collection in collections:
        lines += _collection_script(collection)
    return "\n".join(lines)


def _collection_script(collection: _Collection) -> list[str]:
    entity = collection.entity
    title = f"--- {entity.name}" + (f": {entity.description.strip()}" if entity.description.strip() else "")
    lines = _comment_lines(title)
    for note in collection.notes:
        lines += _comment_lines(note)
    for column in collection.columns:
        for note in collection.column_notes[column.name]:
            lines += _comment_lines(f"{entity.name}.{column.name}: {note}")
    name = json.dumps(entity.name, ensure_ascii=False)
    lines.append(f"ensureCollection({name}, EJSON.deserialize({_json(collection.validator)}));")
    for keys, options in collection.indexes:
        keys_json, options_json = (
            json.dumps(keys, ensure_ascii=False),
            json.dumps(options, ensure_ascii=False),
        )
        lines.append(f"db.getCollection({name}).createIndex({keys_json}, EJSON.deserialize({options_json}));")
    lines.append("")
    return lines

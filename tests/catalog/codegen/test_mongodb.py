"""MongoDB: a $jsonSchema validator per entity and a mongosh script with the collections, keys and indexes.

There is no MongoDB server here, so these tests parse every validator as JSON and check each column's rules
against the catalog (type, required, enum, pattern, lengths, ranges, PII and reference notes), and read the
script's structure: one ensureCollection per entity carrying exactly the validator file, one createIndex per
key, unique column and index.
"""

import copy
import decimal
import json
import re

import pytest

from catalog.codegen import mongodb
from catalog.codegen.base import CodegenError, code_model_build
from catalog.literals import parse_literal
from catalog.schema.dialects import PROFILES
from catalog.schema.metadata import constraint_name

BSON = {
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
NUMBERS = {"smallint", "integer", "bigint", "numeric", "real", "double"}
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
ON_DELETE = {"cascade": "CASCADE", "restrict": "RESTRICT", "set_null": "SET NULL", "no_action": "NO ACTION"}


class Output:
    """The validator files parsed as JSON, and the script's collections and indexes."""

    def __init__(self, files):
        self.files = {f.path: f.content for f in files}
        self.script = self.files["create_collections.js"]
        self.validators = {
            path.removesuffix(".validator.json"): json.loads(text)
            for path, text in self.files.items()
            if path.endswith(".validator.json")
        }
        self.created = {
            json.loads(name): json.loads(validator)
            for name, validator in re.findall(
                r'^ensureCollection\((".*?"), EJSON\.deserialize\((\{.*?\})\)\);$', self.script, re.S | re.M
            )
        }
        self.indexes = [
            (json.loads(collection), json.loads(keys), json.loads(options))
            for collection, keys, options in re.findall(
                r"^db\.getCollection\((\".*?\")\)\.createIndex\((\{.*?\}), "
                r"EJSON\.deserialize\((\{.*\})\)\);$",
                self.script,
                re.M,
            )
        ]

    def schema(self, collection: str) -> dict:
        return self.validators[collection]["$jsonSchema"]

    def index(self, name: str) -> tuple[str, dict, dict]:
        (found,) = [index for index in self.indexes if index[2]["name"] == name]
        return found


def _generate(snapshot, **options) -> Output:
    return Output(mongodb.generate(code_model_build(snapshot), options))


def _entity(snapshot, name) -> dict:
    return next(e for e in snapshot["entities"].values() if e["name"] == name)


def _column(snapshot, entity_name, name) -> dict:
    return next(c for c in _entity(snapshot, entity_name)["columns"].values() if c["name"] == name)


def _number(value):
    """A validator bound as a Decimal: JSON numbers and Extended JSON decimals alike."""
    return decimal.Decimal(value["$numberDecimal"] if isinstance(value, dict) else str(value))


@pytest.fixture(params=["demo_snapshot", "introspected_snapshot"])
def snapshot(request):
    return request.getfixturevalue(request.param)


# --- Validators, column by column ---------------------------------------------------------------------------


def test_every_column_has_its_rules_in_the_validator(snapshot):
    model = code_model_build(snapshot)
    output = _generate(snapshot)
    assert set(output.validators) == {e.name for e in model.entities}
    for entity in model.entities:
        schema = output.schema(entity.name)
        assert (schema["bsonType"], schema["title"], schema["additionalProperties"]) == (
            "object",
            entity.name,
            False,
        )
        assert list(schema["properties"]) == ["_id", *(c.name for c in entity.columns)]
        assert schema["required"] == [c.name for c in entity.columns if not c.nullable]
        for column in entity.columns:
            _assert_column_rules(column, schema["properties"][column.name], entity.foreign_keys)


def _assert_column_rules(column, rules, foreign_keys):
    where = f"{column.name}: {rules}"
    types = BSON[column.data_type] + (["null"] if column.nullable else [])
    assert rules["bsonType"] == (types[0] if len(types) == 1 else types), where
    description = rules.get("description", "")
    if column.allowed_values:
        expected = [parse_literal(column.data_type, str(v)) for v in column.allowed_values]
        assert rules["enum"] == expected + ([None] if column.nullable else []), where
    else:
        assert "enum" not in rules, where
    expected_pattern = column.pattern or (UUID_PATTERN if column.data_type == "uuid" else None)
    assert rules.get("pattern") == expected_pattern, where
    assert rules.get("maxLength") == (column.length if column.data_type in ("varchar", "char") else None), (
        where
    )
    assert rules.get("minLength") == column.min_length, where
    if column.data_type in NUMBERS:
        if column.min_value:
            assert _number(rules["minimum"]) == parse_literal(column.data_type, column.min_value), where
            assert "exclusiveMinimum" not in rules
        if column.max_value:
            assert _number(rules["maximum"]) == parse_literal(column.data_type, column.max_value), where
            assert "exclusiveMaximum" not in rules
        if column.data_type == "numeric" and column.precision and not column.max_value:
            assert _number(rules["maximum"]) == 10 ** (column.precision - column.scale), where
            assert rules["exclusiveMaximum"] is True, where
        if column.data_type == "smallint":
            assert _number(rules["minimum"]) >= -32768 and _number(rules["maximum"]) <= 32767, where
    else:
        assert "minimum" not in rules and "maximum" not in rules, where
        if column.min_value or column.max_value:
            assert "Cannot be expressed in $jsonSchema: minimum" in description, where
    assert (column.pii_label in description) is column.is_pii, where
    for fk in foreign_keys:
        if fk.column is column:
            target = f"{fk.target_entity.name}.{fk.target_column.name}"
            rules = f"ON DELETE {ON_DELETE[fk.on_delete]}"
            rules += f", ON UPDATE {ON_DELETE[fk.on_update]}" if fk.on_update != "no_action" else ""
            rules += f", {fk.deferrable_sql}" if fk.is_deferrable else ""
            assert f"References {target} ({rules})" in description, where
    if column.description:
        assert description.startswith(column.description), where


def test_id_is_admitted_but_never_required_and_extra_fields_follow_the_option(introspected_snapshot):
    strict, loose = (
        _generate(introspected_snapshot),
        _generate(introspected_snapshot, additional_properties=True),
    )
    for collection in ("assignment", "department", "employee"):
        schema = strict.schema(collection)
        assert "bsonType" not in schema["properties"]["_id"] and "_id" not in schema["required"]
        assert schema["additionalProperties"] is False
        assert loose.schema(collection)["additionalProperties"] is True


def test_descriptions_carry_pii_references_both_ways_and_defaults(demo_snapshot, introspected_snapshot):
    shop, hr = _generate(demo_snapshot), _generate(introspected_snapshot)
    email = shop.schema("users")["properties"]["email"]
    assert email["description"] == "PII: direct_identifier; masking: hash."
    customers = shop.schema("customers")
    assert customers["description"].startswith(
        "People and companies who order. Primary key (id) is a unique index"
    )
    assert "Referenced by orders.customer_id (ON DELETE RESTRICT)" in customers["description"]
    assert "Referenced by addresses.customer_id (ON DELETE CASCADE)" in customers["description"]
    assert (
        "Default in the catalog: retail; MongoDB applies no defaults"
        in customers["properties"]["segment"]["description"]
    )
    department = hr.schema("department")
    assert (
        "References department.id (ON DELETE SET NULL, ON UPDATE SET NULL, DEFERRABLE INITIALLY IMMEDIATE)"
        in department["properties"]["parent_id"]["description"]
    )
    assert (
        "Referenced by department.parent_id (ON DELETE SET NULL, ON UPDATE SET NULL, DEFERRABLE INITIALLY "
        "IMMEDIATE)" in department["description"]
    )
    assert (
        "(ON DELETE CASCADE, ON UPDATE CASCADE, DEFERRABLE INITIALLY DEFERRED)"
        in (hr.schema("assignment")["properties"]["employee_id"]["description"])
    )
    assert hr.schema("employee")["properties"]["salary"]["description"].startswith("Gross yearly salary.")


def test_reserved_words_are_plain_field_names(introspected_snapshot):
    employee = _generate(introspected_snapshot).schema("employee")["properties"]
    assert employee["class"]["enum"] == ["staff", "contractor", None]
    assert employee["import"]["bsonType"] == "bool"
    assert employee["namespace"]["bsonType"] == ["string", "null"]


# --- The script ---------------------------------------------------------------------------------------------


def _assert_js_balanced(script: str) -> None:
    code = re.sub(r'"(?:[^"\\\n]|\\.)*"', '""', script)
    code = re.sub(r"//[^\n]*", "", code)
    pairs, stack = {")": "(", "]": "[", "}": "{"}, []
    for char in code:
        if char in "([{":
            stack.append(char)
        elif char in pairs:
            assert stack and stack.pop() == pairs[char], "unbalanced brackets"
    assert not stack and '"' not in code.replace('""', ""), "unclosed bracket or string"


def test_script_creates_every_collection_with_its_validator_file_and_every_key_and_index(snapshot):
    model = code_model_build(snapshot)
    output = _generate(snapshot)
    _assert_js_balanced(output.script)
    assert output.created == output.validators
    profile = PROFILES["postgresql"]
    expected = []
    for entity in model.entities:
        key = [c.name for c in entity.primary_key]
        expected.append(
            (entity.name, dict.fromkeys(key, 1), constraint_name(profile, entity.name, key, "pk"), True)
        )
        for column in entity.columns:
            if column.is_unique and key != [column.name]:
                name = constraint_name(profile, entity.name, [column.name], "uniq")
                expected.append((entity.name, {column.name: 1}, name, True))
        for index in entity.indexes:
            keys = {name: -1 if order == "desc" else 1 for name, order in index.columns}
            expected.append((entity.name, keys, index.name, index.is_unique))
    found = [
        (collection, keys, options["name"], options.get("unique", False))
        for collection, keys, options in output.indexes
    ]
    assert found == expected
    # Key order is index order: JSON objects keep it, and so does the script.
    assert list(_generate(snapshot).indexes[0][1]) == list(expected[0][1])


def test_partial_indexes_become_filters_or_say_why_not(demo_snapshot, introspected_snapshot):
    shop, hr = _generate(demo_snapshot), _generate(introspected_snapshot)
    assert hr.index("employee_recent_idx") == (
        "employee",
        {"hired_on": -1},
        {"name": "employee_recent_idx", "partialFilterExpression": {"import": False}},
    )
    assert shop.index("orders_open_idx") == ("orders", {"status": 1}, {"name": "orders_open_idx"})
    note = "Index orders_open_idx: WHERE status <> 'shipped' cannot be expressed as a MongoDB partial filter"
    assert f"// {note}" in shop.script and note in shop.schema("orders")["description"]
    assert (
        "// Index orders_open_idx: MongoDB has no INCLUDE columns; not included: total_amount." in shop.script
    )


def _add_index(snapshot, entity_name, name, columns, condition="", is_unique=False):
    entity = _entity(snapshot, entity_name)
    ids = {c["name"]: cid for cid, c in entity["columns"].items()}
    entity["indexes"][f"added-{name}"] = {
        "name": name,
        "is_unique": is_unique,
        "method": "btree",
        "condition": condition,
        "description": "",
        "columns": [[ids[column], "asc"] for column in columns],
        "include": [],
    }


@pytest.mark.parametrize(
    "condition, expected",
    [
        (
            "hours >= 8 AND project_code = 'ABC123'",
            {"$and": [{"hours": {"$gte": 8}}, {"project_code": "ABC123"}]},
        ),
        ("(hours < 40)", {"hours": {"$lt": 40}}),
        ("8 <= hours", {"hours": {"$gte": 8}}),
        ("hours = -1", {"hours": -1}),
        ("project_code IS NOT NULL", {"project_code": {"$type": "string"}}),
    ],
)
def test_simple_index_conditions_are_translated_to_partial_filters(
    introspected_snapshot, condition, expected
):
    snapshot = copy.deepcopy(introspected_snapshot)
    _add_index(snapshot, "assignment", "assignment_hours_idx", ["hours"], condition)
    assert _generate(snapshot).index("assignment_hours_idx")[2]["partialFilterExpression"] == expected


def test_unique_keys_over_nullable_columns_skip_null_like_sql_and_untranslatable_unique_ones_are_left_out(
    introspected_snapshot,
):
    snapshot = copy.deepcopy(introspected_snapshot)
    _column(snapshot, "department", "name")["nullable"] = True
    _add_index(snapshot, "employee", "employee_class_idx", ["class", "email"], is_unique=True)
    _add_index(snapshot, "employee", "employee_odd_idx", ["email"], "lower(email) <> email", is_unique=True)
    output = _generate(snapshot)
    _collection, _keys, options = output.index(
        constraint_name(PROFILES["postgresql"], "department", ["name"], "uniq")
    )
    assert options["partialFilterExpression"] == {"name": {"$type": "string"}}
    assert output.index("employee_class_idx")[2]["partialFilterExpression"] == {"class": {"$type": "string"}}
    assert "partialFilterExpression" not in output.index("employee_email_idx")[2]  # email is NOT NULL
    assert not [index for index in output.indexes if index[2]["name"] == "employee_odd_idx"]
    note = "Index employee_odd_idx: a unique index WHERE lower(email) <> email cannot be expressed"
    assert f"// {note}" in output.script and note in output.schema("employee")["description"]


# --- What BSON or $jsonSchema cannot say --------------------------------------------------------------------


def test_types_without_a_bson_equivalent_are_patterned_strings_with_a_note(introspected_snapshot):
    snapshot = copy.deepcopy(introspected_snapshot)
    _column(snapshot, "employee", "namespace").update(data_type="time", min_value="08:00")
    hired_on = _column(snapshot, "employee", "hired_on")
    hired_on.update(min_value="2000-01-01")
    output = _generate(snapshot)
    properties = output.schema("employee")["properties"]
    shift = properties["namespace"]
    assert (
        shift["bsonType"] == ["string", "null"]
        and re.match(shift["pattern"], "08:30:00")
        and not re.match(shift["pattern"], "25:00")
    )
    assert "time is stored as text HH:MM[:SS[.ffffff]]" in shift["description"]
    assert "Cannot be expressed in $jsonSchema: minimum 08:00" in shift["description"]
    assert "// employee.hired_on: Cannot be expressed in $jsonSchema: minimum 2000-01-01" in output.script
    assert re.match(properties["external_id"]["pattern"], "8c5d1c9e-4b07-4b8e-9a8e-0a4d3c7d2f11")
    assert "// employee.external_id: uuid is stored as its canonical 36-character text" in output.script


def test_bounds_that_are_not_whole_numbers_are_extended_json_decimals(introspected_snapshot):
    snapshot = copy.deepcopy(introspected_snapshot)
    _column(snapshot, "employee", "salary").update(min_value="0.5", max_value="250000")
    output = _generate(snapshot)
    salary = output.schema("employee")["properties"]["salary"]
    assert salary["minimum"] == {"$numberDecimal": "0.5"} and salary["maximum"] == 250000
    assert "exclusiveMaximum" not in salary
    assert 'ensureCollection("employee", EJSON.deserialize(' in output.script
    assert "At most 2 decimal places (numeric scale) is not checked" in salary["description"]


def test_an_entity_without_primary_key_is_identified_by_id(introspected_snapshot):
    snapshot = copy.deepcopy(introspected_snapshot)
    for column in _entity(snapshot, "assignment")["columns"].values():
        column["primary_key_position"] = None
    output = _generate(snapshot)
    assert "documents are identified by MongoDB's _id only" in output.schema("assignment")["description"]
    assert not [index for index in output.indexes if index[0] == "assignment"]


def test_audit_columns_are_fields_and_may_not_clash_with_the_entitys_own(introspected_snapshot):
    snapshot = copy.deepcopy(introspected_snapshot)
    _entity(snapshot, "department")["has_audit_columns"] = True
    schema = _generate(snapshot).schema("department")
    assert list(schema["properties"])[-5:] == [
        "created_at",
        "updated_at",
        "created_by",
        "updated_by",
        "version",
    ]
    assert schema["properties"]["updated_by"] == {"bsonType": ["string", "null"], "maxLength": 150}
    assert {"created_at", "updated_at", "version"} <= set(schema["required"])
    assert "the application keeps updated_at and version current" in schema["description"]
    template = _column(snapshot, "department", "name")
    _entity(snapshot, "department")["columns"]["added"] = {**template, "name": "version", "is_unique": False}
    with pytest.raises(CodegenError, match="Entity 'department' has audit columns and its own column"):
        _generate(snapshot)


# --- Determinism and bad input ------------------------------------------------------------------------------


def test_output_is_deterministic_whatever_order_the_catalog_comes_in(snapshot):
    first = mongodb.generate(code_model_build(snapshot), {})
    shuffled = copy.deepcopy(snapshot)
    shuffled["entities"] = dict(reversed(list(shuffled["entities"].items())))
    for entity in shuffled["entities"].values():
        entity["columns"] = dict(reversed(list(entity["columns"].items())))
        entity["indexes"] = dict(reversed(list(entity["indexes"].items())))
    assert mongodb.generate(code_model_build(shuffled), {}) == first
    assert mongodb.generate(code_model_build(snapshot), {}) == first


def test_collections_that_collide_without_case_are_refused(demo_snapshot):
    snapshot = copy.deepcopy(demo_snapshot)
    copied = copy.deepcopy(_entity(snapshot, "users"))
    copied["name"], copied["columns"], copied["indexes"] = "Users", {}, {}
    snapshot["entities"]["copied"] = copied
    with pytest.raises(CodegenError, match="'Users' and 'users' both become 'users'"):
        _generate(snapshot)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"name": "address.city"}, "Column 'employee.address.city' cannot be a MongoDB field"),
        ({"name": "$where"}, "Column 'employee.\\$where' cannot be a MongoDB field"),
        (
            {"data_type": "interval"},
            "Column 'employee.namespace' has type 'interval', which has no BSON equivalent",
        ),
    ],
)
def test_names_and_types_mongodb_cannot_hold_are_refused(introspected_snapshot, change, message):
    snapshot = copy.deepcopy(introspected_snapshot)
    _column(snapshot, "employee", "namespace").update(change)
    with pytest.raises(CodegenError, match=message):
        _generate(snapshot)


# Their catalogs come from fixtures chosen at run time: marked so they run before transactional tests.
pytestmark = pytest.mark.django_db

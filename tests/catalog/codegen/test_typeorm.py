"""TypeORM entities: tsc compiles them (strict), TypeORM runs them, and they say what Custodian's DDL says."""

import dataclasses
import json
import os
import re
from pathlib import Path

import pytest

from catalog.codegen import typeorm
from catalog.codegen.base import CodegenError, GeneratedFile, code_model_build
from catalog.models import DataStore
from catalog.schema.ddl import ddl_render, schema_ddl
from catalog.schema.dialects import POSTGRESQL, profile_for
from catalog.schema.metadata import constraint_name
from tests.catalog.codegen import toolchains
from tests.catalog.schema.conftest import run_sql

ENTITIES = "src/entities"


def _write(files: list[GeneratedFile], root: Path) -> None:
    for generated in files:
        path = root / generated.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(generated.content, encoding="utf-8")


def _tsc(files: list[GeneratedFile], root: Path):
    """tsc's result on the files; the test fails (never skips) when the toolchain cannot be installed."""
    _write(files, root)
    try:
        return toolchains.tsc_check(root)
    except toolchains.ToolchainMissing as exc:
        pytest.fail(f"The TypeORM compile proof needs tsc and typeorm from npm: {exc}")


def _by_path(files: list[GeneratedFile]) -> dict[str, str]:
    return {f.path: f.content for f in files}


@pytest.fixture
def demo_model(demo_snapshot):
    return code_model_build(demo_snapshot)


@pytest.fixture
def hr_model(introspected_snapshot):
    return code_model_build(introspected_snapshot)


@pytest.mark.parametrize("catalog", ["demo_model", "hr_model"])
def test_entities_compile_with_tsc_strict_against_typeorm(request, catalog, tmp_path):
    files = typeorm.generate(request.getfixturevalue(catalog), {})

    result = _tsc(files, tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("engine", ["sqlite", "mysql", "sqlserver"])
def test_entities_for_every_dialect_compile_with_their_ddl_types(demo_model, engine, tmp_path):
    demo_model.engine = engine
    files = typeorm.generate(demo_model, {})

    result = _tsc(files, tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    products = _by_path(files)[f"{ENTITIES}/products.entity.ts"]
    expected = {"sqlite": "datetime", "mysql": "datetime", "sqlserver": "datetimeoffset"}[engine]
    assert f'@Column({{ name: "created_at", type: "{expected}"' in products
    assert ('schema: "shop"' in products) == profile_for(engine).supports_schemas


def test_tsc_proof_fails_on_code_that_does_not_compile(demo_model, tmp_path):
    files = typeorm.generate(demo_model, {})
    broken = [
        dataclasses.replace(
            f, content=f.content.replace("(orders) => orders.orderItems", "(orders) => orders.nope")
        )
        for f in files
    ]

    result = _tsc(broken, tmp_path)

    assert result.returncode != 0
    assert "Property 'nope' does not exist on type 'Orders'" in result.stdout


def test_hostile_descriptions_and_defaults_still_compile(demo_model, tmp_path):
    hostile = 'Ends */ early,\u2028 "quotes" `ticks` ${x} \\ back\n@deprecated'
    products = demo_model.entity("products")
    products.description = hostile
    products.column("name").description = hostile
    products.column("name").default_value = 'say "hi" \\ ${x}'
    files = typeorm.generate(demo_model, {})

    result = _tsc(files, tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    source = _by_path(files)[f"{ENTITIES}/products.entity.ts"]
    assert 'default: "say \\"hi\\" \\\\ ${x}"' in source
    assert "Ends *\\/ early" in source and " * \\@deprecated" in source


def test_generation_is_deterministic_whatever_the_snapshot_order(demo_snapshot):
    reordered = {
        **demo_snapshot,
        "entities": {
            entity_id: {**entity, "columns": dict(reversed(entity["columns"].items()))}
            for entity_id, entity in reversed(demo_snapshot["entities"].items())
        },
    }

    first = typeorm.generate(code_model_build(demo_snapshot), {})

    assert first == typeorm.generate(code_model_build(demo_snapshot), {})
    assert first == typeorm.generate(code_model_build(reordered), {})


def test_one_file_per_entity_with_an_index_exporting_them_all(demo_model):
    files = _by_path(typeorm.generate(demo_model, {}))
    names = ["addresses", "customers", "order-items", "orders", "payments", "products", "users"]

    assert sorted(files) == sorted(
        [f"{ENTITIES}/{n}.entity.ts" for n in names] + [f"{ENTITIES}/index.ts", f"{ENTITIES}/pii.ts"]
    )
    index = files[f"{ENTITIES}/index.ts"]
    assert 'import { OrderItems } from "./order-items.entity";' in index
    assert "export { Addresses, Customers, OrderItems, Orders, Payments, Products, Users };" in index
    assert "export const ENTITIES = [\n  Addresses,\n  Customers," in index


def test_composite_primary_key_and_relations_both_ways_with_on_delete(demo_model):
    files = _by_path(typeorm.generate(demo_model, {}))
    items, orders = files[f"{ENTITIES}/order-items.entity.ts"], files[f"{ENTITIES}/orders.entity.ts"]
    pk = constraint_name(POSTGRESQL, "order_items", ["order_id", "line_no"], "pk")
    fk = constraint_name(POSTGRESQL, "order_items", ["order_id"], "fk")

    assert (
        f'@PrimaryColumn({{ name: "order_id", type: "bigint", primaryKeyConstraintName: "{pk}" }})' in items
    )
    assert (
        f'@PrimaryColumn({{ name: "line_no", type: "integer", primaryKeyConstraintName: "{pk}" }})' in items
    )
    assert (
        "  @ManyToOne(() => Orders, (orders) => orders.orderItems, "
        '{ nullable: false, onDelete: "CASCADE" })\n'
        f'  @JoinColumn({{ name: "order_id", foreignKeyConstraintName: "{fk}" }})\n'
        "  order!: Relation<Orders>;"
    ) in items
    assert (
        "  @OneToMany(() => OrderItems, (orderItems) => orderItems.order)\n  orderItems!: OrderItems[];"
    ) in orders
    assert 'onDelete: "SET NULL" })' in orders
    assert "  shippingAddress!: Relation<Addresses> | null;" in orders


def test_columns_carry_types_lengths_precision_nullability_defaults_and_comments(demo_model):
    files = _by_path(typeorm.generate(demo_model, {}))
    products, payments = files[f"{ENTITIES}/products.entity.ts"], files[f"{ENTITIES}/payments.entity.ts"]

    assert '@Column({ name: "sku", type: "varchar", length: 40 })\n  sku!: string;' in products
    assert (
        '@Column({ name: "description", type: "text", nullable: true })\n  description!: string | null;'
        in products
    )
    assert (
        '@Column({ name: "unit_price", type: "numeric", precision: 12, scale: 2 })\n  unitPrice!: string;'
        in products
    )
    assert '@Column({ name: "active", type: "boolean", default: true })' in products
    assert (
        '@Column({ name: "created_at", type: "timestamp with time zone", default: () => "now()" })'
        in products
    )
    pk = constraint_name(POSTGRESQL, "payments", ["id"], "pk")
    assert f'@PrimaryColumn({{ name: "id", type: "uuid", primaryKeyConstraintName: "{pk}" }})\n' in payments
    assert '  @Generated("uuid")\n  id!: string;' in payments  # gen_random_uuid(), as TypeORM reads it
    assert (
        '@Entity({ name: "products", schema: "shop", comment: "The catalogue of things for sale." })'
        in products
    )


def test_unique_and_check_constraints_are_the_ones_the_ddl_creates(demo_model, demo_snapshot):
    files = _by_path(typeorm.generate(demo_model, {}))
    ddl = ddl_render(schema_ddl(demo_snapshot, POSTGRESQL))
    checks = re.findall(r'@Check\("([^"]+)", "((?:[^"\\]|\\.)*)"\)', "\n".join(files.values()))

    assert len(checks) == ddl.count(" CHECK (")
    for name, sql in checks:
        expression = json.loads(f'"{sql}"')  # the TypeScript string literal's text
        assert f'CONSTRAINT "{name}" CHECK ({expression})' in ddl
    unique = constraint_name(POSTGRESQL, "users", ["email"], "uniq")
    assert f'@Unique("{unique}", ["email"])' in files[f"{ENTITIES}/users.entity.ts"]
    assert f'CONSTRAINT "{unique}" UNIQUE ("email")' in ddl


def test_indexes_typeorm_cannot_describe_are_kept_out_of_synchronize_with_a_comment(demo_model, hr_model):
    orders = _by_path(typeorm.generate(demo_model, {}))[f"{ENTITIES}/orders.entity.ts"]
    employee = _by_path(typeorm.generate(hr_model, {}))[f"{ENTITIES}/employee.entity.ts"]

    assert '@Index("orders_customer_ordered_idx", { synchronize: false })' in orders
    assert (
        '// Custodian: index orders_customer_ordered_idx ("customer_id", "ordered_at" DESC) has a' in orders
    )
    assert '@Index("orders_open_idx", { synchronize: false })' in orders
    assert "INCLUDE (total_amount)" in orders
    assert '@Index("employee_email_idx", ["email"], { unique: true })' in employee
    assert (
        '@Index("customers_name_idx", ["lastName", "firstName"])'
        in _by_path(typeorm.generate(demo_model, {}))[f"{ENTITIES}/customers.entity.ts"]
    )


def test_partial_index_and_method_are_stated_when_typeorm_can(hr_model):
    recent = next(i for i in hr_model.entity("employee").indexes if i.name == "employee_recent_idx")
    recent.columns = [("hired_on", "asc")]
    recent.method = "brin"

    employee = _by_path(typeorm.generate(hr_model, {}))[f"{ENTITIES}/employee.entity.ts"]

    assert (
        '@Index("employee_recent_idx", ["hiredOn"], { where: "\\"import\\" = FALSE", type: "brin" })'
        in employee
    )


def test_pii_columns_carry_a_decorator_the_application_can_read_and_a_jsdoc_line(hr_model):
    files = _by_path(typeorm.generate(hr_model, {}))
    employee = files[f"{ENTITIES}/employee.entity.ts"]

    assert (
        '  /** PII: direct_identifier; masking: hash */\n  @Pii("direct_identifier", "hash")\n'
        '  @Column({ name: "email", type: "varchar", length: 254 })'
    ) in employee
    assert 'import { Pii } from "./pii";' in employee
    assert (
        "Reflect.defineMetadata(PII_METADATA_KEY, marker, target, property);" in files[f"{ENTITIES}/pii.ts"]
    )


def test_reserved_words_are_escaped_and_the_column_names_kept(hr_model):
    employee = _by_path(typeorm.generate(hr_model, {}))[f"{ENTITIES}/employee.entity.ts"]

    assert '@Column({ name: "class", type: "varchar", length: 20, nullable: true })\n  class_!:' in employee
    assert '@Column({ name: "import", type: "boolean", default: false })\n  import_!: boolean;' in employee
    assert '@Column({ name: "namespace", type: "text", nullable: true })\n  namespace_!:' in employee


def test_self_reference_and_descriptions_of_the_introspected_catalog(hr_model):
    files = _by_path(typeorm.generate(hr_model, {}))
    department = files[f"{ENTITIES}/department.entity.ts"]

    assert "/**\n * Organisational units\n *\n * Table app.department.\n */\n@Entity(" in department
    assert (
        '@ManyToOne(() => Department, (department) => department.inverseParent, { onDelete: "SET NULL", '
        'onUpdate: "SET NULL", deferrable: "INITIALLY IMMEDIATE" })' in (department)
    )
    assert (
        '{ nullable: false, onDelete: "CASCADE", onUpdate: "CASCADE", deferrable: "INITIALLY DEFERRED" })'
        in files[f"{ENTITIES}/assignment.entity.ts"]
    )
    assert (
        "@OneToMany(() => Department, (department) => department.parent)\n  inverseParent!: Department[];"
        in (department)
    )
    assert (
        '  /** Gross yearly salary */\n  @Column({ name: "salary", type: "numeric", precision: 10, scale: 2,'
        in (files[f"{ENTITIES}/employee.entity.ts"])
    )


def test_entity_without_primary_key_is_refused_unless_keys_are_generated(hr_model, tmp_path):
    for column in hr_model.entity("assignment").columns:
        column.primary_key_position = None

    with pytest.raises(CodegenError, match="Entity 'assignment' has no primary key, and TypeORM needs"):
        typeorm.generate(hr_model, {})
    files = typeorm.generate(hr_model, {"generate_keys": True})

    assignment = _by_path(files)[f"{ENTITIES}/assignment.entity.ts"]
    assert '@PrimaryGeneratedColumn({ name: "id", type: "bigint" })\n  id!: string;' in assignment
    assert "The table needs that column: add it to the catalog." in assignment
    assert _tsc(files, tmp_path).returncode == 0


def test_names_that_collide_after_conversion_are_refused(hr_model):
    employee = hr_model.entity("employee")
    employee.columns.append(dataclasses.replace(employee.column("hired_on"), id="x", name="hiredOn"))

    with pytest.raises(
        CodegenError, match="Entity 'employee': 'hired_on' and 'hiredOn' both become 'hiredOn'"
    ):
        typeorm.generate(hr_model, {})


def test_type_without_a_typeorm_equivalent_is_refused(hr_model):
    hr_model.entity("employee").column("namespace").data_type = "interval"

    with pytest.raises(CodegenError, match="'employee.namespace' has type 'interval', which has no TypeORM"):
        typeorm.generate(hr_model, {})


def test_class_named_like_a_used_type_gets_a_suffix_and_compiles(hr_model, tmp_path):
    hr_model.entity("department").name = "date"
    files = typeorm.generate(hr_model, {})

    assert f"{ENTITIES}/date-entity.entity.ts" in _by_path(files)
    assert "department!: Relation<DateEntity>;" in _by_path(files)[f"{ENTITIES}/employee.entity.ts"]
    assert _tsc(files, tmp_path).returncode == 0


# Saves rows through the relations (a self-reference, a composite key that is also a foreign key) and reads
# them back with the relations loaded.
ROUND_TRIP = """
require("reflect-metadata");
const { DataSource } = require("typeorm");
const { ENTITIES, Assignment, Department, Employee } = require("./dist/entities");

(async () => {
  const source = new DataSource({
    type: "postgres", url: process.env.TARGET_URL, entities: ENTITIES, uuidExtension: "pgcrypto",
  });
  await source.initialize();
  const departments = source.getRepository(Department);
  const root = await departments.save(departments.create({ id: 1, name: "Head office", parent: null }));
  await departments.save(departments.create({ id: 2, name: "R&D", parent: root }));
  const employees = source.getRepository(Employee);
  const employee = await employees.save(
    employees.create({
      id: "7", department: root, class_: "staff", email: "ada@example.com", salary: "1200.50",
    }),
  );
  await source.getRepository(Assignment).save({ employee, projectCode: "APOLLO", hours: 12 });
  const found = await employees.findOneOrFail({
    where: { id: "7" },
    relations: { department: { inverseParent: true }, assignment: true },
  });
  console.log(JSON.stringify(found));
  await source.destroy();
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
"""

# What TypeORM's schema builder would change to make the database match the entities (synchronize's plan).
SCHEMA_DIFF = """
require("reflect-metadata");
const { DataSource } = require("typeorm");
const { ENTITIES } = require("./dist/entities");

(async () => {
  const source = new DataSource({
    type: "postgres", url: process.env.TARGET_URL, entities: ENTITIES, uuidExtension: "pgcrypto",
  });
  await source.initialize();
  const pending = (await source.driver.createSchemaBuilder().log()).upQueries.map((q) => q.query);
  console.log(JSON.stringify(pending));
  await source.destroy();
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
"""


def _node(files: list[GeneratedFile], root: Path, script: str, url: str):
    """Build the entities to JavaScript, run `script` beside them with TARGET_URL: its last line as JSON."""
    _write(files, root)
    (root / "run.js").write_text(script)
    try:
        built = toolchains.tsc_check(root, out_dir="dist")
        assert built.returncode == 0, built.stdout + built.stderr
        result = toolchains.node_run(root / "run.js", {"TARGET_URL": url})
    except toolchains.ToolchainMissing as exc:
        pytest.fail(f"Running the entities needs node, typeorm and pg from npm: {exc}")
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_entities_save_and_load_rows_of_the_reverse_engineered_database(hr_model, tmp_path):
    store = DataStore.objects.get(name="hr")
    url = os.environ[store.url_env].replace("postgresql+psycopg://", "postgresql://")

    employee = _node(typeorm.generate(hr_model, {}), tmp_path, ROUND_TRIP, url)

    assert employee["class_"] == "staff" and employee["import_"] is False and employee["salary"] == "1200.50"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", employee["hiredOn"])  # the database's CURRENT_DATE
    assert re.fullmatch(r"[0-9a-f-]{36}", employee["externalId"])  # the database's gen_random_uuid()
    assert employee["department"]["name"] == "Head office"
    assert [d["name"] for d in employee["department"]["inverseParent"]] == ["R&D"]
    assert employee["assignment"] == [{"employeeId": "7", "projectCode": "APOLLO", "hours": 12}]


def test_typeorm_finds_nothing_to_change_in_a_database_made_by_custodians_ddl(
    demo_snapshot, scratch_database, tmp_path
):
    orders = next(e for e in demo_snapshot["entities"].values() if e["name"] == "orders")
    orders["has_audit_columns"] = True
    url = scratch_database().replace("postgresql+psycopg://", "postgresql://")
    run_sql(url, "CREATE SCHEMA shop", ddl_render(schema_ddl(demo_snapshot, POSTGRESQL)))

    pending = _node(typeorm.generate(code_model_build(demo_snapshot), {}), tmp_path, SCHEMA_DIFF, url)

    assert pending == []


# A default of every catalog type, as a steward would write it, and the TypeORM default it becomes.
EVERY_TYPE = [
    ("uuid", {}, "1b4e28ba-2fa1-11d2-883f-0016d3cca427", '"1b4e28ba-2fa1-11d2-883f-0016d3cca427"', "string"),
    ("varchar", {"length": 10}, " padded ", '" padded "', "string"),
    ("char", {"length": 2}, "ab", '"ab"', "string"),
    ("text", {}, 'say "hi"', '"say \\"hi\\""', "string"),
    ("smallint", {}, "5", "5", "number"),
    ("integer", {}, "-7", "-7", "number"),
    ("bigint", {}, "9007199254740993", '"9007199254740993"', "string"),
    ("numeric", {"precision": 8, "scale": 3}, "1.250", '"1.250"', "string"),
    ("real", {}, "1.5", "1.5", "number"),
    ("double", {}, "2.25", "2.25", "number"),
    ("boolean", {}, "false", "false", "boolean"),
    ("date", {}, "2020-02-29", '"2020-02-29"', "string"),
    ("time", {}, "12:30:00", '"12:30:00"', "string"),
    ("timestamp", {}, "2020-01-01 10:00:00", '"2020-01-01 10:00:00"', "Date"),
    ("timestamptz", {}, "2020-01-01 10:00:00+02:00", '"2020-01-01 10:00:00+02:00"', "Date"),
    ("json", {}, '{"a": [1, 2]}', '"{\\"a\\": [1, 2]}"', "unknown"),
    ("jsonb", {}, "5", '"5"', "unknown"),
    ("bytea", {}, "\\x0102", None, "Buffer"),
]


def test_every_catalog_type_maps_with_its_parameters_and_default_and_compiles(hr_model, tmp_path):
    employee = hr_model.entity("employee")
    template = employee.column("namespace")
    for position, (data_type, parameters, default, *_rest) in enumerate(EVERY_TYPE, 100):
        employee.columns.append(
            dataclasses.replace(
                template,
                id=f"t{position}",
                name=f"{data_type}_value",
                position=position,
                data_type=data_type,
                default_value=default,
                **parameters,
            )
        )
    files = typeorm.generate(hr_model, {})
    source = _by_path(files)[f"{ENTITIES}/employee.entity.ts"]

    for data_type, _parameters, default, typescript, ts_type in EVERY_TYPE:
        declaration = f"  {data_type}Value!: {ts_type} | null;"
        if typescript is None:
            assert f"// Custodian: the default {default} has no TypeORM form" in source
            assert f"nullable: true }})\n{declaration}" in source
        else:
            assert f"nullable: true, default: {typescript} }})\n{declaration}" in source
    assert '{ name: "numeric_value", type: "numeric", precision: 8, scale: 3, nullable: true,' in source
    assert '{ name: "char_value", type: "char", length: 2, nullable: true,' in source
    assert _tsc(files, tmp_path).returncode == 0


def test_toolchain_installs_the_npm_packages_into_an_empty_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("CUSTODIAN_NODE_CODEGEN_DIR", str(tmp_path / "node"))

    try:
        directory = toolchains.node_toolchain()
    except toolchains.ToolchainMissing as exc:
        pytest.fail(f"The test set-up could not install the TypeScript toolchain: {exc}")

    assert directory == tmp_path / "node"
    for package in ("typescript", "typeorm", "reflect-metadata", "pg"):
        assert (directory / "node_modules" / package / "package.json").exists()
    assert (directory / ".gitignore").read_text() == "*\n"
    assert toolchains.node_toolchain() == directory  # the second call reuses it


def test_one_entity_alone_keeps_its_foreign_keys_as_plain_columns_and_compiles(demo_snapshot, tmp_path):
    items = next(i for i, e in demo_snapshot["entities"].items() if e["name"] == "order_items")
    files = typeorm.generate(code_model_build(demo_snapshot, {items}), {})
    source = _by_path(files)[f"{ENTITIES}/order-items.entity.ts"]

    assert sorted(_by_path(files)) == [f"{ENTITIES}/index.ts", f"{ENTITIES}/order-items.entity.ts"]
    assert "order_items.product_id references an entity that is not generated here" in source
    assert "@ManyToOne" not in source and "import { Orders }" not in source
    assert _tsc(files, tmp_path).returncode == 0


# Their catalogs come from fixtures chosen at run time: marked so they run before transactional tests.
pytestmark = pytest.mark.django_db

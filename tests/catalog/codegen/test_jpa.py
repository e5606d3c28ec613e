"""JPA entities: javac compiles them against the JPA API, and they say what the catalog says."""

import dataclasses
from pathlib import Path

import pytest

from catalog.codegen import jpa
from catalog.codegen.base import CodegenError, GeneratedFile, code_model_build
from catalog.schema.dialects import POSTGRESQL
from catalog.schema.metadata import constraint_name
from tests.catalog.codegen import toolchains

SHOP = "src/main/java/com/example/shop"
HR = "src/main/java/com/example/hr"


def _write(files: list[GeneratedFile], root: Path) -> list[Path]:
    paths = []
    for generated in files:
        path = root / generated.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(generated.content, encoding="utf-8")
        paths.append(path)
    return paths


def _javac(files: list[GeneratedFile], root: Path):
    """javac's result on the files; the test fails (never skips) when the toolchain cannot be installed."""
    try:
        return toolchains.javac_check(_write(files, root / "src"), root / "classes")
    except toolchains.ToolchainMissing as exc:
        pytest.fail(f"The JPA compile proof needs javac and the JPA API jar: {exc}")


def _by_path(files: list[GeneratedFile]) -> dict[str, str]:
    return {f.path: f.content for f in files}


def _without_primary_key(model, entity_name: str):
    for column in model.entity(entity_name).columns:
        column.primary_key_position = None
    return model


@pytest.fixture
def demo_model(demo_snapshot):
    return code_model_build(demo_snapshot)


@pytest.fixture
def hr_model(introspected_snapshot):
    return code_model_build(introspected_snapshot)


@pytest.mark.parametrize("catalog", ["demo_model", "hr_model"])
def test_javax_entities_compile_with_javac_against_the_jpa_api(request, catalog, tmp_path):
    files = jpa.generate(request.getfixturevalue(catalog), {"namespace": "javax"})

    result = _javac(files, tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning" not in result.stderr, result.stderr  # -Xlint:all: not even a warning
    classes = {p.stem for p in (tmp_path / "classes").rglob("*.class")}
    assert classes == {Path(f.path).stem for f in files}


def test_javac_proof_fails_on_code_that_does_not_compile(demo_model, tmp_path):
    files = jpa.generate(demo_model, {"namespace": "javax"})
    broken = [
        dataclasses.replace(f, content=f.content.replace("import javax.persistence.Id;\n", "")) for f in files
    ]

    result = _javac(broken, tmp_path)

    assert result.returncode != 0
    assert "cannot find symbol" in result.stderr


def test_hostile_descriptions_and_defaults_still_compile(demo_model, tmp_path):
    hostile = 'Ends */ early, \\u000a breaks a line, <b>tags</b> & @Deprecated "quotes" \\ back'
    products = demo_model.entity("products")
    products.description = hostile
    products.column("name").description = hostile
    products.column("name").default_value = 'say "hi" \\u0022 \t\\'
    files = jpa.generate(demo_model, {"namespace": "javax"})

    result = _javac(files, tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    source = _by_path(files)[f"{SHOP}/Products.java"]
    assert 'private String name = "say \\"hi\\" \\\\u0022 \\t\\\\";' in source
    assert "Ends *&#47; early" in source


def test_jakarta_is_the_default_and_differs_from_javax_only_in_the_namespace(demo_model):
    jakarta = jpa.generate(demo_model, {})
    javax = jpa.generate(demo_model, {"namespace": "javax"})

    assert all("javax." not in f.content for f in jakarta)
    assert "import jakarta.persistence.Entity;" in _by_path(jakarta)[f"{SHOP}/Orders.java"]
    assert [
        dataclasses.replace(f, content=f.content.replace("jakarta.persistence", "javax.persistence"))
        for f in jakarta
    ] == javax


def test_generation_is_deterministic_whatever_the_snapshot_order(demo_snapshot):
    reordered = {
        **demo_snapshot,
        "entities": {
            entity_id: {**entity, "columns": dict(reversed(entity["columns"].items()))}
            for entity_id, entity in reversed(demo_snapshot["entities"].items())
        },
    }

    first = jpa.generate(code_model_build(demo_snapshot), {})

    assert first == jpa.generate(code_model_build(demo_snapshot), {})
    assert first == jpa.generate(code_model_build(reordered), {})
    assert [f.path for f in first] == sorted(f.path for f in first)


def test_demo_files_are_one_class_per_entity_plus_key_class_and_pii_annotation(demo_model):
    paths = [f.path for f in jpa.generate(demo_model, {})]

    assert paths == [
        f"{SHOP}/{name}.java"
        for name in [
            "Addresses",
            "Customers",
            "OrderItems",
            "OrderItemsId",
            "Orders",
            "Payments",
            "Pii",
            "Products",
            "Users",
        ]
    ]


def test_table_columns_unique_constraints_and_indexes_carry_the_ddl_names(demo_model):
    files = _by_path(jpa.generate(demo_model, {}))
    users, orders, products = (files[f"{SHOP}/{n}.java"] for n in ("Users", "Orders", "Products"))
    unique = constraint_name(POSTGRESQL, "users", ["email"], "uniq")

    assert '@Entity\n@Table(\n    name = "users",\n    schema = "shop",\n' in users
    assert f'uniqueConstraints = @UniqueConstraint(name = "{unique}", columnNames = "email")' in users
    assert '    @Id\n    @Column(name = "id", nullable = false)\n    private Long id;' in users
    assert (
        '@Index(name = "orders_customer_ordered_idx", columnList = "customer_id, ordered_at DESC")' in orders
    )
    assert '@Column(name = "unit_price", nullable = false, precision = 12, scale = 2)' in products
    assert '@Column(name = "sku", nullable = false, length = 40)\n    private String sku;' in products
    assert '@Column(name = "description", columnDefinition = "text")' in products
    assert "private Boolean active = true;" in products
    assert "private OffsetDateTime createdAt = OffsetDateTime.now();" in products
    assert 'private String status = "new";' in orders


def test_composite_key_is_an_embedded_id_whose_foreign_key_part_maps_the_relationship(demo_model):
    files = _by_path(jpa.generate(demo_model, {}))
    items, key, orders = (files[f"{SHOP}/{n}.java"] for n in ("OrderItems", "OrderItemsId", "Orders"))
    fk = constraint_name(POSTGRESQL, "order_items", ["order_id"], "fk")

    assert "    @EmbeddedId\n    private OrderItemsId id = new OrderItemsId();" in items
    assert (
        '    @MapsId("orderId")\n    @ManyToOne(fetch = FetchType.LAZY, optional = false)\n'
        f'    @JoinColumn(name = "order_id", nullable = false, foreignKey = @ForeignKey(name = "{fk}"))\n'
        "    private Orders order;"
    ) in items
    assert "// Custodian: ON DELETE CASCADE is applied by the database" in items
    assert "@Embeddable\npublic class OrderItemsId implements Serializable {" in key
    assert "return Objects.equals(orderId, that.orderId) && Objects.equals(lineNo, that.lineNo);" in key
    assert "return Objects.hash(orderId, lineNo);" in key
    assert (
        '@OneToMany(mappedBy = "order")\n    private List<OrderItems> orderItems = new ArrayList<>();'
        in orders
    )


def test_foreign_key_column_is_a_read_only_copy_beside_its_relationship(demo_model):
    orders = _by_path(jpa.generate(demo_model, {}))[f"{SHOP}/Orders.java"]

    assert (
        '@Column(name = "customer_id", nullable = false, insertable = false, updatable = false)\n'
        "    private Long customerId;"
    ) in orders
    assert "public Long getCustomerId()" in orders and "setCustomerId" not in orders
    assert "@ManyToOne(fetch = FetchType.LAZY)\n" in orders  # shipping_address_id is nullable
    assert "private Addresses shippingAddress;" in orders


def test_checks_partial_indexes_and_json_are_comments_never_dropped(demo_model, hr_model):
    orders = _by_path(jpa.generate(demo_model, {}))[f"{SHOP}/Orders.java"]
    employee = _by_path(jpa.generate(hr_model, {}))[f"{HR}/Employee.java"]

    assert "// Custodian: CHECK (\"status\" IN ('new', 'paid', 'shipped', 'cancelled', 'refunded'))" in orders
    assert "index orders_open_idx covers only rows WHERE \"status\" <> 'shipped'" in orders
    assert "index orders_open_idx also INCLUDEs total_amount" in orders
    assert '// Custodian: CHECK ("salary" >= 0)' in employee
    assert 'index employee_recent_idx covers only rows WHERE "import" = FALSE' in employee


def test_pii_columns_carry_a_runtime_annotation_and_a_javadoc_line(demo_model):
    files = _by_path(jpa.generate(demo_model, {}))
    users = files[f"{SHOP}/Users.java"]

    assert (
        "     * PII: credential; masking: redact\n     */\n"
        '    @Pii(category = "credential", masking = "redact")\n'
        '    @Column(name = "password_hash", nullable = false, length = 200)'
    ) in users
    assert (
        "@Retention(RetentionPolicy.RUNTIME)\n@Target({ElementType.FIELD, ElementType.METHOD})"
        in files[f"{SHOP}/Pii.java"]
    )


def test_reserved_words_are_escaped_and_the_column_names_kept(hr_model):
    files = _by_path(jpa.generate(hr_model, {}))
    employee = files[f"{HR}/Employee.java"]

    assert '@Column(name = "class", length = 20)\n    private String class_;' in employee
    assert '@Column(name = "import", nullable = false)\n    private Boolean import_ = false;' in employee
    assert "public String getClass_()" in employee
    assert "private String namespace;" in employee  # not a Java keyword


def test_introspected_catalog_keeps_self_reference_composite_key_and_descriptions(hr_model):
    files = _by_path(jpa.generate(hr_model, {}))
    department, assignment, key = (
        files[f"{HR}/{n}.java"] for n in ("Department", "Assignment", "AssignmentId")
    )

    assert "/**\n * Organisational units\n * <p>\n * Table app.department.\n */\n@Entity" in department
    assert "private Department parent;" in department
    assert '@OneToMany(mappedBy = "parent")\n    private List<Department> inverseParent' in department
    assert "ON DELETE SET NULL is applied by the database" in department
    assert '@MapsId("employeeId")' in assignment
    assert '@Column(name = "project_code", nullable = false, length = 6, columnDefinition = "char(6)")' in key
    assert "/**\n     * Gross yearly salary\n     */" in files[f"{HR}/Employee.java"]


def test_package_comes_from_the_data_store_or_the_option(demo_model):
    default = jpa.generate(demo_model, {})
    chosen = jpa.generate(demo_model, {"package": "org.acme.orders"})

    assert default[0].content.splitlines()[2] == "package com.example.shop;"
    assert chosen[0].path.startswith("src/main/java/org/acme/orders/")
    assert "package org.acme.orders;" in chosen[0].content


@pytest.mark.parametrize(
    "options, message",
    [
        ({"namespace": "hibernate"}, "JPA namespace 'hibernate' is not one of 'jakarta'"),
        ({"package": "com.example.class"}, "'com.example.class' is not a Java package name ('class'"),
        ({"package": "com..shop"}, "is not a Java package name"),
    ],
)
def test_bad_options_are_clear_errors(demo_model, options, message):
    with pytest.raises(CodegenError, match=message.replace("(", r"\(").replace(".", r"\.")):
        jpa.generate(demo_model, options)


def test_entity_without_primary_key_is_refused_with_what_to_do(hr_model):
    _without_primary_key(hr_model, "assignment")

    with pytest.raises(CodegenError) as error:
        jpa.generate(hr_model, {})

    assert error.value.message == (
        "Entity 'assignment' has no primary key, and JPA needs an @Id to identify its rows. Mark its key "
        "column(s) in the catalog, or generate with generate_keys to add a surrogate 'id' key."
    )


def test_generate_keys_adds_a_surrogate_key_that_compiles_and_says_the_table_needs_it(hr_model, tmp_path):
    _without_primary_key(hr_model, "assignment")
    files = jpa.generate(hr_model, {"generate_keys": True, "namespace": "javax"})
    assignment = _by_path(files)[f"{HR}/Assignment.java"]

    assert "    @Id\n    @GeneratedValue(strategy = GenerationType.IDENTITY)\n" in assignment
    assert "// Custodian: assignment has no primary key in the catalog" in assignment
    assert f"{HR}/AssignmentId.java" not in _by_path(files)
    result = _javac(files, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_names_that_collide_after_conversion_are_refused(hr_model):
    employee = hr_model.entity("employee")
    employee.columns.append(dataclasses.replace(employee.column("hired_on"), id="x", name="hiredOn"))

    with pytest.raises(
        CodegenError, match="Entity 'employee': 'hired_on' and 'hiredOn' both become 'hiredOn'"
    ):
        jpa.generate(hr_model, {})


def test_entity_names_that_collide_as_classes_are_refused(hr_model):
    hr_model.entities.append(dataclasses.replace(hr_model.entity("employee"), id="x", name="EMPLOYEE"))

    with pytest.raises(
        CodegenError, match="Data store 'hr': 'employee' and 'EMPLOYEE' both become 'Employee'"
    ):
        jpa.generate(hr_model, {})


def test_type_without_a_java_equivalent_is_refused(hr_model):
    hr_model.entity("employee").column("namespace").data_type = "interval"

    with pytest.raises(CodegenError, match="'employee.namespace' has type 'interval', which has no Java"):
        jpa.generate(hr_model, {})


def test_class_named_like_a_used_type_gets_a_suffix(hr_model, tmp_path):
    hr_model.entity("department").name = "index"
    files = jpa.generate(hr_model, {"namespace": "javax"})

    assert f"{HR}/IndexEntity.java" in _by_path(files)
    assert "private IndexEntity department;" in _by_path(files)[f"{HR}/Employee.java"]
    assert _javac(files, tmp_path).returncode == 0


# A default of every catalog type, as a steward would write it.
EVERY_TYPE = [
    (
        "uuid",
        {},
        "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        'UUID.fromString("1b4e28ba-2fa1-11d2-883f-0016d3cca427")',
    ),
    ("varchar", {"length": 10}, " padded ", '" padded "'),
    ("char", {"length": 2}, "ab", '"ab"'),
    ("text", {}, 'say "hi"', '"say \\"hi\\""'),
    ("smallint", {}, "5", "(short) 5"),
    ("integer", {}, "-7", "-7"),
    ("bigint", {}, "9007199254740993", "9007199254740993L"),
    ("numeric", {"precision": 8, "scale": 3}, "1.250", 'new BigDecimal("1.250")'),
    ("real", {}, "1.5", "1.5f"),
    ("double", {}, "2.25", "2.25"),
    ("boolean", {}, "false", "false"),
    ("date", {}, "2020-02-29", 'LocalDate.parse("2020-02-29")'),
    ("time", {}, "12:30:00", 'LocalTime.parse("12:30:00")'),
    ("timestamp", {}, "2020-01-01 10:00:00", 'LocalDateTime.parse("2020-01-01T10:00:00")'),
    ("timestamptz", {}, "2020-01-01 10:00:00+02:00", 'OffsetDateTime.parse("2020-01-01T10:00:00+02:00")'),
    ("json", {}, '{"a": [1, 2]}', '"{\\"a\\": [1, 2]}"'),
    ("jsonb", {}, "5", '"5"'),
    ("bytea", {}, "\\x0102", None),
]


def test_every_catalog_type_maps_with_its_parameters_and_default_and_compiles(hr_model, tmp_path):
    employee = hr_model.entity("employee")
    template = employee.column("namespace")
    for position, (data_type, parameters, default, _java) in enumerate(EVERY_TYPE, 100):
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
    files = jpa.generate(hr_model, {"namespace": "javax"})
    source = _by_path(files)[f"{HR}/Employee.java"]

    for data_type, _parameters, default, java in EVERY_TYPE:
        field = jpa.java_identifier(f"{data_type}Value")
        java_type = jpa.JAVA_TYPES[data_type][0]
        if java is None:
            assert f"    private {java_type} {field};" in source
            assert f"the database default {default!r} has no Java literal here" in source
        else:
            assert f"    private {java_type} {field} = {java};" in source
    assert '@Column(name = "numeric_value", precision = 8, scale = 3)' in source
    assert '@Column(name = "jsonb_value", columnDefinition = "jsonb")' in source
    assert "UUID is a basic type from Jakarta Persistence 3.1 on" in source
    result = _javac(files, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_one_entity_alone_keeps_its_foreign_keys_as_plain_fields_and_compiles(demo_snapshot, tmp_path):
    items = next(i for i, e in demo_snapshot["entities"].items() if e["name"] == "order_items")
    files = jpa.generate(code_model_build(demo_snapshot, {items}), {"namespace": "javax"})
    source = _by_path(files)[f"{SHOP}/OrderItems.java"]

    assert sorted(_by_path(files)) == [f"{SHOP}/OrderItems.java", f"{SHOP}/OrderItemsId.java"]
    assert "order_items.product_id references an entity that is not generated here" in source
    assert '@Column(name = "product_id", nullable = false)\n    private Long productId;' in source
    assert "@ManyToOne" not in source and "@MapsId" not in source
    assert _javac(files, tmp_path).returncode == 0


# Their catalogs come from fixtures chosen at run time: marked so they run before transactional tests.
pytestmark = pytest.mark.django_db

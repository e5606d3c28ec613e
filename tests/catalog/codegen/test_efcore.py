"""Entity Framework Core: entity classes and a DbContext whose Fluent API says everything the catalog knows.

There is no .NET toolchain here, so these tests read the C# as structure: every file is lexically sound
(strings closed, brackets balanced), and each catalog column, key, index, relationship (both sides), check and
PII marker is found where EF Core expects it. Constraint names and check SQL are compared with Custodian's
own DDL for the same catalog, so EF's model and the database agree.
"""

import copy
import re

import pytest

from catalog.codegen import efcore
from catalog.codegen.base import CodegenError, code_model_build
from catalog.schema.ddl import ddl_render, schema_ddl
from catalog.schema.dialects import PROFILES
from catalog.schema.metadata import constraint_name

CLR = {
    "uuid": "Guid",
    "varchar": "string",
    "char": "string",
    "text": "string",
    "smallint": "short",
    "integer": "int",
    "bigint": "long",
    "numeric": "decimal",
    "real": "float",
    "double": "double",
    "boolean": "bool",
    "date": "DateOnly",
    "time": "TimeOnly",
    "timestamp": "DateTime",
    "timestamptz": "DateTimeOffset",
    "json": "string",
    "jsonb": "string",
    "bytea": "byte[]",
}
DELETE = {"cascade": "Cascade", "restrict": "Restrict", "set_null": "SetNull", "no_action": "NoAction"}


def pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


# --- Reading C# without a compiler --------------------------------------------------------------------------


def _code_only(text: str) -> str:
    """The C# with comments removed and string literals emptied; AssertionError on an unclosed literal."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("//", i):
            i = text.find("\n", i) if "\n" in text[i:] else len(text)
        elif text[i] == '"':
            end = i + 1
            while text[end] != '"':
                assert text[end] != "\n", f"string literal not closed on its line: {text[i : end + 1]!r}"
                end += 2 if text[end] == "\\" else 1
            out.append('""')
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _assert_balanced(text: str) -> None:
    pairs, stack = {")": "(", "]": "[", "}": "{"}, []
    for char in _code_only(text):
        if char in "([{":
            stack.append(char)
        elif char in pairs:
            assert stack and stack.pop() == pairs[char], "unbalanced brackets"
    assert not stack, "unclosed brackets"


def _statements(block: str) -> list[str]:
    """The block's top-level statements (split at `;` outside strings and brackets), lines joined."""
    statements, depth, current, i = [], 0, [], 0
    while i < len(block):
        char = block[i]
        if block.startswith("//", i):
            i = block.find("\n", i)
            continue
        if char == '"':
            end = i + 1
            while block[end] != '"':
                end += 2 if block[end] == "\\" else 1
            current.append(block[i : end + 1])
            i = end + 1
            continue
        depth += {"(": 1, "{": 1, ")": -1, "}": -1}.get(char, 0)
        current.append(char)
        if char == ";" and depth == 0:
            statements.append(re.sub(r"\n\s*", "", "".join(current)).strip())
            current = []
        i += 1
    return statements


class Output:
    """The generated files, with the DbContext cut into each entity's Fluent API statements."""

    def __init__(self, files):
        self.files = {f.path: f.content for f in files}
        self.context = next(text for path, text in self.files.items() if path.endswith("DbContext.cs"))
        self.blocks = {
            name: _statements(body)
            for name, body in re.findall(
                r"modelBuilder\.Entity<(\w+)>\(entity =>\n {8}\{\n(.*?)\n {8}\}\);", self.context, re.S
            )
        }

    def klass(self, name: str) -> str:
        return self.files[f"{name}.cs"]

    def statement(self, entity_class: str, prefix: str) -> str:
        found = [s for s in self.blocks[entity_class] if s.startswith(prefix)]
        assert len(found) == 1, f"{entity_class}: {len(found)} statements start with {prefix!r}"
        return found[0]


def _generate(snapshot, **options) -> Output:
    return Output(efcore.generate(code_model_build(snapshot), options))


@pytest.fixture(params=["demo_snapshot", "introspected_snapshot"])
def snapshot(request):
    return request.getfixturevalue(request.param)


# --- The catalog, column by column --------------------------------------------------------------------------


def test_every_file_is_lexically_sound_csharp(snapshot):
    output = _generate(snapshot)
    for path, text in output.files.items():
        _assert_balanced(text)
        assert "#nullable enable" in text and re.search(r"^namespace \w+(\.\w+)*;$", text, re.M), path


def test_every_column_is_a_property_mapped_to_its_column_with_its_type_length_and_nullability(snapshot):
    model = code_model_build(snapshot)
    output = _generate(snapshot)
    for entity in model.entities:
        klass = output.klass(pascal(entity.name))
        for column in entity.columns:
            prop = pascal(column.name)
            declared = CLR[column.data_type] + ("?" if column.nullable else "")
            assert re.search(rf"public {re.escape(declared)} {prop} {{ get; set; }}", klass), (
                entity.name,
                prop,
            )
            config = output.statement(pascal(entity.name), f"entity.Property(e => e.{prop})")
            assert f'.HasColumnName("{column.name}")' in config
            assert (".IsRequired()" in config) is (not column.nullable)
            if column.data_type in ("varchar", "char"):
                assert f".HasMaxLength({column.length})" in config
            if column.data_type == "char":
                assert ".IsFixedLength()" in config
            if column.data_type == "numeric" and column.precision:
                assert f".HasPrecision({column.precision}, {column.scale})" in config
            if column.description:
                assert f".HasComment({efcore.csharp_string(column.description)})" in config


def test_primary_keys_single_and_composite_carry_the_ddl_constraint_names(snapshot):
    model = code_model_build(snapshot)
    output = _generate(snapshot)
    ddl = ddl_render(schema_ddl(snapshot, PROFILES["postgresql"]))
    for entity in model.entities:
        key = [pascal(c.name) for c in entity.primary_key]
        keys = (
            f"e => e.{key[0]}" if len(key) == 1 else "e => new { " + ", ".join(f"e.{k}" for k in key) + " }"
        )
        name = constraint_name(
            PROFILES["postgresql"], entity.name, [c.name for c in entity.primary_key], "pk"
        )
        assert (
            output.statement(pascal(entity.name), "entity.HasKey(")
            == f'entity.HasKey({keys}).HasName("{name}");'
        )
        assert f'CONSTRAINT "{name}" PRIMARY KEY' in ddl


def test_composite_keys_of_the_reverse_engineered_and_demo_catalogs(demo_snapshot, introspected_snapshot):
    hr, shop = _generate(introspected_snapshot), _generate(demo_snapshot)
    assert hr.statement("Assignment", "entity.HasKey(").startswith(
        "entity.HasKey(e => new { e.EmployeeId, e.ProjectCode })"
    )
    assert shop.statement("OrderItems", "entity.HasKey(").startswith(
        "entity.HasKey(e => new { e.OrderId, e.LineNo })"
    )
    # A lone integer key is the application's, as in the catalog: EF must not treat it as an identity column.
    assert ".ValueGeneratedNever()" in shop.statement("Users", "entity.Property(e => e.Id)")
    assert ".ValueGeneratedNever()" not in shop.statement("OrderItems", "entity.Property(e => e.LineNo)")


def test_indexes_and_unique_columns_with_order_filter_include_and_names(snapshot):
    model = code_model_build(snapshot)
    output = _generate(snapshot)
    ddl = ddl_render(schema_ddl(snapshot, PROFILES["postgresql"]))
    for entity in model.entities:
        klass = pascal(entity.name)
        for index in entity.indexes:
            props = [pascal(name) for name, _order in index.columns]
            keys = (
                f"e => e.{props[0]}"
                if len(props) == 1
                else "e => new { " + ", ".join(f"e.{p}" for p in props) + " }"
            )
            statement = output.statement(klass, f'entity.HasIndex({keys}, "{index.name}")')
            assert (".IsUnique()" in statement) is index.is_unique
            descending = [order == "desc" for _name, order in index.columns]
            if any(descending):
                assert f".IsDescending({', '.join(str(d).lower() for d in descending)})" in statement
            else:
                assert "IsDescending" not in statement
            assert (".HasFilter(" in statement) is bool(index.condition)
            for name in index.include:
                assert f"e => e.{pascal(name)}" in statement.split(".IncludeProperties(")[1]
        for column in entity.columns:
            if column.is_unique and [c.name for c in entity.primary_key] != [column.name]:
                name = constraint_name(PROFILES["postgresql"], entity.name, [column.name], "uniq")
                assert output.statement(
                    klass, f'entity.HasIndex(e => e.{pascal(column.name)}, "{name}")'
                ).endswith(".IsUnique();")
                assert f'CONSTRAINT "{name}" UNIQUE' in ddl


def test_index_details_on_the_demo_and_reverse_engineered_catalogs(demo_snapshot, introspected_snapshot):
    shop, hr = _generate(demo_snapshot), _generate(introspected_snapshot)
    assert shop.statement("Orders", 'entity.HasIndex(e => e.Status, "orders_open_idx")') == (
        'entity.HasIndex(e => e.Status, "orders_open_idx").HasFilter("\\"status\\" <> \'shipped\'")'
        ".IncludeProperties(e => e.TotalAmount);"
    )
    assert hr.statement("Employee", 'entity.HasIndex(e => e.HiredOn, "employee_recent_idx")') == (
        'entity.HasIndex(e => e.HiredOn, "employee_recent_idx").IsDescending(true)'
        '.HasFilter("\\"import\\" = FALSE");'
    )
    # EF's own index per foreign key is off: the catalog lists every index the database has.
    assert "Conventions.Remove(typeof(ForeignKeyIndexConvention))" in shop.context


def test_every_relationship_is_configured_with_both_navigations_and_its_delete_rule(snapshot):
    model = code_model_build(snapshot)
    output = _generate(snapshot)
    for entity in model.entities:
        for fk in entity.foreign_keys:
            dependent, principal = pascal(fk.entity.name), pascal(fk.target_entity.name)
            foreign_key = f".HasForeignKey(d => d.{pascal(fk.column.name)})"
            (statement,) = [
                s for s in output.blocks[dependent] if s.startswith("entity.HasOne(") and foreign_key in s
            ]
            reference, inverse = re.match(
                r"entity\.HasOne\(d => d\.(\w+)\)\.WithMany\(p => p\.(\w+)\)", statement
            ).groups()
            assert f".OnDelete(DeleteBehavior.{DELETE[fk.on_delete]})" in statement
            name = constraint_name(PROFILES["postgresql"], fk.entity.name, [fk.column.name], "fk")
            assert f'.HasConstraintName("{name}")' in statement
            declared = principal + ("?" if fk.column.nullable else "")
            assert f"public virtual {declared} {reference} {{ get; set; }}" in output.klass(dependent)
            collection = f"public virtual ICollection<{dependent}> {inverse} {{ get; set; }}"
            assert f"{collection} = new List<{dependent}>();" in output.klass(principal)


def test_relationship_names_on_the_demo_and_reverse_engineered_catalogs(demo_snapshot, introspected_snapshot):
    shop, hr = _generate(demo_snapshot), _generate(introspected_snapshot)
    expected = [
        (
            hr,
            "Department",
            "HasOne(d => d.Parent).WithMany(p => p.InverseParent)",
            "SetNull",
        ),  # self-reference
        (hr, "Employee", "HasOne(d => d.Department).WithMany(p => p.Employee)", "Restrict"),
        (hr, "Assignment", "HasOne(d => d.Employee).WithMany(p => p.Assignment)", "Cascade"),
        (shop, "Orders", "HasOne(d => d.Customer).WithMany(p => p.Orders)", "Restrict"),
        (shop, "Orders", "HasOne(d => d.ShippingAddress).WithMany(p => p.Orders)", "SetNull"),
        (shop, "OrderItems", "HasOne(d => d.Order).WithMany(p => p.OrderItems)", "Cascade"),
        (shop, "Customers", "HasOne(d => d.User).WithMany(p => p.Customers)", "SetNull"),
    ]
    for output, klass, navigation, behavior in expected:
        statement = output.statement(klass, f"entity.{navigation}")
        assert f".OnDelete(DeleteBehavior.{behavior})" in statement
    department = hr.klass("Department")
    assert "public virtual Department? Parent { get; set; }" in department
    assert "public virtual ICollection<Department> InverseParent { get; set; }" in department


def test_one_to_one_principal_keys_and_two_references_to_one_table(introspected_snapshot):
    snapshot = copy.deepcopy(introspected_snapshot)
    department = next(e for e in snapshot["entities"].values() if e["name"] == "department")
    ids = {c["name"]: cid for cid, c in department["columns"].items()}
    department["columns"][ids["parent_id"]]["is_unique"] = True  # one sub-unit per unit: one-to-one
    _add_column(
        snapshot, "employee", "department_name", data_type="varchar", length=80, references_id=ids["name"]
    )
    _add_column(
        snapshot, "employee", "paid", data_type="integer", references_id=ids["id"], on_delete="no_action"
    )
    output = _generate(snapshot)
    assert output.statement("Department", "entity.HasOne(d => d.Parent)") == (
        "entity.HasOne(d => d.Parent).WithOne(p => p.InverseParent)"
        ".HasForeignKey<Department>(d => d.ParentId).OnDelete(DeleteBehavior.SetNull)"
        f'.HasConstraintName("{constraint_name(PROFILES["postgresql"], "department", ["parent_id"], "fk")}");'
    )
    assert "public virtual Department? InverseParent { get; set; }" in output.klass("Department")
    # Three references from employee to department: each inverse navigation says which one it is.
    by_id = output.statement("Employee", "entity.HasOne(d => d.Department)")
    assert ".WithMany(p => p.EmployeeDepartment)" in by_id and "HasPrincipalKey" not in by_id
    # No id suffix: named after the target class, or after the column when that name is taken.
    by_name = output.statement("Employee", "entity.HasOne(d => d.DepartmentNameNavigation)")
    assert ".WithMany(p => p.EmployeeDepartmentNameNavigation)" in by_name
    # A reference to a unique column that is not the key names that column as the principal key.
    assert ".HasPrincipalKey(p => p.Name)" in by_name
    paid = output.statement("Employee", "entity.HasOne(d => d.PaidNavigation)")
    assert ".WithMany(p => p.EmployeePaidNavigation)" in paid and ".OnDelete(DeleteBehavior.NoAction)" in paid
    assert "public virtual Department DepartmentNameNavigation { get; set; } = null!;" in output.klass(
        "Employee"
    )
    assert "public virtual ICollection<Employee> EmployeePaidNavigation" in output.klass("Department")
    for text in output.files.values():
        _assert_balanced(text)


def _expected_rules(column) -> list[str]:
    rules = []
    rules += ["min"] if column.min_value else []
    rules += ["max"] if column.max_value else []
    rules += ["in"] if column.allowed_values else []
    rules += ["len"] if column.min_length is not None else []
    rules += ["re"] if column.pattern else []
    return rules


@pytest.mark.parametrize("engine", sorted(PROFILES))
def test_check_constraints_are_the_ddl_checks_of_the_store_dialect(snapshot, engine):
    snapshot = copy.deepcopy(snapshot)
    snapshot["datastore"]["engine"] = engine
    profile = PROFILES[engine]
    model = code_model_build(snapshot)
    output = _generate(snapshot)
    ddl = ddl_render(schema_ddl(snapshot, profile))
    for entity in model.entities:
        table = output.statement(pascal(entity.name), "entity.ToTable(")
        checks = dict(re.findall(r't\.HasCheckConstraint\("([^"]+)", ("(?:[^"\\]|\\.)*")\);', table))
        expected = set()
        for column in entity.columns:
            for suffix in _expected_rules(column):
                if suffix == "re" and not profile.supports_regex_check:
                    assert (
                        f"{entity.name}.{column.name}: {profile.label} has no regular expressions"
                        in output.context
                    )
                    continue
                expected.add(constraint_name(profile, entity.name, [column.name], suffix))
        assert set(checks) == expected
        for name, literal in checks.items():
            sql = literal[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            assert f"CONSTRAINT {profile.quote(name)} CHECK ({sql})" in ddl


@pytest.mark.parametrize("engine", sorted(PROFILES))
def test_each_dialect_gets_what_it_can_express_and_comments_on_the_rest(demo_snapshot, engine):
    snapshot = copy.deepcopy(demo_snapshot)
    snapshot["datastore"]["engine"] = engine
    profile = PROFILES[engine]
    output = _generate(snapshot)
    for text in output.files.values():
        _assert_balanced(text)
    orders_open = output.statement("Orders", 'entity.HasIndex(e => e.Status, "orders_open_idx")')
    assert ("HasFilter" in orders_open) is profile.supports_partial_index
    assert ("IncludeProperties" in orders_open) is profile.supports_index_include
    if not profile.supports_partial_index:
        assert "// Custodian: index orders_open_idx: MySQL has no partial indexes" in output.context
    schema = ', "shop"' if profile.supports_schemas else ""
    assert output.statement("Users", "entity.ToTable(").startswith(f'entity.ToTable("users"{schema}')
    created_at = output.statement("Users", "entity.Property(e => e.CreatedAt)")
    assert f".HasDefaultValueSql({efcore.csharp_string(profile.default_functions['now()'])})" in created_at


def test_defaults_are_database_defaults_and_property_initial_values(demo_snapshot, introspected_snapshot):
    shop, hr = _generate(demo_snapshot), _generate(introspected_snapshot)
    segment = shop.statement("Customers", "entity.Property(e => e.Segment)")
    assert '.HasDefaultValue("retail").ValueGeneratedNever()' in segment
    assert 'public string Segment { get; set; } = "retail";' in shop.klass("Customers")
    assert "public bool Active { get; set; } = true;" in shop.klass("Products")
    assert '.HasDefaultValueSql("gen_random_uuid()")' in shop.statement(
        "Payments", "entity.Property(e => e.Id)"
    )
    assert '.HasDefaultValueSql("CURRENT_DATE")' in hr.statement(
        "Employee", "entity.Property(e => e.HiredOn)"
    )
    assert ".HasDefaultValue(false)" in hr.statement("Employee", "entity.Property(e => e.Import)")


def test_defaults_of_every_numeric_type_are_literals_of_the_property_type(introspected_snapshot):
    snapshot = copy.deepcopy(introspected_snapshot)
    employee = next(e for e in snapshot["entities"].values() if e["name"] == "employee")
    salary = next(c for c in employee["columns"].values() if c["name"] == "salary")
    salary["default_value"] = "1250.50"
    hours = next(
        c for e in snapshot["entities"].values() for c in e["columns"].values() if c["name"] == "hours"
    )
    hours["default_value"] = "8"
    hr = _generate(snapshot)
    assert ".HasDefaultValue(1250.50m)" in hr.statement("Employee", "entity.Property(e => e.Salary)")
    assert "public decimal? Salary { get; set; } = 1250.50m;" in hr.klass("Employee")
    assert ".HasDefaultValue((short)8)" in hr.statement("Assignment", "entity.Property(e => e.Hours)")


# --- Names --------------------------------------------------------------------------------------------------


def test_reserved_words_become_pascal_case_properties_mapped_to_their_columns(introspected_snapshot):
    hr = _generate(introspected_snapshot)
    employee = hr.klass("Employee")
    for column, prop, declared in [
        ("class", "Class", "string?"),
        ("import", "Import", "bool"),
        ("namespace", "Namespace", "string?"),
    ]:
        assert f"public {declared} {prop} {{ get; set; }}" in employee
        assert f'.HasColumnName("{column}")' in hr.statement("Employee", f"entity.Property(e => e.{prop})")
    for keyword in ("class", "import", "namespace"):
        assert not re.search(rf"public \S+ @?{keyword} {{ get; set; }}", employee)


def test_a_keyword_in_the_namespace_is_escaped_and_a_bad_namespace_refused(introspected_snapshot):
    model = code_model_build(introspected_snapshot)
    files = efcore.generate(model, {"namespace": "Acme.namespace.Hr"})
    assert all("namespace Acme.@namespace.Hr;" in f.content for f in files)
    assert all("namespace Hr.Data;" in f.content for f in efcore.generate(model, {}))
    with pytest.raises(CodegenError, match="'Acme-Hr' is not a C# identifier"):
        efcore.generate(model, {"namespace": "Acme-Hr.Data"})


@pytest.mark.parametrize(
    "rename, expected_class, expected_property",
    [
        # C# forbids a member named like its class: the property is renamed, the column mapping kept.
        (("employee", "namespace", "employee"), "Employee", ("EmployeeValue", "employee")),
        # An object member would be hidden by the property.
        (("employee", "namespace", "to_string"), "Employee", ("ToStringValue", "to_string")),
        # A class named like a type the generated code uses (List<T>) would shadow it.
        (("employee", None, "list"), "ListEntity", None),
    ],
)
def test_names_that_clash_with_csharp_are_renamed_consistently(
    introspected_snapshot, rename, expected_class, expected_property
):
    snapshot = copy.deepcopy(introspected_snapshot)
    entity_name, column_name, new_name = rename
    entity = next(e for e in snapshot["entities"].values() if e["name"] == entity_name)
    if column_name is None:
        entity["name"] = new_name
    else:
        next(c for c in entity["columns"].values() if c["name"] == column_name)["name"] = new_name
    output = _generate(snapshot)
    assert f"public partial class {expected_class}" in output.klass(expected_class)
    assert f"public DbSet<{expected_class}> {expected_class} => Set<{expected_class}>();" in output.context
    if expected_property:
        prop, column = expected_property
        assert f'.HasColumnName("{column}")' in output.statement(
            expected_class, f"entity.Property(e => e.{prop})"
        )
    for text in output.files.values():
        _assert_balanced(text)


def test_descriptions_are_xml_doc_comments_and_hostile_text_stays_inside_them(introspected_snapshot):
    snapshot = copy.deepcopy(introspected_snapshot)
    department = next(e for e in snapshot["entities"].values() if e["name"] == "department")
    department["description"] = 'Units </summary> & "teams"\nsecond line \\ end'
    name = next(c for c in department["columns"].values() if c["name"] == "name")
    name["description"] = 'Display name; "quoted" */ // not code'
    output = _generate(snapshot)
    klass = output.klass("Department")
    assert '/// Units &lt;/summary&gt; &amp; "teams"\n/// second line \\ end' in klass
    assert '/// Display name; "quoted" */ // not code' in klass
    assert 't.HasComment("Units </summary> & \\"teams\\"\\nsecond line \\\\ end");' in output.statement(
        "Department", "entity.ToTable("
    )
    assert output.statement("Department", "entity.Property(e => e.Name)").endswith(
        '.HasComment("Display name; \\"quoted\\" */ // not code");'
    )
    _assert_balanced(output.context)
    assert "/// Gross yearly salary" in output.klass("Employee")


def test_pii_columns_carry_an_attribute_and_a_model_annotation(snapshot):
    model = code_model_build(snapshot)
    output = _generate(snapshot)
    assert "[AttributeUsage(AttributeTargets.Property" in output.files["PiiAttribute.cs"]
    pii_columns = [(e, c) for e in model.entities for c in e.columns if c.is_pii]
    assert pii_columns
    for entity, column in pii_columns:
        prop = pascal(column.name)
        marker = f'[Pii("{column.pii_category}", "{column.masking_strategy}")]\n    public '
        assert re.search(re.escape(marker) + rf"\S+ {prop} ", output.klass(pascal(entity.name))), (
            entity.name,
            prop,
        )
        config = output.statement(pascal(entity.name), f"entity.Property(e => e.{prop})")
        assert f'.HasAnnotation("Custodian:Pii", "{column.pii_label}")' in config
    for entity in model.entities:
        for column in entity.columns:
            if not column.is_pii:
                assert not re.search(
                    rf"\[Pii\([^)]*\)\]\n    public \S+ {pascal(column.name)} ",
                    output.klass(pascal(entity.name)),
                )


# --- Determinism and bad input ------------------------------------------------------------------------------


def test_output_is_deterministic_whatever_order_the_catalog_comes_in(snapshot):
    first = efcore.generate(code_model_build(snapshot), {})
    shuffled = copy.deepcopy(snapshot)
    shuffled["entities"] = dict(reversed(list(shuffled["entities"].items())))
    for entity in shuffled["entities"].values():
        entity["columns"] = dict(reversed(list(entity["columns"].items())))
        entity["indexes"] = dict(reversed(list(entity["indexes"].items())))
    assert efcore.generate(code_model_build(shuffled), {}) == first
    assert efcore.generate(code_model_build(snapshot), {}) == first


def _without_key(snapshot, entity_name):
    snapshot = copy.deepcopy(snapshot)
    entity = next(e for e in snapshot["entities"].values() if e["name"] == entity_name)
    for column in entity["columns"].values():
        column["primary_key_position"] = None
    return snapshot


def test_entity_without_primary_key_is_refused_unless_a_key_is_asked_for(introspected_snapshot):
    snapshot = _without_key(introspected_snapshot, "assignment")
    with pytest.raises(CodegenError, match="Entity 'assignment' has no primary key.*generate_keys"):
        _generate(snapshot)
    output = _generate(snapshot, generate_keys=True)
    assert output.statement("Assignment", "entity.HasKey(") == "entity.HasKey(e => e.Id);"
    assert '.HasColumnName("id")' in output.statement("Assignment", "entity.Property(e => e.Id)")
    assert ".ValueGeneratedOnAdd()" in output.statement("Assignment", "entity.Property(e => e.Id)")
    assert "public long Id { get; set; }" in output.klass("Assignment")
    assert "// Custodian: assignment has no primary key in the catalog; Id (column id" in output.context
    assert "// Custodian: assignment has no primary key in the catalog" in output.klass("Assignment")


def test_a_generated_key_never_takes_over_an_existing_id_column(demo_snapshot):
    snapshot = _without_key(demo_snapshot, "products")
    with pytest.raises(
        CodegenError, match="Entity 'products' has no primary key but already has a column 'id'"
    ):
        _generate(snapshot, generate_keys=True)


def _add_column(snapshot, entity_name, name, **fields):
    entity = next(e for e in snapshot["entities"].values() if e["name"] == entity_name)
    template = next(iter(entity["columns"].values()))
    entity["columns"][f"added-{name}"] = {
        **template,
        "name": name,
        "position": 99,
        "primary_key_position": None,
        "is_unique": False,
        "references_id": None,
        **fields,
    }


def test_names_that_collide_after_case_conversion_are_refused(demo_snapshot):
    snapshot = copy.deepcopy(demo_snapshot)
    _add_column(snapshot, "orders", "customerId")
    with pytest.raises(
        CodegenError, match="Entity 'orders': 'customer_id' and 'customerId' both become 'CustomerId'"
    ):
        _generate(snapshot)
    snapshot = copy.deepcopy(demo_snapshot)
    copied = copy.deepcopy(next(e for e in snapshot["entities"].values() if e["name"] == "order_items"))
    copied["name"], copied["columns"], copied["indexes"] = "orderItems", {}, {}
    snapshot["entities"]["copied"] = copied
    with pytest.raises(CodegenError, match="'orderItems' and 'order_items' both become 'OrderItems'"):
        _generate(snapshot)


def test_a_type_ef_core_has_no_equivalent_for_is_refused(introspected_snapshot):
    snapshot = copy.deepcopy(introspected_snapshot)
    _add_column(snapshot, "employee", "shift", data_type="interval")
    with pytest.raises(CodegenError, match="Column 'employee.shift' has type 'interval'"):
        _generate(snapshot)


def test_what_ef_core_cannot_express_is_a_comment_not_a_silent_drop(introspected_snapshot):
    snapshot = copy.deepcopy(introspected_snapshot)
    employee = next(e for e in snapshot["entities"].values() if e["name"] == "employee")
    next(c for c in employee["columns"].values() if c["name"] == "department_id")["on_delete"] = "set_default"
    _add_column(snapshot, "employee", "profile", data_type="jsonb", nullable=True, default_value="")
    output = _generate(snapshot)
    relationship = output.statement("Employee", "entity.HasOne(d => d.Department)")
    assert ".OnDelete(DeleteBehavior.NoAction)" in relationship
    assert (
        "// Custodian: employee.department_id: ON DELETE SET DEFAULT has no EF Core DeleteBehavior"
        in output.context
    )
    assert '.HasColumnType("jsonb")' in output.statement("Employee", "entity.Property(e => e.Profile)")
    assert "// Custodian: employee.profile (jsonb) is a string holding JSON text" in output.klass("Employee")


def test_relationships_need_one_clr_type_on_both_sides(introspected_snapshot):
    snapshot = copy.deepcopy(introspected_snapshot)
    department = next(e for e in snapshot["entities"].values() if e["name"] == "department")
    next(c for c in department["columns"].values() if c["name"] == "id")["data_type"] = "bigint"
    output = _generate(snapshot)
    assert not [s for s in output.blocks["Employee"] if s.startswith("entity.HasOne(d => d.Department)")]
    assert (
        "// Custodian: employee.department_id (integer) references department.id (bigint)" in output.context
    )
    assert "ICollection<Employee>" not in output.klass("Department")


def test_one_entity_alone_keeps_its_foreign_key_columns_and_says_why_there_is_no_navigation(demo_snapshot):
    orders = next(eid for eid, e in demo_snapshot["entities"].items() if e["name"] == "orders")
    output = Output(efcore.generate(code_model_build(demo_snapshot, {orders}), {}))
    assert sorted(output.files) == ["Orders.cs", "ShopDbContext.cs"]
    assert "public long CustomerId { get; set; }" in output.klass("Orders")
    assert not [s for s in output.blocks["Orders"] if s.startswith("entity.HasOne(")]
    assert (
        "// Custodian: orders.customer_id references an entity that is not generated here" in output.context
    )


def test_audit_columns_are_mapped_and_may_not_clash_with_the_entitys_own(introspected_snapshot):
    snapshot = copy.deepcopy(introspected_snapshot)
    department = next(e for e in snapshot["entities"].values() if e["name"] == "department")
    department["has_audit_columns"] = True
    output = _generate(snapshot)
    assert "public DateTimeOffset CreatedAt { get; set; }" in output.klass("Department")
    assert "public string? UpdatedBy { get; set; }" in output.klass("Department")
    assert ".HasDefaultValue(1).ValueGeneratedNever()" in output.statement(
        "Department", "entity.Property(e => e.Version)"
    )
    _add_column(snapshot, "department", "created_at", data_type="timestamptz")
    with pytest.raises(CodegenError, match="Entity 'department' has audit columns and its own column"):
        _generate(snapshot)


# Their catalogs come from fixtures chosen at run time: marked so they run before transactional tests.
pytestmark = pytest.mark.django_db

"""SQLAlchemy models from the catalog: `create_all` builds the schema Custodian's own DDL builds.

The helpers at the top (scratch schemas, schema facts, catalog snapshots written as dicts) are shared with
test_django.py.
"""

import copy
import importlib.util
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from catalog.codegen.base import CodegenError, code_model_build
from catalog.codegen.sqlalchemy_models import generate
from catalog.schema.ddl import ddl_render, schema_ddl
from catalog.schema.dialects import profile_for
from core.quoting import forced, identifier
from tests.catalog.schema.conftest import run_sql

POSTGRESQL = profile_for("postgresql")


# --- Shared helpers -----------------------------------------------------------------------------------


def custodian_schema(url: str, snapshot: dict) -> None:
    """Custodian's own DDL for the snapshot, run in an empty database after CREATE SCHEMA."""
    schema = snapshot["datastore"]["schema"]
    run_sql(
        url,
        sql.SQL("CREATE SCHEMA {}").format(identifier(schema)),
        ddl_render(schema_ddl(snapshot, POSTGRESQL)),
    )


def schema_facts(url: str, schema: str) -> dict:
    """What a reader of the database sees of each table of `schema`, through sqlalchemy.inspect."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            return {
                table: _table_facts(inspector, schema, table)
                for table in sorted(inspector.get_table_names(schema=schema))
            }
    finally:
        engine.dispose()


def _table_facts(inspector, schema: str, table: str) -> dict:
    dialect = postgresql.dialect()
    key = inspector.get_pk_constraint(table, schema=schema)
    return {
        "comment": inspector.get_table_comment(table, schema=schema)["text"],
        "columns": [
            (c["name"], c["type"].compile(dialect=dialect), c["nullable"], c["default"], c.get("comment"))
            for c in inspector.get_columns(table, schema=schema)
        ],
        "primary_key": (key["name"], tuple(key["constrained_columns"])),
        "foreign_keys": sorted(
            (
                fk["name"],
                tuple(fk["constrained_columns"]),
                fk["referred_schema"],
                fk["referred_table"],
                tuple(fk["referred_columns"]),
                tuple(sorted(fk["options"].items())),
            )
            for fk in inspector.get_foreign_keys(table, schema=schema)
        ),
        "unique_constraints": sorted(
            (u["name"], tuple(u["column_names"]))
            for u in inspector.get_unique_constraints(table, schema=schema)
        ),
        "checks": sorted(
            (c["name"], c["sqltext"]) for c in inspector.get_check_constraints(table, schema=schema)
        ),
        "indexes": sorted(
            (
                i["name"],
                tuple(i["column_names"]),
                bool(i["unique"]),
                tuple(sorted((k, tuple(v)) for k, v in (i.get("column_sorting") or {}).items())),
                tuple(sorted((k, str(v)) for k, v in (i.get("dialect_options") or {}).items())),
            )
            for i in inspector.get_indexes(table, schema=schema)
        ),
    }


def catalog_column(name: str, position: int, data_type: str, **fields) -> dict:
    """A snapshot column with the catalog's defaults for everything not given."""
    return {
        "name": name,
        "position": position,
        "data_type": data_type,
        "length": None,
        "precision": None,
        "scale": None,
        "nullable": True,
        "default_value": "",
        "primary_key_position": None,
        "is_unique": False,
        "min_value": "",
        "max_value": "",
        "min_length": None,
        "pattern": "",
        "allowed_values": [],
        "description": "",
        "pii_category": "none",
        "masking_strategy": "none",
        "references_id": None,
        "on_delete": "no_action",
        **fields,
    }


def catalog_entity(name: str, columns: dict, indexes: dict | None = None, **fields) -> dict:
    return {
        "name": name,
        "kind": "table",
        "description": "",
        "has_audit_columns": False,
        "partition_column_id": None,
        "columns": columns,
        "indexes": indexes or {},
        **fields,
    }


def catalog_index(name: str, columns: list, **fields) -> dict:
    return {
        "name": name,
        "is_unique": False,
        "method": "btree",
        "condition": "",
        "description": "",
        "columns": columns,
        "include": [],
        **fields,
    }


def snapshot_of(entities: dict, schema: str = "lab") -> dict:
    return {
        "datastore": {"id": "1", "name": "lab", "engine": "postgresql", "schema": schema},
        "entities": entities,
    }


def rich_snapshot() -> dict:
    """Every type, default kind and check kind; audit columns; hostile names (camelCase, `text`, `metadata`);
    two keys to one table; a one-to-one key that is the primary key; hash, GIN and partial unique indexes."""
    pk = {"primary_key_position": 1, "nullable": False}
    sample = {
        "s1": catalog_column("id", 1, "uuid", default_value="gen_random_uuid()", **pk),
        "s2": catalog_column(
            "sampleCode",
            2,
            "varchar",
            length=20,
            nullable=False,
            is_unique=True,
            min_length=3,
            pattern="^[A-Z]",
        ),
        "s3": catalog_column("text", 3, "text", description='Free "notes"\nwith a second line \\ backslash'),
        "s4": catalog_column("metadata", 4, "jsonb"),
        "s5": catalog_column("payload", 5, "json"),
        "s6": catalog_column("raw", 6, "bytea", pii_category="health", masking_strategy="redact"),
        "s7": catalog_column("taken_at", 7, "timestamp", nullable=False, default_value="2024-01-31 10:00:00"),
        "s8": catalog_column("taken_time", 8, "time", default_value="08:30:00"),
        "s9": catalog_column("ratio", 9, "real"),
        "s10": catalog_column("score", 10, "double", default_value="1.5"),
        "s11": catalog_column("amount", 11, "numeric"),
        "s12": catalog_column(
            "weight",
            12,
            "numeric",
            precision=8,
            scale=3,
            default_value="0.000",
            min_value="0",
            max_value="1000",
        ),
        "s13": catalog_column("taken_on", 13, "date", default_value="current_date", min_value="2000-01-01"),
        "s14": catalog_column("flag", 14, "boolean", nullable=False, default_value="true"),
        "s15": catalog_column(
            "ref_code", 15, "char", length=4, default_value="AB12", allowed_values=["AB12", "CD34"]
        ),
        "s16": catalog_column("level", 16, "smallint", allowed_values=[1, 2, 3]),
        "s17": catalog_column(
            "lab_id", 17, "integer", nullable=False, references_id="l1", on_delete="cascade"
        ),
        "s18": catalog_column("backup_lab_id", 18, "integer", references_id="l1", on_delete="set_null"),
        "s19": catalog_column("received_at", 19, "timestamptz", default_value="now()"),
    }
    sample_indexes = {
        "i1": catalog_index("sample_metadata_gin", [["s4", "asc"]], method="gin"),
        "i2": catalog_index("sample_code_hash", [["s2", "asc"]], method="hash"),
        "i3": catalog_index(
            "sample_lab_code_idx",
            [["s17", "asc"], ["s2", "desc"]],
            is_unique=True,
            condition='flag = true AND "sampleCode" IS NOT NULL',
        ),
        "i4": catalog_index("sample_lab_taken_idx", [["s17", "asc"]], include=["s7"], condition="level > 1"),
    }
    return snapshot_of(
        {
            "e1": catalog_entity(
                "sample",
                sample,
                sample_indexes,
                description='Samples "as taken"',
                has_audit_columns=True,
            ),
            "e2": catalog_entity(
                "lab",
                {
                    "l1": catalog_column("id", 1, "integer", **pk),
                    "l2": catalog_column("name", 2, "varchar", length=50, nullable=False),
                    # A unique key back to sample: a cycle of foreign keys, and a one-to-one relationship.
                    "l3": catalog_column(
                        "head_sample_id", 3, "uuid", is_unique=True, references_id="s1", on_delete="set_null"
                    ),
                },
            ),
            "e3": catalog_entity(
                "label",
                {
                    "b1": catalog_column(
                        "sample_id", 1, "uuid", references_id="s1", on_delete="cascade", **pk
                    ),
                    "b2": catalog_column("printed", 2, "boolean", nullable=False, default_value="false"),
                },
            ),
        }
    )


def ruff_findings(source: str, tmp_path: Path) -> str:
    """What ruff's pyflakes, syntax and import-order rules say of a generated file ('' when nothing)."""
    path = tmp_path / f"ruff_{uuid.uuid4().hex[:8]}.py"
    path.write_text(source)
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run(
        [str(ruff), "check", "--isolated", "--select", "F,E9,I", "--output-format", "concise", str(path)],
        capture_output=True,
        text=True,
    )
    return "" if result.returncode == 0 else result.stdout + result.stderr


# --- Loading the generated module ---------------------------------------------------------------------


@pytest.fixture
def load_models(tmp_path):
    """load(source) imports a generated models.py as a fresh module; it is forgotten after the test."""
    loaded = []

    def load(source: str):
        name = f"generated_models_{uuid.uuid4().hex[:10]}"
        path = tmp_path / f"{name}.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        # SQLAlchemy resolves the annotations in the module's namespace, so it must be registered.
        sys.modules[name] = module
        loaded.append(name)
        spec.loader.exec_module(module)
        sa.orm.configure_mappers()
        return module

    yield load
    for name in loaded:
        sys.modules.pop(name, None)


def models_source(snapshot: dict, **options) -> str:
    (generated,) = generate(code_model_build(snapshot), options)
    assert generated.path == "models.py"
    return generated.content


def create_all(url: str, module, schema: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.schema.CreateSchema(forced(schema)))
            module.Base.metadata.create_all(connection)
    finally:
        engine.dispose()


# --- The proof: the same schema both ways -------------------------------------------------------------


@pytest.mark.parametrize("catalog", ["demo_snapshot", "introspected_snapshot", "rich"])
def test_create_all_builds_the_schema_custodian_ddl_builds(request, catalog, scratch_database, load_models):
    snapshot = rich_snapshot() if catalog == "rich" else request.getfixturevalue(catalog)
    schema = snapshot["datastore"]["schema"]
    module = load_models(models_source(snapshot))
    from_models, from_ddl = scratch_database(), scratch_database()
    create_all(from_models, module, schema)
    custodian_schema(from_ddl, snapshot)

    expected = schema_facts(from_ddl, schema)
    assert sorted(expected) == sorted(e["name"] for e in snapshot["entities"].values())
    # Names, types, nullability, defaults and comments of columns; keys, checks and indexes with their names.
    assert schema_facts(from_models, schema) == expected


def test_generated_code_passes_pyflakes_and_import_order(demo_snapshot, introspected_snapshot, tmp_path):
    for snapshot in (demo_snapshot, introspected_snapshot, rich_snapshot()):
        assert ruff_findings(models_source(snapshot), tmp_path) == ""


def test_relationships_go_both_ways_and_leave_on_delete_to_the_database(
    introspected_snapshot, scratch_database, load_models
):
    models = load_models(models_source(introspected_snapshot))
    url = scratch_database()
    create_all(url, models, "app")
    engine = sa.create_engine(url)
    try:
        with Session(engine) as session:
            board = models.Department(id=1, name="Board")
            sales = models.Department(id=2, name="Sales", parent=board)
            ada = models.Employee(id=10, department=sales, email="ada@example.com", class_="staff")
            ada.assignment.append(models.Assignment(project_code="P00001", hours=8))
            session.add_all([board, sales, ada])
            session.commit()
            session.expire_all()
            assert [d.name for d in session.get(models.Department, 1).department_by_parent] == ["Sales"]
            assert session.get(models.Employee, 10).department.name == "Sales"
            assert session.scalars(sa.select(models.Employee.import_)).one() is False  # server default

            # ON DELETE RESTRICT: the ORM does not null the employee's key, the database refuses.
            session.delete(session.get(models.Department, 2))
            with pytest.raises(sa.exc.IntegrityError, match="employee_department_id_18e28ce3_fk"):
                session.flush()
            session.rollback()
            # ON DELETE CASCADE: the database deletes the assignments with the employee.
            session.delete(session.get(models.Employee, 10))
            session.commit()
            assert session.scalars(sa.select(models.Assignment)).all() == []
            # ON DELETE SET NULL on the self-reference.
            session.delete(session.get(models.Department, 1))
            session.commit()
            assert session.get(models.Department, 2).parent is None
    finally:
        engine.dispose()


# --- Names --------------------------------------------------------------------------------------------


def test_reserved_words_are_escaped_and_the_database_names_kept(introspected_snapshot, load_models):
    source = models_source(introspected_snapshot)
    assert 'class_: Mapped[str | None] = mapped_column("class", String(20))' in source
    assert 'import_: Mapped[bool] = mapped_column("import", Boolean, server_default=text("false"))' in source
    # `namespace` is reserved in C# and TypeScript, not in Python: it keeps its name.
    assert "    namespace: Mapped[str | None] = mapped_column(Text)" in source
    employee = load_models(source).Employee
    assert employee.class_.property.columns[0].name == "class"
    assert employee.import_.property.columns[0].name == "import"


def test_names_follow_python_conventions(load_models):
    module = load_models(models_source(rich_snapshot()))
    sample = module.Sample
    assert sample.__tablename__ == "sample"
    assert sample.sample_code.property.columns[0].name == "sampleCode"
    # Attributes that would shadow names the module uses are escaped like keywords.
    assert sample.text_.property.columns[0].name == "text"
    assert sample.metadata_.property.columns[0].name == "metadata"
    # Two keys to `lab`: each relationship says which column it follows.
    assert sample.lab.property.back_populates == "sample_by_lab"
    assert sample.backup_lab.property.back_populates == "sample_by_backup_lab"
    assert module.Lab.sample_by_backup_lab.property.uselist is True
    # A key that is also the whole primary key, or unique, is one-to-one.
    assert module.Sample.label.property.uselist is False
    assert module.Sample.lab_by_head_sample.property.uselist is False
    assert module.Lab.head_sample.property.back_populates == "lab_by_head_sample"


def test_class_names_that_would_shadow_the_modules_names_are_escaped(load_models):
    key = {"primary_key_position": 1, "nullable": False}
    snapshot = snapshot_of(
        {
            "e1": catalog_entity("index", {"c1": catalog_column("id", 1, "integer", **key)}),
            "e2": catalog_entity("none", {"c2": catalog_column("id", 1, "integer", **key)}),
        }
    )
    module = load_models(models_source(snapshot))
    assert module.Index_.__tablename__ == "index" and module.None_.__tablename__ == "none"


def test_columns_that_collide_after_conversion_are_an_error():
    snapshot = snapshot_of(
        {
            "e1": catalog_entity(
                "orders",
                {
                    "c1": catalog_column("order_id", 1, "integer", primary_key_position=1, nullable=False),
                    "c2": catalog_column("orderId", 2, "integer"),
                },
            )
        }
    )
    with pytest.raises(
        CodegenError, match="Entity 'orders': 'order_id' and 'orderId' both become 'order_id'"
    ):
        generate(code_model_build(snapshot), {})


def test_entities_that_collide_after_conversion_are_an_error():
    key = {"primary_key_position": 1, "nullable": False}
    snapshot = snapshot_of(
        {
            "e1": catalog_entity("order_items", {"c1": catalog_column("id", 1, "integer", **key)}),
            "e2": catalog_entity("OrderItems", {"c2": catalog_column("id", 1, "integer", **key)}),
        }
    )
    with pytest.raises(CodegenError, match="both become 'OrderItems'"):
        generate(code_model_build(snapshot), {})


# --- Keys ---------------------------------------------------------------------------------------------


def keyless_snapshot() -> dict:
    return snapshot_of({"e1": catalog_entity("event_log", {"c1": catalog_column("message", 1, "text")})})


def test_entity_without_primary_key_is_an_error():
    with pytest.raises(CodegenError, match="Entity 'event_log' of data store 'lab' has no primary key"):
        generate(code_model_build(keyless_snapshot()), {})


def test_generate_keys_adds_a_clearly_named_surrogate_key(scratch_database, load_models):
    source = models_source(keyless_snapshot(), generate_keys=True)
    assert "generated_id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)" in source
    assert "# No primary key in the catalog: a surrogate key generated on request" in source
    module = load_models(source)
    url = scratch_database()
    create_all(url, module, "lab")
    facts = schema_facts(url, "lab")["event_log"]
    assert facts["primary_key"][1] == ("generated_id",)
    assert [c[0] for c in facts["columns"]] == ["generated_id", "message"]


# --- Markers, notes, output ---------------------------------------------------------------------------


def test_pii_columns_carry_a_comment_and_info(introspected_snapshot, load_models):
    source = models_source(introspected_snapshot)
    assert "    # PII: direct_identifier; masking: hash\n    email: Mapped[str] = mapped_column(" in source
    email = load_models(source).Employee.__table__.c.email
    assert email.info == {"pii": "direct_identifier", "masking": "hash"}
    assert load_models(source).Employee.__table__.c.salary.info == {}


def test_descriptions_become_docstrings_and_comments(demo_snapshot, load_models):
    module = load_models(models_source(demo_snapshot))
    assert module.Users.__doc__ == "Accounts that can sign in."
    assert module.Users.__table__.comment == "Accounts that can sign in."
    rich = load_models(models_source(rich_snapshot()))
    assert rich.Sample.__doc__ == 'Samples "as taken"'
    assert rich.Sample.text_.__doc__ == 'Free "notes"\nwith a second line \\ backslash'


def test_what_models_cannot_declare_is_a_comment(load_models):
    snapshot = rich_snapshot()
    source = models_source(snapshot)
    assert "# updated_at and version are kept current by the database trigger custodian_touch_row" in source
    subset = code_model_build(snapshot, {"e1"})  # sample without lab and label
    (generated,) = generate(subset, {})
    assert (
        "# A foreign key to an entity outside this selection: the column is kept, not the key."
        in generated.content
    )
    assert "relationship(" not in generated.content
    assert load_models(generated.content).Sample.__table__.c.lab_id.foreign_keys == set()


def test_output_is_deterministic(demo_snapshot):
    reordered = copy.deepcopy(demo_snapshot)
    reordered["entities"] = dict(reversed(list(reordered["entities"].items())))
    for entity in reordered["entities"].values():
        entity["columns"] = dict(reversed(list(entity["columns"].items())))
        entity["indexes"] = dict(reversed(list(entity["indexes"].items())))
    first = generate(code_model_build(demo_snapshot), {})
    assert generate(code_model_build(demo_snapshot), {}) == first
    assert generate(code_model_build(reordered), {})[0].content.encode() == first[0].content.encode()


def test_models_follow_the_data_stores_dialect_and_say_what_it_lacks(load_models):
    snapshot = rich_snapshot()
    snapshot["datastore"]["engine"] = "sqlite"
    # Without the foreign-key cycle: Custodian's SQLite DDL closes cycles with ALTER TABLE ADD CONSTRAINT,
    # which SQLite does not have.
    del snapshot["entities"]["e2"]["columns"]["l3"]
    source = models_source(snapshot)
    assert "MetaData(schema=" not in source  # SQLite has no schemas; Custodian's DDL drops it too
    assert "# sampleCode: SQLite has no regular expressions in CHECK constraints; pattern '^[A-Z]'" in source
    assert "# index sample_lab_taken_idx: SQLite has no INCLUDE columns; taken_at are not included." in source
    assert "# index sample_metadata_gin: SQLite has no gin method; a default index." in source
    module = load_models(source)

    from_models, from_ddl = sa.create_engine("sqlite://"), sa.create_engine("sqlite://")
    module.Base.metadata.create_all(from_models)
    with from_ddl.begin() as connection:
        connection.connection.executescript(ddl_render(schema_ddl(snapshot, profile_for("sqlite"))))
    for table in ("lab", "label", "sample"):
        facts = [_sqlite_facts(engine, table) for engine in (from_models, from_ddl)]
        assert facts[0] == facts[1]


def _sqlite_facts(engine, table: str) -> dict:
    inspector = sa.inspect(engine)
    return {
        "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
        "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
        "foreign_keys": sorted(
            (tuple(fk["constrained_columns"]), fk["referred_table"], fk["options"].get("ondelete"))
            for fk in inspector.get_foreign_keys(table)
        ),
        "checks": sorted(c["name"] for c in inspector.get_check_constraints(table)),
        "indexes": sorted(
            (i["name"], tuple(i["column_names"]), i["unique"]) for i in inspector.get_indexes(table)
        ),
    }


# Their catalogs come from fixtures chosen at run time: marked so they run before transactional tests.
pytestmark = pytest.mark.django_db

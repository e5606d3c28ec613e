"""Drift against real PostgreSQL (and SQLite): a catalog's DDL applied by hand with its history row, then the
target changed behind the catalog's back."""

import os
from io import StringIO

import pytest
import sqlalchemy as sa
from django.core.management import call_command
from django.core.management.base import CommandError

from catalog.choices import DataType
from catalog.models import Entity, Index, SchemaRelease
from catalog.schema.ddl import ddl_render, schema_ddl
from catalog.schema.dialects import POSTGRESQL, SQLITE
from catalog.schema.drift import drift_compare, schema_drift
from catalog.schema.history_table import history_table
from catalog.schema.metadata import constraint_name, schema_tables_build
from catalog.schema.model import schema_model_from_catalog
from catalog.schema.snapshot import snapshot_build, snapshot_checksum
from catalog.services import catalog_object_save, index_columns_set
from core.errors import SchemaError
from tests.catalog.schema.conftest import run_sql
from tests.conftest import add_column


def _catalog(store, user) -> None:
    """customer (audited) <- orders, a partitioned event table, checks, a partial and a covering index."""
    customer = catalog_object_save(
        obj=Entity(datastore=store, name="customer", description="People who buy", has_audit_columns=True),
        user=user,
    )
    add_column(customer, "id", DataType.UUID, user, primary_key_position=1, nullable=False,
               default_value="gen_random_uuid()")  # fmt: skip
    add_column(customer, "email", DataType.VARCHAR, user, length=200, nullable=False, is_unique=True)
    add_column(customer, "segment", DataType.VARCHAR, user, length=20, nullable=False, default_value="retail",
               allowed_values=["retail", "business"])  # fmt: skip
    add_column(customer, "score", DataType.INTEGER, user, min_value="0", max_value="100", default_value="0")
    orders = catalog_object_save(obj=Entity(datastore=store, name="orders"), user=user)
    add_column(orders, "id", DataType.BIGINT, user, primary_key_position=1, nullable=False)
    customer_id = Entity.objects.get(pk=customer.pk).columns.get(name="id")
    add_column(orders, "customer_id", DataType.UUID, user, nullable=False, references=customer_id,
               on_delete="cascade")  # fmt: skip
    add_column(orders, "status", DataType.VARCHAR, user, length=20, nullable=False, default_value="new",
               pattern="^[a-z]+$")  # fmt: skip
    add_column(orders, "placed_at", DataType.TIMESTAMPTZ, user, nullable=False, default_value="now()")
    add_column(orders, "total", DataType.NUMERIC, user, precision=10, scale=2, min_value="0")
    _index(orders, "orders_open_idx", [("status", "asc")], [], user, condition="status <> 'shipped'")
    _index(orders, "orders_customer_idx", [("customer_id", "asc"), ("placed_at", "desc")], ["total"], user)
    event = catalog_object_save(obj=Entity(datastore=store, name="event"), user=user)
    add_column(event, "id", DataType.BIGINT, user, primary_key_position=1, nullable=False)
    occurred = add_column(
        event, "occurred_at", DataType.TIMESTAMP, user, primary_key_position=2, nullable=False
    )
    event.partition_column = occurred
    catalog_object_save(obj=event, user=user)


def _index(entity, name, keys, include, user, **fields) -> None:
    index = catalog_object_save(obj=Index(entity=entity, name=name, **fields), user=user)
    index_columns_set(index=index, key_columns=keys, included_columns=include, user=user)


def _release(store, user, version: int = 1) -> SchemaRelease:
    snapshot = snapshot_build(store)
    return SchemaRelease.objects.create(
        datastore=store,
        version=version,
        snapshot=snapshot,
        checksum=snapshot_checksum(snapshot),
        up_sql="",
        down_sql="",
        dialect="postgresql",
        message=f"v{version}",
        created_by=user,
    )


def _record(url: str, *, version: int, checksum: str, direction: str = "up") -> None:
    """Write a row into the target's history table, as an apply would."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    table = history_table(POSTGRESQL, "app")
    with engine.begin() as connection:
        table.create(connection, checkfirst=True)
        connection.execute(
            table.insert().values(
                version=version,
                description=f"v{version}",
                checksum=checksum,
                direction=direction,
                installed_by="steward",
                execution_ms=0,
                success=True,
            )
        )
    engine.dispose()


@pytest.fixture
def applied(target_store, steward):
    """A data store whose database was built from release v1 by hand, with its history row."""
    store = target_store("applied")
    _catalog(store, steward)
    release = _release(store, steward)
    url = os.environ[store.url_env]
    run_sql(url, "CREATE SCHEMA app", ddl_render(schema_ddl(release.snapshot, POSTGRESQL)))
    _record(url, version=1, checksum=release.checksum)
    return store


def test_database_built_from_the_release_has_no_drift(applied):
    report = schema_drift(datastore=applied)

    assert (report.missing, report.extra, report.different) == ([], [], [])
    assert not report.has_drift
    assert report.lines() == ["Data store 'applied' against release v1: no drift."]


def test_changes_behind_the_catalogs_back_show_up_in_the_right_list(applied):
    run_sql(
        os.environ[applied.url_env],
        "ALTER TABLE app.orders ADD COLUMN note text;"
        "DROP INDEX app.orders_open_idx;"
        "ALTER TABLE app.orders ALTER COLUMN status TYPE varchar(30);"
        "CREATE TABLE app.audit_log (id bigint PRIMARY KEY);",
    )

    report = schema_drift(datastore=applied)

    assert report.missing == ["table app.orders: index orders_open_idx is missing from the database"]
    assert report.extra == [
        "table app.audit_log is not in the release",
        "table app.orders: column note is not in the release",
    ]
    assert report.different == [
        "table app.orders: column status is VARCHAR(20) in the release, VARCHAR(30) in the database"
    ]
    assert report.has_drift


# The release's constraint names are deterministic, so the changes below can name them.
NAMES = {
    "orders_fk": constraint_name(POSTGRESQL, "orders", ["customer_id"], "fk"),
    "orders_pk": constraint_name(POSTGRESQL, "orders", ["id"], "pk"),
    "orders_re": constraint_name(POSTGRESQL, "orders", ["status"], "re"),
    "orders_min": constraint_name(POSTGRESQL, "orders", ["total"], "min"),
    "customer_uniq": constraint_name(POSTGRESQL, "customer", ["email"], "uniq"),
}


@pytest.mark.parametrize(
    ("change", "kind", "lines"),
    [
        ("ALTER TABLE app.orders ALTER COLUMN total SET NOT NULL", "different",
         ["table app.orders: column total is nullable in the release, NOT NULL in the database"]),
        ("ALTER TABLE app.orders ALTER COLUMN status SET DEFAULT 'open'", "different",
         ["table app.orders: default of column status is 'new' in the release, 'open'::character varying "
          "in the database"]),
        ("ALTER TABLE app.customer ALTER COLUMN score DROP DEFAULT", "different",
         ["table app.customer: default of column score is 0 in the release, no default in the database"]),
        ("ALTER TABLE app.orders DROP COLUMN total", "missing",
         ["table app.orders: column total is missing from the database",
          "table app.orders: check constraint {orders_min} is missing from the database",
          "table app.orders: index orders_customer_idx is missing from the database"]),
        ("DROP TABLE app.event", "missing", ["table app.event is missing from the database"]),
        ('ALTER TABLE app.orders DROP CONSTRAINT "{orders_fk}"', "missing",
         ["table app.orders: foreign key (customer_id) -> customer(id) ON DELETE CASCADE is missing from the "
          "database"]),
        ('ALTER TABLE app.orders DROP CONSTRAINT "{orders_fk}", ADD FOREIGN KEY (customer_id) '
         "REFERENCES app.customer (id) ON DELETE RESTRICT", "different",
         ["table app.orders: foreign key (customer_id) is customer(id) ON DELETE CASCADE in the release, "
          "customer(id) ON DELETE RESTRICT in the database"]),
        ('ALTER TABLE app.customer DROP CONSTRAINT "{customer_uniq}"', "missing",
         ["table app.customer: unique constraint (email) is missing from the database"]),
        ("ALTER TABLE app.customer ADD CONSTRAINT customer_segment_key UNIQUE (segment)", "extra",
         ["table app.customer: unique constraint (segment) is not in the release"]),
        ('ALTER TABLE app.orders DROP CONSTRAINT "{orders_re}"', "missing",
         ["table app.orders: check constraint {orders_re} is missing from the database"]),
        ("ALTER TABLE app.orders ADD CONSTRAINT orders_total_cap CHECK (total < 1000)", "extra",
         ["table app.orders: check constraint orders_total_cap is not in the release"]),
        ('ALTER TABLE app.orders DROP CONSTRAINT "{orders_pk}"', "missing",
         ["table app.orders: primary key (id) is missing from the database"]),
        ("DROP INDEX app.orders_customer_idx; CREATE INDEX orders_customer_idx ON app.orders (customer_id)",
         "different",
         ["table app.orders: index orders_customer_idx is USING btree (customer_id, placed_at DESC) INCLUDE "
          "(total) in the release, USING btree (customer_id) in the database"]),
        ("CREATE INDEX orders_total_idx ON app.orders (total)", "extra",
         ["table app.orders: index orders_total_idx is not in the release"]),
    ],
)  # fmt: skip
def test_each_kind_of_change_is_reported(applied, change, kind, lines):
    run_sql(os.environ[applied.url_env], change.format(**NAMES))

    report = schema_drift(datastore=applied)

    found = {"missing": report.missing, "extra": report.extra, "different": report.different}
    assert found[kind] == [line.format(**NAMES) for line in lines]
    assert sum(len(found_lines) for found_lines in found.values()) == len(lines), report.lines()


def test_never_applied_data_store_is_refused(target_store, steward):
    store = target_store("fresh")

    with pytest.raises(SchemaError, match="Data store 'fresh' has no applied release; apply one first"):
        schema_drift(datastore=store)


def test_data_store_rolled_back_to_empty_has_no_applied_release(applied):
    _record(os.environ[applied.url_env], version=0, checksum="0" * 64, direction="down")

    with pytest.raises(SchemaError, match="Data store 'applied' has no applied release; apply one first"):
        schema_drift(datastore=applied)


def test_a_changed_history_checksum_is_drift(target_store, steward):
    store = target_store("tampered")
    _catalog(store, steward)
    release = _release(store, steward)
    url = os.environ[store.url_env]
    run_sql(url, "CREATE SCHEMA app", ddl_render(schema_ddl(release.snapshot, POSTGRESQL)))
    _record(url, version=1, checksum="f" * 64)

    report = schema_drift(datastore=store)

    assert report.different == [
        f"history table: version 1 is recorded with checksum ffffffffffff…, but release v1 has "
        f"{release.checksum[:12]}…"
    ]


def test_an_explicit_release_is_compared_instead_of_the_applied_one(applied, steward):
    orders = Entity.objects.get(datastore=applied, name="orders")
    add_column(orders, "note", DataType.TEXT, steward)
    v2 = _release(applied, steward, version=2)

    report = schema_drift(datastore=applied, release=v2)

    assert report.missing == ["table app.orders: column note is missing from the database"]
    assert report.lines()[0] == "Data store 'applied' against release v2: 1 difference(s)."


def test_command_exits_1_and_prints_the_lines_when_there_is_drift(applied):
    run_sql(os.environ[applied.url_env], "ALTER TABLE app.orders ADD COLUMN note text")
    out = StringIO()

    with pytest.raises(SystemExit) as exit_info:
        call_command("schema_drift", "--datastore", "applied", stdout=out)

    assert exit_info.value.code == 1
    assert out.getvalue().splitlines() == [
        "Data store 'applied' against release v1: 1 difference(s).",
        "table app.orders: column note is not in the release",
    ]


def test_command_exits_0_without_drift(applied):
    out = StringIO()

    call_command("schema_drift", "--datastore", "applied", stdout=out)

    assert out.getvalue().strip() == "Data store 'applied' against release v1: no drift."


def test_command_turns_errors_into_command_errors(target_store):
    target_store("fresh")

    with pytest.raises(CommandError, match="has no applied release"):
        call_command("schema_drift", "--datastore", "fresh", stdout=StringIO())
    with pytest.raises(CommandError, match="No data store named 'missing'"):
        call_command("schema_drift", "--datastore", "missing", stdout=StringIO())


def test_command_names_the_known_data_stores_when_a_name_is_wrong(target_store):
    # Like every other command that takes --datastore (core.commands.object_named).
    target_store("fresh")

    with pytest.raises(CommandError) as raised:
        call_command("schema_drift", "--datastore", "frsh", stdout=StringIO())

    assert str(raised.value) == "No data store named 'frsh'. Did you mean 'fresh'? Known: fresh."


def test_sqlite_database_built_from_the_catalog_has_no_drift(target_store, steward, tmp_path):
    store = target_store("pocket")
    _catalog(store, steward)
    entity = Entity.objects.get(datastore=store, name="event")
    entity.partition_column = None  # SQLite has no partitions; the DDL says so in a comment
    catalog_object_save(obj=entity, user=steward)
    model = schema_model_from_catalog(store)
    expected = schema_tables_build(model, SQLITE)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'pocket.db'}", poolclass=sa.pool.NullPool)
    with engine.begin() as connection:
        for statement in schema_ddl(model, SQLITE):
            if not statement.is_note:
                connection.exec_driver_sql(statement.sql)

    with engine.connect() as connection:
        report = drift_compare(expected=expected, connection=connection)
        connection.exec_driver_sql("ALTER TABLE orders ADD COLUMN note TEXT")
        changed = drift_compare(expected=expected, connection=connection)
    engine.dispose()

    assert report.lines() == ["The database: no drift."]
    assert changed.extra == ["table orders: column note is not in the release"]

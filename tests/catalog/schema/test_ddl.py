"""DDL per dialect from the catalog: every feature on PostgreSQL, what others cannot express said aloud."""

import pytest
import sqlalchemy as sa
from django.core.exceptions import ValidationError

from catalog.demo import demo_load
from catalog.models import Column, DataStore, Entity, Index
from catalog.schema.ddl import ddl_render, schema_ddl
from catalog.schema.dialects import PROFILES, profile_for
from catalog.schema.snapshot import snapshot_build, snapshot_checksum
from catalog.services import catalog_object_save, index_columns_set
from core.errors import SchemaError
from tests.catalog.schema.conftest import run_sql
from tests.conftest import add_column


def ddl(store, dialect="postgresql", entity_ids=None):
    return ddl_render(schema_ddl(snapshot_build(store), profile_for(dialect), entity_ids))


@pytest.fixture
def rich_store(steward):
    """Every feature once: checks, defaults, FK cycle, partial/include index, comments, audit columns."""
    store = catalog_object_save(
        obj=DataStore(name="rich", engine="postgresql", schema_name="app"), user=steward
    )
    account = catalog_object_save(
        obj=Entity(datastore=store, name="account", description="Bank's accounts", has_audit_columns=True),
        user=steward,
    )
    owner = catalog_object_save(obj=Entity(datastore=store, name="owner"), user=steward)
    add_column(
        account,
        "id",
        "uuid",
        steward,
        primary_key_position=1,
        nullable=False,
        default_value="gen_random_uuid()",
    )
    add_column(
        account,
        "iban",
        "varchar",
        steward,
        length=34,
        is_unique=True,
        pattern="^[A-Z]{2}[0-9]{2}",
        min_length=15,
        description="International account number",
        pii_category="financial",
        masking_strategy="tokenize",
    )
    add_column(
        account,
        "balance",
        "numeric",
        steward,
        precision=14,
        scale=2,
        min_value="-1000",
        max_value="1000000",
        default_value="0",
        nullable=False,
    )
    add_column(
        account,
        "status",
        "varchar",
        steward,
        length=10,
        allowed_values=["open", "closed"],
        default_value="open",
    )
    add_column(account, "opened_on", "date", steward, nullable=False, default_value="current_date")
    add_column(owner, "id", "bigint", steward, primary_key_position=1, nullable=False)
    add_column(
        owner,
        "main_account_id",
        "uuid",
        steward,
        references=account.columns.get(name="id"),
        on_delete="set_null",
    )
    add_column(
        account, "owner_id", "bigint", steward, references=owner.columns.get(name="id"), on_delete="cascade"
    )
    index = catalog_object_save(
        obj=Index(entity=account, name="account_open_idx", condition="status = 'open'"), user=steward
    )
    index_columns_set(
        index=index, key_columns=[("opened_on", "desc")], included_columns=["balance"], user=steward
    )
    return store


def test_postgresql_ddl_covers_every_feature(rich_store):
    script = ddl(rich_store)
    for expected in [
        '"iban" VARCHAR(34)',
        '"balance" NUMERIC(14, 2) DEFAULT 0 NOT NULL',
        "DEFAULT gen_random_uuid()",
        "DEFAULT CURRENT_DATE",
        "CHECK (\"iban\" ~ '^[A-Z]{2}[0-9]{2}')",
        'CHECK (char_length("iban") >= 15)',
        "CHECK (\"status\" IN ('open', 'closed'))",
        'CHECK ("balance" >= -1000)',
        "ON DELETE CASCADE",
        "ON DELETE SET NULL",
        'UNIQUE ("iban")',
        'CREATE INDEX "account_open_idx" ON "app"."account" '
        '("opened_on" DESC) INCLUDE ("balance") WHERE "status" = \'open\'',
        "COMMENT ON TABLE \"app\".\"account\" IS 'Bank''s accounts'",
        'COMMENT ON COLUMN "app"."account"."iban" IS \'International account number\'',
        '"updated_at" TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL',
        "CREATE OR REPLACE FUNCTION",
        'CREATE TRIGGER "account_touch" BEFORE UPDATE ON "app"."account"',
    ]:
        assert expected in script, expected
    # The FK cycle account <-> owner is closed after both tables exist.
    assert script.index('CREATE TABLE "app"."owner"') < script.index("ALTER TABLE")


def test_postgresql_ddl_runs_and_the_trigger_keeps_updated_at_and_version(rich_store, scratch_database):
    url = scratch_database()
    run_sql(url, 'CREATE SCHEMA "app"', ddl(rich_store))
    run_sql(
        url,
        "INSERT INTO app.owner(id) VALUES (1); INSERT INTO app.account(iban, owner_id) "
        "VALUES ('DE00123456789012', 1); UPDATE app.account SET balance = 5;",
    )
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        version, status = connection.execute(sa.text("SELECT version, status FROM app.account")).one()
    engine.dispose()
    assert (version, status) == (2, "open")


def test_ddl_is_deterministic(rich_store):
    assert ddl(rich_store) == ddl(rich_store)
    assert snapshot_checksum(snapshot_build(rich_store)) == snapshot_checksum(snapshot_build(rich_store))


@pytest.mark.parametrize(
    "dialect, note",
    [
        ("mysql", "MySQL has no INCLUDE columns"),
        ("mysql", "MySQL has no partial indexes"),
        ("sqlserver", "SQL Server has no regular expressions in CHECK constraints"),
        ("sqlite", "SQLite has no regular expressions in CHECK constraints"),
        ("sqlite", "-- account: Bank's accounts"),
    ],
)
def test_what_a_dialect_cannot_express_is_said_as_a_comment(rich_store, dialect, note):
    assert note in ddl(rich_store, dialect)


def test_every_identifier_is_quoted_in_every_dialect(rich_store):
    assert "`app`.`account`" in ddl(rich_store, "mysql")
    assert "[app].[account]" in ddl(rich_store, "sqlserver")
    assert 'CREATE TABLE "account"' in ddl(rich_store, "sqlite")


def test_demo_ddl_runs_on_sqlite_and_mariadb(db, tmp_path):
    import sqlite3
    import subprocess

    demo_load()
    shop = DataStore.objects.get(name="shop")
    connection = sqlite3.connect(tmp_path / "shop.db")
    connection.executescript(ddl(shop, "sqlite"))
    assert {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")} >= {
        "orders",
        "customers",
        "payments",
    }
    mysql = subprocess.run(
        [
            "mysql",
            "-uroot",
            "-e",
            "DROP DATABASE IF EXISTS custodian_ddl_test; CREATE DATABASE custodian_ddl_test",
        ],
        capture_output=True,
        text=True,
    )
    assert mysql.returncode == 0, mysql.stderr
    script = ddl(shop, "mysql").replace("`shop`.", "")
    result = subprocess.run(
        ["mysql", "-uroot", "custodian_ddl_test"], input=script, capture_output=True, text=True
    )
    subprocess.run(["mysql", "-uroot", "-e", "DROP DATABASE custodian_ddl_test"], capture_output=True)
    assert result.returncode == 0, result.stderr


def test_single_entity_ddl_has_only_that_entity(rich_store):
    owner = Entity.objects.get(name="owner")
    script = ddl(rich_store, entity_ids={str(owner.pk)})
    assert 'CREATE TABLE "app"."owner"' in script and 'CREATE TABLE "app"."account"' not in script


def test_what_cannot_be_expressed_at_all_is_a_specific_error(rich_store, steward):
    account = Entity.objects.get(name="account")
    add_column(account, "notes", "text", steward, is_unique=True)
    with pytest.raises(SchemaError, match="MySQL cannot key or make unique the notes column"):
        ddl(rich_store, "mysql")
    account.partition_column = account.columns.get(name="opened_on")
    with pytest.raises(ValidationError, match="must be part of the primary key"):
        account.full_clean()


def test_range_partitioning_on_postgresql(steward, scratch_database):
    store = catalog_object_save(
        obj=DataStore(name="events", engine="postgresql", schema_name="app"), user=steward
    )
    events = catalog_object_save(obj=Entity(datastore=store, name="event"), user=steward)
    add_column(events, "id", "bigint", steward, primary_key_position=1, nullable=False)
    happened = add_column(
        events, "happened_at", "timestamptz", steward, primary_key_position=2, nullable=False
    )
    events.partition_column = happened
    catalog_object_save(obj=events, user=steward)
    script = ddl(store)
    assert 'PARTITION BY RANGE ("happened_at")' in script
    assert 'CREATE TABLE "app"."event_default" PARTITION OF "app"."event" DEFAULT' in script
    url = scratch_database()
    run_sql(url, 'CREATE SCHEMA "app"', script, "INSERT INTO app.event VALUES (1, now());")
    assert "not partitioned" in ddl(store, "mysql")


def test_hostile_names_never_reach_sql_unquoted(rich_store):
    # Names are validated on the model; the quoting gate still escapes what it is given.
    assert PROFILES["postgresql"].quote('ba"z') == '"ba""z"'
    assert PROFILES["mysql"].quote("ba`z") == "`ba``z`"
    assert Column.objects.filter(name__contains=";").count() == 0


def test_sql_server_ddl_targets_current_versions(rich_store):
    script = ddl(rich_store, "sqlserver")
    assert "[opened_on] DATE" in script and "DATETIME NULL" not in script
    assert "DEFAULT SYSDATETIMEOFFSET()" in script


def test_sqlite_ddl_with_a_foreign_key_cycle_runs(rich_store):
    import sqlite3

    script = ddl(rich_store, "sqlite")
    assert "ADD CONSTRAINT" not in script
    sqlite3.connect(":memory:").executescript(script)

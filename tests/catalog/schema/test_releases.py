"""Releases v1 -> v2 -> v3 on real PostgreSQL: up and down migrations reproduce each version's schema."""

import pytest
import sqlalchemy as sa

from catalog.models import Column, DataStore, Entity, Index, SchemaRelease
from catalog.schema.ddl import ddl_render, schema_ddl
from catalog.schema.dialects import profile_for
from catalog.schema.releases import release_preview, release_publish
from catalog.services import catalog_object_save, column_delete, index_columns_set
from core.errors import SchemaError
from tests.catalog.schema.conftest import run_sql
from tests.conftest import add_column


def schema_signature(url: str, schema: str = "app") -> dict:
    """Everything that makes a schema: tables, columns, keys, checks, indexes, comments."""
    engine = sa.create_engine(url)
    inspector = sa.inspect(engine)
    signature = {}
    for table in sorted(inspector.get_table_names(schema=schema)):
        if table == "custodian_schema_history":
            continue
        signature[table] = {
            # Sorted: PostgreSQL appends a re-added column at the end; its position is all that differs.
            "columns": sorted(
                (c["name"], str(c["type"]), c["nullable"], c["default"], c.get("comment"))
                for c in inspector.get_columns(table, schema=schema)
            ),
            "pk": inspector.get_pk_constraint(table, schema=schema)["constrained_columns"],
            "fks": sorted(
                (
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                    fk["options"].get("ondelete"),
                )
                for fk in inspector.get_foreign_keys(table, schema=schema)
            ),
            "unique": sorted(
                (u["name"], tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(table, schema=schema)
            ),
            "checks": sorted(
                (c["name"], c["sqltext"]) for c in inspector.get_check_constraints(table, schema=schema)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), i["unique"], str(i.get("dialect_options")))
                for i in inspector.get_indexes(table, schema=schema)
            ),
            "comment": inspector.get_table_comment(table, schema=schema)["text"],
        }
    engine.dispose()
    return signature


def fresh_schema(scratch_database, release: SchemaRelease) -> dict:
    url = scratch_database()
    run_sql(url, 'CREATE SCHEMA "app"', ddl_render(schema_ddl(release.snapshot, profile_for("postgresql"))))
    return schema_signature(url)


def run_statements(url: str, statements: list[str]) -> None:
    run_sql(url, "BEGIN;\n" + ";\n".join(statements) + ";\nCOMMIT;")


def build_bank(store, steward) -> None:
    """customer(id, email unique, nickname, score >= 0) and account(id, customer_id -> customer ON DELETE
    CASCADE, indexed): the catalog of version 1."""
    customer = catalog_object_save(
        obj=Entity(datastore=store, name="customer", description="People"), user=steward
    )
    add_column(customer, "id", "bigint", steward, primary_key_position=1, nullable=False)
    add_column(customer, "email", "varchar", steward, length=100, is_unique=True, description="Contact")
    add_column(customer, "nickname", "varchar", steward, length=20)
    add_column(customer, "score", "integer", steward, min_value="0")
    account = catalog_object_save(obj=Entity(datastore=store, name="account"), user=steward)
    add_column(account, "id", "bigint", steward, primary_key_position=1, nullable=False)
    add_column(
        account,
        "customer_id",
        "bigint",
        steward,
        nullable=False,
        references=customer.columns.get(name="id"),
        on_delete="cascade",
    )
    index = catalog_object_save(obj=Index(entity=account, name="account_customer_idx"), user=steward)
    index_columns_set(index=index, key_columns=[("customer_id", "asc")], included_columns=[], user=steward)


@pytest.fixture
def store(steward):
    store = catalog_object_save(
        obj=DataStore(name="bank", engine="postgresql", schema_name="app"), user=steward
    )
    build_bank(store, steward)
    return store


def change_for_v2(store, steward):
    customer = Entity.objects.get(datastore=store, name="customer")
    email = customer.columns.get(name="email")
    email.name, email.length = "email_address", 200  # rename and widen
    catalog_object_save(obj=email, user=steward)
    column_delete(column=customer.columns.get(name="nickname"), user=steward)
    add_column(
        customer,
        "status",
        "varchar",
        steward,
        length=10,
        nullable=False,
        default_value="active",
        allowed_values=["active", "closed"],
    )
    score = customer.columns.get(name="score")
    score.max_value, score.description = "100", "Credit score"
    catalog_object_save(obj=score, user=steward)
    account = Entity.objects.get(datastore=store, name="account")
    account.name = "bank_account"
    catalog_object_save(obj=account, user=steward)
    index = catalog_object_save(
        obj=Index(entity=customer, name="customer_status_idx", condition="status = 'active'"), user=steward
    )
    index_columns_set(index=index, key_columns=[("status", "asc")], included_columns=[], user=steward)


def change_for_v3(store, steward):
    customer = Entity.objects.get(datastore=store, name="customer")
    customer.has_audit_columns, customer.description = True, ""
    catalog_object_save(obj=customer, user=steward)
    score = customer.columns.get(name="score")
    score.data_type, score.nullable, score.default_value = "bigint", False, "0"
    catalog_object_save(obj=score, user=steward)
    branch = catalog_object_save(obj=Entity(datastore=store, name="branch"), user=steward)
    add_column(branch, "code", "char", steward, length=5, primary_key_position=1, nullable=False)
    account = Entity.objects.get(datastore=store, name="bank_account")
    add_column(account, "branch_code", "char", steward, length=5, references=branch.columns.get(name="code"))
    link = account.columns.get(name="customer_id")
    link.on_delete = "restrict"
    catalog_object_save(obj=link, user=steward)
    Index.objects.get(name="account_customer_idx").delete()


def test_release_chain_up_and_down_reproduces_every_version(store, steward, scratch_database):
    v1 = release_publish(datastore=store, user=steward, message="First cut")
    change_for_v2(store, steward)
    with pytest.raises(SchemaError, match="Dropping customer.nickname deletes its values"):
        release_publish(datastore=store, user=steward, message="Second")
    v2 = release_publish(datastore=store, user=steward, message="Second", allow_destructive=True)
    assert v2.destructive_confirmed and v2.has_lint_errors
    change_for_v3(store, steward)
    v3 = release_publish(datastore=store, user=steward, message="Third", allow_destructive=True)
    assert [r.version for r in SchemaRelease.objects.order_by("version")] == [1, 2, 3]
    assert 'RENAME COLUMN "email" TO "email_address"' in v2.up_sql
    assert 'ALTER TABLE "app"."account" RENAME TO "bank_account"' in v2.up_sql

    target = scratch_database()
    run_sql(target, 'CREATE SCHEMA "app"')
    run_statements(target, v1.up_statements)
    assert schema_signature(target) == fresh_schema(scratch_database, v1)
    run_statements(target, v2.up_statements)
    assert schema_signature(target) == fresh_schema(scratch_database, v2)
    run_statements(target, v3.up_statements)
    assert schema_signature(target) == fresh_schema(scratch_database, v3)
    run_statements(target, v3.down_statements)
    assert schema_signature(target) == fresh_schema(scratch_database, v2)
    run_statements(target, v2.down_statements)
    assert schema_signature(target) == fresh_schema(scratch_database, v1)
    run_statements(target, v1.down_statements)
    assert schema_signature(target) == {}


def test_release_records_changes_lint_and_both_scripts(store, steward):
    release_publish(datastore=store, user=steward, message="First cut")
    change_for_v2(store, steward)
    preview = release_preview(datastore=store)
    kinds = {c.kind for c in preview.changes}
    assert {
        "column_renamed",
        "column_type",
        "column_dropped",
        "column_added",
        "table_renamed",
        "index_added",
        "column_checks",
        "column_description",
    } <= kinds
    codes = {(f.code, f.severity) for f in preview.findings}
    assert ("drop-column", "error") in codes and ("rename", "warning") in codes
    assert ("index-locks", "warning") in codes


def test_lint_knows_table_sizes_when_given(store, steward):
    release_publish(datastore=store, user=steward, message="First cut")
    customer = Entity.objects.get(datastore=store, name="customer")
    add_column(customer, "tier", "integer", steward, nullable=False)
    findings = {f.code: f for f in release_preview(datastore=store, table_rows={"customer": 12}).findings}
    assert findings["not-null-without-default"].severity == "error"
    assert "12 rows" in findings["not-null-without-default"].message
    empty = {f.code: f for f in release_preview(datastore=store, table_rows={"customer": 0}).findings}
    assert "not-null-without-default" not in empty


def test_narrowing_a_type_is_an_error(store, steward):
    release_publish(datastore=store, user=steward, message="First cut")
    email = Column.objects.get(entity__datastore=store, name="email")
    email.length = 50
    catalog_object_save(obj=email, user=steward)
    findings = release_preview(datastore=store).findings
    assert [(f.code, f.severity) for f in findings] == [("narrow-type", "error")]


def test_nothing_changed_makes_no_release(store, steward):
    release_publish(datastore=store, user=steward, message="First cut")
    with pytest.raises(SchemaError, match="Nothing changed"):
        release_publish(datastore=store, user=steward, message="Again")


def test_releases_are_immutable(store, steward):
    from catalog.exceptions import CatalogError

    release = release_publish(datastore=store, user=steward, message="First cut")
    release.message = "rewritten"
    with pytest.raises(CatalogError, match="immutable"):
        release.save()
    with pytest.raises(CatalogError, match="cannot be deleted"):
        release.delete()


def test_first_release_creates_its_schema_so_the_script_runs_on_an_empty_database(
    store, steward, scratch_database
):
    v1 = release_publish(datastore=store, user=steward, message="First cut")
    assert v1.up_statements[0] == 'CREATE SCHEMA IF NOT EXISTS "app"'
    url = scratch_database()
    run_statements(url, v1.up_statements)
    assert set(schema_signature(url)) == {"customer", "account"}


def test_lint_reads_table_sizes_from_the_target_when_it_can(target_store, steward):
    import os

    from catalog.schema.apply import schema_apply_execute

    store = target_store()
    build_bank(store, steward)
    release_publish(datastore=store, user=steward, message="First cut")
    schema_apply_execute(datastore=store, target_version=1, user=steward)
    run_sql(
        os.environ[store.url_env], "INSERT INTO app.customer(id, email) VALUES (1, 'a@x.org'), (2, 'b@x.org')"
    )
    add_column(
        Entity.objects.get(datastore=store, name="customer"), "tier", "integer", steward, nullable=False
    )
    finding = {f.code: f for f in release_preview(datastore=store).findings}["not-null-without-default"]
    assert finding.severity == "error" and "2 rows" in finding.message


def test_sqlite_releases_add_and_drop_tables_and_refuse_what_sqlite_cannot_alter(steward, tmp_path):
    import sqlite3

    lite = catalog_object_save(obj=DataStore(name="lite", engine="sqlite"), user=steward)
    build_bank(lite, steward)
    v1 = release_publish(datastore=lite, user=steward, message="v1")
    branch = catalog_object_save(obj=Entity(datastore=lite, name="branch"), user=steward)
    add_column(branch, "id", "integer", steward, primary_key_position=1, nullable=False)
    add_column(
        branch,
        "account_id",
        "bigint",
        steward,
        references=Column.objects.get(entity__datastore=lite, entity__name="account", name="id"),
    )
    v2 = release_publish(datastore=lite, user=steward, message="v2")
    connection = sqlite3.connect(tmp_path / "lite.db")
    for statements in (v1.up_statements, v2.up_statements, v2.down_statements):
        connection.executescript(";\n".join(statements) + ";")
    email = Column.objects.get(entity__datastore=lite, name="email")
    email.is_unique = False
    catalog_object_save(obj=email, user=steward)
    with pytest.raises(
        SchemaError, match="SQLite cannot change the keys or checks of existing table 'customer'"
    ):
        release_preview(datastore=lite)

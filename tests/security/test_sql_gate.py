"""The SQL gate (core/sql_gate.py) and data store connections: issue 15 findings 1 and 3.

Each probe below is what a hostile steward or platform admin sent in the security reviews. The gate refuses
it before it reaches a database; guard_transaction makes the database refuse what a parser could miss.
"""

import os
import uuid

import psycopg
import pytest
from django.core.exceptions import ValidationError
from psycopg import sql

from catalog.models import DataStore
from catalog.services import catalog_object_save
from core.connections import datastore_guard, datastore_pg_connect, datastore_url
from core.errors import SchemaError
from core.sql_gate import SqlRefused, query_check, query_problem
from tests.catalog.schema.conftest import run_sql, scratch_database, target_store  # noqa: F401

REFUSED = {
    "select pg_read_file('/etc/hostname')": "may not call pg_read_file()",
    "select pg_catalog.pg_read_file('/etc/hostname')": "schema-qualified functions",
    "select lo_export(1, '/tmp/custodian')": "may not call lo_export()",
    "select lo_import('/etc/passwd')": "may not call lo_import()",
    "select lo_get(1)": "may not call lo_get()",
    "select pg_terminate_backend(pid) from orders": "may not call pg_terminate_backend()",
    "select pg_cancel_backend(1)": "may not call pg_cancel_backend()",
    "SELECT usename, passwd FROM pg_shadow": "system catalogs (pg_shadow)",
    "select * from pg_catalog.pg_authid": "system catalogs",
    "select * from information_schema.columns": "system catalogs",
    "select * from pg_largeobject": "system catalogs",
    "table pg_shadow": "system catalogs",
    "select (select passwd from pg_shadow limit 1) as x from orders": "system catalogs",
    "select set_config('role', 'postgres', false)": "may not call set_config()",
    "select current_setting('data_directory')": "may not call current_setting()",
    "select pg_sleep(600)": "may not call pg_sleep()",
    "select * from dblink('host=10.0.0.1', 'select 1') as t(x int)": "may not call dblink()",
    "select * from pg_ls_dir('.')": "may not call pg_ls_dir()",
    "select query_to_xml('select * from pg_shadow', true, true, '')": "may not call query_to_xml()",
    "select nextval('orders_id_seq')": "may not call nextval()",
    "with gone as (delete from orders returning *) select * from gone": "must only read",
    "select * from orders for update": "must not lock rows",
    "select * into stolen from orders": "must not create a table",
    "select * from other_schema.orders": "schema 'shop'",
    "select * from otherdb.shop.orders": "its own database",
    "select 1; select pg_sleep(1)": "exactly one SELECT",
    "insert into orders values (1)": "must be a SELECT",
    "copy orders to '/tmp/x'": "must be a SELECT",
    "": "is empty",
}

ALLOWED = [
    "select * from orders",
    "select id, lower(email) as contact from shop.customers where email !~ '^[^@]+@[^@]+$'",
    "with recent as (select * from orders where placed_at > now() - interval '30 days') select * from recent",
    "select o.id from orders o left join customers c on c.id = o.customer_id where c.id is null",
    "select id, row_number() over (partition by email order by id) as n from customers",
    "select date_trunc('day', placed_at), count(*) filter (where total < 0) from orders group by 1",
    "select id from orders where exists (select 1 from customers c where c.id = orders.customer_id)",
    "select coalesce(note, '')::text, payload->>'sku', age(placed_at) from orders",
    "select d::date as day from generate_series(date '2020-01-01', date '2020-12-31', interval '1 day') as d",
]


@pytest.mark.parametrize("query", sorted(REFUSED))
def test_the_gate_refuses_each_probe_of_the_security_reviews_with_a_reason(query):
    with pytest.raises(SqlRefused) as refused:
        query_check(query, schema="shop", what="Custom SQL")
    assert REFUSED[query] in refused.value.message
    assert refused.value.message.startswith("Custom SQL")


@pytest.mark.parametrize("query", ALLOWED)
def test_the_gate_lets_ordinary_reads_through(query):
    assert query_problem(query, schema="shop") is None


# ---- The second guard: the database itself ----------------------------------------------------------


@pytest.fixture
def guarded_store(target_store):  # noqa: F811
    """A store whose schema app has two tables, and a read-only role that may read only one of them."""
    store = target_store("guarded", schema="app")
    role = f"custodian_reader_{uuid.uuid4().hex[:8]}"
    run_sql(
        os.environ[store.url_env],
        sql.SQL(
            "CREATE SCHEMA app; CREATE TABLE app.orders (id int, total numeric); "
            "CREATE TABLE app.secrets (id int, token text); INSERT INTO app.orders VALUES (1, 9.5); "
            "CREATE SEQUENCE app.ids; CREATE ROLE {role} NOLOGIN; GRANT USAGE ON SCHEMA app TO {role}; "
            "GRANT SELECT ON app.orders TO {role}; GRANT {role} TO CURRENT_USER;"
        )
        .format(role=sql.Identifier(role))
        .as_string(),
    )
    yield store, role
    run_sql(
        os.environ[store.url_env],
        sql.SQL("DROP OWNED BY {r}; DROP ROLE {r}").format(r=sql.Identifier(role)).as_string(),
    )


def _run_guarded(store, statement: str, *, timeout_seconds: float = 5):
    with datastore_pg_connect(store) as connection, connection.transaction(), connection.cursor() as cursor:
        datastore_guard(cursor, store, timeout_seconds=timeout_seconds)
        cursor.execute(statement)
        return cursor.fetchall()


def test_guarded_sql_cannot_write_even_where_the_parser_would_miss_it(guarded_store):
    store, _ = guarded_store
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        _run_guarded(store, "SELECT nextval('app.ids')")


def test_guarded_sql_is_stopped_by_the_statement_timeout(guarded_store):
    store, _ = guarded_store
    with pytest.raises(psycopg.errors.QueryCanceled):
        _run_guarded(store, "SELECT pg_sleep(3)", timeout_seconds=0.2)


def test_guarded_sql_resolves_unqualified_names_in_the_stores_schema_only(guarded_store):
    store, _ = guarded_store
    assert _run_guarded(store, "SELECT id FROM orders") == [(1,)]


def test_guarded_sql_runs_as_the_stores_read_role_when_it_names_one(guarded_store):
    store, role = guarded_store
    assert _run_guarded(store, "SELECT id FROM secrets") == []
    store.read_role = role
    store.save()
    assert _run_guarded(store, "SELECT current_user") == [(role,)]
    assert _run_guarded(store, "SELECT id FROM orders") == [(1,)]
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        _run_guarded(store, "SELECT token FROM secrets")


def test_a_read_role_is_a_sql_identifier_and_postgresql_only(db):
    store = DataStore(name="lite", engine="sqlite", read_role="reader")
    with pytest.raises(ValidationError) as error:
        store.full_clean()
    assert "read_role" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        DataStore(name="pg", engine="postgresql", read_role='x"; DROP ROLE y; --').full_clean()
    assert "read_role" in error.value.message_dict


# ---- Finding 1: a data store never resolves to Custodian's own database ---------------------------------


def _own_database_url() -> str:
    from django.db import connection

    settings = connection.settings_dict
    return (
        f"postgresql://{settings.get('USER') or 'postgres'}@{settings.get('HOST') or '127.0.0.1'}:"
        f"{settings.get('PORT') or 5432}/{settings['NAME']}"
    )


def test_a_data_store_on_the_default_alias_is_refused_on_its_field(db):
    with pytest.raises(ValidationError) as error:
        DataStore(name="own", engine="postgresql", connection_alias="default").full_clean()
    assert "Custodian's own database" in " ".join(error.value.message_dict["connection_alias"])


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_data_store_whose_url_is_custodians_own_database_is_refused(db, monkeypatch, host):
    monkeypatch.setenv("CUSTODIAN_TEST_OWN_URL", _own_database_url().replace("127.0.0.1", host))
    with pytest.raises(ValidationError) as error:
        DataStore(name="own", engine="postgresql", url_env="CUSTODIAN_TEST_OWN_URL").full_clean()
    assert "Custodian's own database" in " ".join(error.value.message_dict["url_env"])


def test_a_variable_changed_to_custodians_database_after_saving_is_refused_at_connection(
    db, monkeypatch, steward
):
    monkeypatch.setenv("CUSTODIAN_TEST_LATER_URL", "postgresql://postgres@127.0.0.1:5432/somewhere_else")
    store = catalog_object_save(
        obj=DataStore(name="later", engine="postgresql", url_env="CUSTODIAN_TEST_LATER_URL"), user=steward
    )
    monkeypatch.setenv("CUSTODIAN_TEST_LATER_URL", _own_database_url())
    with pytest.raises(SchemaError, match="Custodian's own database"):
        datastore_url(store)


def test_platform_admin_cannot_add_a_data_store_on_custodians_own_database(client, platform_admin):
    """Finding 1: a data store on `default` was the first step to reading django_session."""
    client.force_login(platform_admin)
    response = client.post(
        "/admin/catalog/datastore/add/",
        {"name": "mine", "engine": "postgresql", "schema_name": "public", "connection_alias": "default"},
    )
    assert response.status_code == 200
    assert "Custodian&#x27;s own database" in response.content.decode()
    assert not DataStore.objects.filter(name="mine").exists()

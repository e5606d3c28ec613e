"""Applying releases to a real PostgreSQL target: forward, back, refusals, failures, and an RQ worker."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command

from catalog.models import Entity, SchemaApply
from catalog.schema.apply import schema_apply_enqueue, schema_apply_execute
from catalog.schema.ddl import ddl_render, schema_ddl
from catalog.schema.dialects import profile_for
from catalog.schema.releases import release_publish
from catalog.services import catalog_object_save
from core.choices import RunStatus
from core.errors import SchemaError
from tests.catalog.schema.conftest import run_sql
from tests.catalog.schema.test_releases import build_bank, change_for_v2, fresh_schema, schema_signature
from tests.conftest import add_column

ROOT = Path(__file__).resolve().parents[3]


def build_v1(store, steward):
    build_bank(store, steward)
    return release_publish(datastore=store, user=steward, message="First cut")


def url_of(store) -> str:
    return os.environ[store.url_env]


def history(store) -> list[tuple]:
    with psycopg.connect(url_of(store).replace("+psycopg", "")) as connection:
        return connection.execute(
            "SELECT version, direction, success FROM app.custodian_schema_history ORDER BY installed_rank"
        ).fetchall()


def test_apply_forward_and_roll_back_leaves_the_schema_of_each_version(
    target_store, steward, scratch_database
):
    store = target_store()
    v1 = build_v1(store, steward)
    schema_apply_execute(datastore=store, target_version=1, user=steward)
    assert schema_signature(url_of(store)) == fresh_schema(scratch_database, v1)
    change_for_v2(store, steward)
    v2 = release_publish(datastore=store, user=steward, message="Second", allow_destructive=True)
    outcome = schema_apply_execute(datastore=store, target_version=2, user=steward)
    assert outcome.from_version == 1 and outcome.statements == v2.up_statements
    assert schema_signature(url_of(store)) == fresh_schema(scratch_database, v2)
    schema_apply_execute(datastore=store, target_version=1, user=steward)
    assert schema_signature(url_of(store)) == fresh_schema(scratch_database, v1)
    assert history(store) == [(1, "up", True), (2, "up", True), (1, "down", True)]


def test_a_failing_statement_leaves_the_target_exactly_as_it_was(target_store, steward):
    store = target_store()
    build_v1(store, steward)
    schema_apply_execute(datastore=store, target_version=1, user=steward)
    run_sql(url_of(store), "INSERT INTO app.customer(id, email) VALUES (1, 'a@x.org')")
    before = schema_signature(url_of(store))
    customer = Entity.objects.get(datastore=store, name="customer")
    add_column(customer, "tier", "integer", steward, nullable=False)  # fails on a table with rows
    release_publish(datastore=store, user=steward, message="tier", allow_destructive=True)
    with pytest.raises(Exception, match="tier"):
        schema_apply_execute(datastore=store, target_version=2, user=steward)
    assert schema_signature(url_of(store)) == before
    assert history(store) == [(1, "up", True)]


def test_apply_refuses_a_drifted_target(target_store, steward):
    store = target_store()
    build_v1(store, steward)
    schema_apply_execute(datastore=store, target_version=1, user=steward)
    run_sql(url_of(store), "ALTER TABLE app.customer ADD COLUMN sneaky text")
    catalog_object_save(obj=Entity(datastore=store, name="extra"), user=steward)
    release_publish(datastore=store, user=steward, message="v2")
    with pytest.raises(SchemaError, match="has drifted from version 1"):
        schema_apply_execute(datastore=store, target_version=2, user=steward)
    assert history(store) == [(1, "up", True)]


def test_apply_refuses_when_a_recorded_checksum_no_longer_matches(target_store, steward):
    store = target_store()
    build_v1(store, steward)
    schema_apply_execute(datastore=store, target_version=1, user=steward)
    run_sql(url_of(store), "UPDATE app.custodian_schema_history SET checksum = repeat('0', 64)")
    with pytest.raises(SchemaError, match="no longer matches"):
        schema_apply_execute(datastore=store, target_version=0, user=steward)


def test_apply_refuses_while_another_apply_holds_the_lock(target_store, steward):
    import zlib

    store = target_store()
    build_v1(store, steward)
    with psycopg.connect(url_of(store).replace("+psycopg", "")) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", [zlib.crc32(b"custodian:app")])
        with pytest.raises(SchemaError, match="holds the lock"):
            schema_apply_execute(datastore=store, target_version=1, user=steward)


def test_unreachable_or_unconfigured_store_is_a_clear_error(target_store, steward, monkeypatch):
    store = target_store()
    build_v1(store, steward)
    monkeypatch.delenv(store.url_env)
    with pytest.raises(SchemaError, match=f"reads its URL from \\${store.url_env}, which is not set"):
        schema_apply_execute(datastore=store, target_version=1, user=steward)
    monkeypatch.setenv(store.url_env, "postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(SchemaError, match="Cannot reach data store 'target'"):
        schema_apply_execute(datastore=store, target_version=1, user=steward)


def test_baseline_records_an_existing_database_then_applies_on_top(target_store, steward):
    store = target_store()
    v1 = build_v1(store, steward)
    run_sql(
        url_of(store),
        'CREATE SCHEMA "app"',
        ddl_render(schema_ddl(v1.snapshot, profile_for("postgresql"))),
    )
    schema_apply_execute(datastore=store, target_version=1, user=steward, baseline=True)
    assert history(store) == [(1, "base", True)]
    catalog_object_save(obj=Entity(datastore=store, name="extra"), user=steward)
    release_publish(datastore=store, user=steward, message="v2")
    schema_apply_execute(datastore=store, target_version=2, user=steward)
    assert "extra" in schema_signature(url_of(store))


def test_commands_release_apply_and_ddl(target_store, steward, capsys):
    store = target_store()
    build_v1(store, steward)
    call_command("schema_apply", "--datastore", "target", "--user", "steward")
    assert "is at version 1 (was 0)" in capsys.readouterr().out
    # Recorded like an admin's apply, so the store's page and the dashboard know the version it is at.
    from catalog.models import SchemaApply
    from dashboard.selectors import schema_state

    applied = SchemaApply.objects.get(datastore=store)
    assert (applied.status, applied.release.version, applied.requested_by) == ("succeeded", 1, steward)
    state = next(s for s in schema_state() if s.datastore == store)
    assert (state.applied_version, state.pending) == (1, 0)
    call_command("schema_apply", "--datastore", "target")  # without --user: recorded with nobody
    assert "is at version 1 (was 1); 0 statements ran" in capsys.readouterr().out
    assert SchemaApply.objects.filter(datastore=store, requested_by=None, status="succeeded").count() == 1
    call_command("schema_ddl", "--datastore", "target", "--dialect", "mysql", "--entity", "account")
    assert "CREATE TABLE `app`.`account`" in capsys.readouterr().out
    with pytest.raises(Exception, match="Nothing changed"):
        call_command("schema_release", "--datastore", "target", "--message", "again", "--user", "steward")
    with pytest.raises(Exception, match="No data store named 'nope'"):
        call_command("schema_ddl", "--datastore", "nope")


def test_datastore_add_command(db, capsys):
    call_command(
        "datastore_add", "lake", "--engine", "postgresql", "--url-env", "LAKE_URL", "--schema", "raw"
    )
    assert "reads its URL from $LAKE_URL" in capsys.readouterr().out
    with pytest.raises(Exception, match="url_env"):
        call_command("datastore_add", "lake2", "--engine", "postgresql", "--url-env", "lower-case")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_apply_queued_from_the_admin_runs_on_a_real_rq_worker(target_store, steward, settings):
    """The job goes through Redis to `manage.py rqworker`, which records the outcome in the database."""
    import django_rq

    settings.CUSTODIAN_JOBS_SYNC = False
    store = target_store()
    build_v1(store, steward)
    queue = django_rq.get_queue("default")
    queue.empty()
    run = schema_apply_enqueue(datastore=store, user=steward)
    assert queue.count == 1 and SchemaApply.objects.get(pk=run.pk).status == RunStatus.QUEUED
    from django.db import connection

    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
        store.url_env: url_of(store),
    }
    worker = subprocess.run(
        [sys.executable, "manage.py", "rqworker", "default", "--burst"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert worker.returncode == 0, worker.stderr
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.statements_run == len(run.release.up_statements)
    assert "customer" in schema_signature(url_of(store))
    with pytest.raises(Exception, match="finished"):
        run.save()


def test_failed_apply_is_recorded_with_its_reason(
    target_store, steward, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.CUSTODIAN_JOBS_SYNC = True
    store = target_store()
    build_v1(store, steward)
    monkeypatch.delenv(store.url_env)
    with django_capture_on_commit_callbacks(execute=True):
        run = schema_apply_enqueue(datastore=store, user=steward)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "is not set" in run.error

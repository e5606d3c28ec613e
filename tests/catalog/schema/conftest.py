"""Scratch databases for schema tests: real PostgreSQL databases created and dropped per test."""

import uuid

import psycopg
import pytest
from psycopg import sql

from catalog.models import DataStore
from catalog.services import catalog_object_save


def _admin_dsn() -> str:
    from django.conf import settings

    db = settings.DATABASES["default"]
    host, port, user = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432, db.get("USER") or "postgres"
    return f"host={host} port={port} user={user} dbname=postgres"


@pytest.fixture
def scratch_database():
    """make() creates an empty PostgreSQL database and returns its URL; all are dropped after the test."""
    created = []

    def make() -> str:
        name = f"custodian_scratch_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(_admin_dsn(), autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        from django.conf import settings

        db = settings.DATABASES["default"]
        return (
            f"postgresql+psycopg://{db.get('USER') or 'postgres'}@{db.get('HOST') or '127.0.0.1'}:"
            f"{db.get('PORT') or 5432}/{name}"
        )

    yield make
    with psycopg.connect(_admin_dsn(), autocommit=True) as connection:
        for name in created:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def target_store(db, scratch_database, steward, monkeypatch):
    """make(name, schema="app") registers a PostgreSQL data store over a new scratch database."""

    def make(name: str = "target", schema: str = "app") -> DataStore:
        url = scratch_database()
        env = f"CUSTODIAN_TEST_{name.upper()}_URL"
        monkeypatch.setenv(env, url)
        store = DataStore(name=name, engine="postgresql", schema_name=schema, url_env=env)
        return catalog_object_save(obj=store, user=steward)

    return make


def run_sql(url: str, *scripts: str | sql.Composable) -> None:
    """Run scripts in turn on a scratch database (psycopg URL form, without the SQLAlchemy driver suffix)."""
    with psycopg.connect(
        url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
    ) as connection:
        for script in scripts:
            connection.execute(script)


__all__ = ["run_sql"]

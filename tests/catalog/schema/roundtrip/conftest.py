"""Scratch databases for the round trip, named custodian_roundtrip_* and dropped after each test."""

import uuid

import psycopg
import pytest
from psycopg import sql

from tests.catalog.schema.conftest import _admin_dsn


@pytest.fixture
def roundtrip_database(db):
    """make(label) creates an empty database custodian_roundtrip_<label>_<hex> and returns its URL; every
    one is dropped after the test."""
    from django.conf import settings

    created = []
    default = settings.DATABASES["default"]
    user, host = default.get("USER") or "postgres", default.get("HOST") or "127.0.0.1"
    server = f"{user}@{host}:{default.get('PORT') or 5432}"

    def make(label: str) -> str:
        name = f"custodian_roundtrip_{label}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(_admin_dsn(), autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        return f"postgresql+psycopg://{server}/{name}"

    yield make
    with psycopg.connect(_admin_dsn(), autocommit=True) as connection:
        for name in created:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

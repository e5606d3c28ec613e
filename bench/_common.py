"""What every benchmark needs, imported first: the project importable and Django set up, a throwaway catalog
(Django's test database for DATABASE_URL, so nothing of yours is touched) and scratch PostgreSQL databases
on the catalog's server for targets and data stores.
"""

import os
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
from django.db import connection  # noqa: E402
from psycopg import sql  # noqa: E402

__all__ = ["server", "admin_execute", "scratch_database", "throwaway_catalog"]


def server() -> tuple[str, str, str]:
    """(host, port, user) of the catalog's PostgreSQL server."""
    db = connection.settings_dict
    return db["HOST"] or "127.0.0.1", str(db["PORT"] or 5432), db["USER"] or "postgres"


def admin_execute(statement: str | sql.Composable) -> None:
    """Run a statement on the server's maintenance database (postgres), in autocommit."""
    host, port, user = server()
    with psycopg.connect(f"host={host} port={port} user={user} dbname=postgres", autocommit=True) as conn:
        conn.execute(statement)


@contextmanager
def scratch_database(*, sqlalchemy: bool = False):
    """A new empty database on the same server for the block: (name, URL), dropped afterwards.

    `sqlalchemy` gives the URL a data store's environment variable holds (postgresql+psycopg://)."""
    name = f"custodian_bench_{uuid.uuid4().hex[:8]}"
    admin_execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    host, port, user = server()
    scheme = "postgresql+psycopg" if sqlalchemy else "postgresql"
    try:
        yield name, f"{scheme}://{user}@{host}:{port}/{name}"
    finally:
        admin_execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def throwaway_catalog(*, serialize: bool = False):
    """Django's test database for DATABASE_URL, migrated, for the block; destroyed afterwards."""
    settings_db = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=serialize)
    try:
        yield
    finally:
        connection.creation.destroy_test_db(settings_db, verbosity=0)

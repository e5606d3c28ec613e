"""Connections to the data stores Custodian manages: from a Django DATABASES alias or a URL in an
environment variable, read at use time. No password is ever stored in the catalog."""

import os
from contextlib import contextmanager

import sqlalchemy as sa
from django.conf import settings

from catalog.models import DataStore
from catalog.schema.dialects import SchemaError

__all__ = [
    "datastore_url",
    "datastore_engine",
    "datastore_connect",
    "datastore_pg_connect",
    "StoreUnreachable",
]

DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "sqlite": "sqlite",
    "mysql": "mysql+pymysql",
    "sqlserver": "mssql+pyodbc",
}


def _url_from_alias(alias: str) -> sa.URL:
    if alias not in settings.DATABASES:
        raise SchemaError(f"DATABASES has no alias '{alias}'.")
    db = settings.DATABASES[alias]
    engine = db["ENGINE"].rsplit(".", 1)[-1]
    if engine == "sqlite3":
        return sa.URL.create("sqlite", database=str(db["NAME"]))
    return sa.URL.create(
        DRIVERS.get(engine, engine),
        username=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        host=db.get("HOST") or None,
        port=int(db["PORT"]) if db.get("PORT") else None,
        database=db.get("NAME"),
    )


def datastore_url(datastore: DataStore) -> sa.URL:
    """Where the data store is, from its alias or environment variable; SchemaError saying what is missing."""
    if datastore.connection_alias:
        return _url_from_alias(datastore.connection_alias)
    if not datastore.url_env:
        raise SchemaError(
            f"Data store '{datastore.name}' has no connection: set a DATABASES alias or the name "
            "of an environment variable holding its URL."
        )
    raw = os.environ.get(datastore.url_env)
    if not raw:
        raise SchemaError(
            f"Data store '{datastore.name}' reads its URL from ${datastore.url_env}, which is not "
            "set in this process's environment."
        )
    try:
        url = sa.make_url(raw)
    except sa.exc.ArgumentError as exc:
        raise SchemaError(f"${datastore.url_env} is not a database URL: {exc}") from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def datastore_engine(datastore: DataStore) -> sa.Engine:
    """A SQLAlchemy engine for the data store (no pooling: jobs connect, work and leave)."""
    url = datastore_url(datastore)
    if url.get_backend_name() != {"sqlserver": "mssql"}.get(datastore.engine, datastore.engine):
        raise SchemaError(
            f"Data store '{datastore.name}' is {datastore.get_engine_display()} but its URL "
            f"points at {url.get_backend_name()}."
        )
    try:
        # An unreachable host fails within seconds instead of hanging a request or a job.
        connect_args = {"connect_timeout": 5} if url.get_backend_name() == "postgresql" else {}
        return sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args=connect_args)
    except ImportError as exc:
        raise SchemaError(
            f"Custodian cannot connect to {datastore.get_engine_display()} data stores here: its "
            f"driver ({exc.name}) is not installed. DDL and releases still work; apply the "
            "scripts with your own tools."
        ) from None


@contextmanager
def datastore_connect(datastore: DataStore):
    """A connection to the data store; SchemaError naming the store when it cannot be reached."""
    engine = datastore_engine(datastore)
    try:
        connection = engine.connect()
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise SchemaError(f"Cannot reach data store '{datastore.name}': {reason}") from None
    try:
        yield connection
    finally:
        connection.close()
        engine.dispose()


class StoreUnreachable(SchemaError):
    """The data store refused or dropped the connection: trying again later may work."""


def datastore_pg_connect(datastore: DataStore, *, application_name: str = "custodian"):
    """A psycopg connection to a PostgreSQL data store, for work SQLAlchemy does not do (COPY, cancel).

    SchemaError when the store is not PostgreSQL or has no usable URL; StoreUnreachable when it cannot be
    reached.
    """
    import psycopg

    if datastore.engine != "postgresql":
        raise SchemaError(
            f"Data store '{datastore.name}' is {datastore.get_engine_display()}; this needs PostgreSQL."
        )
    conninfo = datastore_url(datastore).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        return psycopg.connect(conninfo, connect_timeout=5, application_name=application_name)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreUnreachable(f"Cannot reach data store '{datastore.name}': {reason}") from None

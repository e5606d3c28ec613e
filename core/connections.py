"""Connections to the data stores Custodian manages: from a Django DATABASES alias or a URL in an
environment variable, read at use time. No password is ever stored in the catalog."""

from contextlib import contextmanager
from typing import Protocol

import sqlalchemy as sa

from core.databases import alias_url, environment_url, own_database_problem_for_url
from core.errors import SchemaError, StoreUnreachable
from core.sql_gate import guard_transaction

__all__ = [
    "DataStore",
    "datastore_url",
    "datastore_engine",
    "datastore_connect",
    "datastore_pg_connect",
    "datastore_guard",
]


class DataStore(Protocol):
    """What a connection needs of a catalog data store (catalog.models.DataStore); core reads no app."""

    name: str
    connection_alias: str
    url_env: str
    read_role: str


def datastore_url(datastore: DataStore) -> sa.URL:
    """Where the data store is, from its alias or environment variable; SchemaError saying what is missing,
    or that it resolves to Custodian's own database (refused: see core/databases.py)."""
    if datastore.connection_alias:
        url = alias_url(datastore.connection_alias)
        if url is None:
            raise SchemaError(f"DATABASES has no alias '{datastore.connection_alias}'.")
    elif not datastore.url_env:
        raise SchemaError(
            f"Data store '{datastore.name}' has no connection: set a DATABASES alias or the name "
            "of an environment variable holding its URL."
        )
    else:
        try:
            url = environment_url(datastore.url_env)
        except sa.exc.ArgumentError as exc:
            raise SchemaError(f"${datastore.url_env} is not a database URL: {exc}") from None
        if url is None:
            raise SchemaError(
                f"Data store '{datastore.name}' reads its URL from ${datastore.url_env}, which is not "
                "set in this process's environment."
            )
    problem = own_database_problem_for_url(url, store_name=datastore.name)
    if problem:
        raise SchemaError(problem)
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
    """A connection to the data store; StoreUnreachable (a SchemaError) naming the store when it cannot be
    reached, so that callers that retry transient failures can tell it from a wrong configuration."""
    engine = datastore_engine(datastore)
    try:
        connection = engine.connect()
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StoreUnreachable(f"Cannot reach data store '{datastore.name}': {reason}") from None
    try:
        yield connection
    finally:
        connection.close()
        engine.dispose()


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


def datastore_guard(cursor, datastore: DataStore, *, timeout_seconds: float) -> None:
    """The first statements of a transaction that runs user-written SQL on the data store: read only, a
    statement timeout, the store's read-only role and its schema as the only search path (core.sql_gate)."""
    guard_transaction(
        cursor,
        timeout_ms=max(1, int(timeout_seconds * 1000)),
        role=datastore.read_role or None,
        schema=datastore.schema_name or None,
    )

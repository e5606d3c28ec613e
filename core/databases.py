"""Where a database is, and whether it is Custodian's own.

A data store is a database Custodian describes and reads on behalf of its users. Custodian's own database
holds sessions, password hashes and the audit trail, so a data store must never resolve to it: a query
over it (a SQL source, a custom rule) would hand a platform admin every signed-in session.
"""

import os
from pathlib import Path

import sqlalchemy as sa
from django.conf import settings
from django.db import connections

__all__ = [
    "alias_url",
    "environment_url",
    "own_database_problem_for_url",
    "own_database_problem",
    "store_aliases",
    "DRIVERS",
]

DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "sqlite": "sqlite",
    "mysql": "mysql+pymysql",
    "sqlserver": "mssql+pyodbc",
}
LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1", "[::1]"}


def _url_from_settings(db: dict) -> sa.URL:
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


def alias_url(alias: str) -> sa.URL | None:
    """The URL of a Django DATABASES alias, or None when there is no such alias."""
    if alias not in settings.DATABASES:
        return None
    return _url_from_settings(settings.DATABASES[alias])


def environment_url(variable: str) -> sa.URL | None:
    """The URL held by an environment variable, or None when it is unset; ArgumentError when malformed."""
    raw = os.environ.get(variable)
    if not raw:
        return None
    url = sa.make_url(raw)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def _place(url: sa.URL) -> tuple:
    """What identifies a database server and database, whatever the spelling of the URL."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        name = url.database or ""
        return ("sqlite", str(Path(name).resolve()) if name and name != ":memory:" else name)
    host = (url.host or url.query.get("host") or "").lower()
    if isinstance(host, tuple):
        host = host[0]
    # A socket directory and the loopback addresses reach the same local server.
    local = host in LOCAL_HOSTS or host.startswith("/")
    default_ports = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}
    return (backend, "local" if local else host, url.port or default_ports.get(backend), url.database or "")


def own_database_problem_for_url(url: sa.URL, *, store_name: str) -> str | None:
    """Why a data store at `url` is refused because it is Custodian's own database, or None."""
    # connections[...].settings_dict is the database really in use (the test database under pytest).
    own = {
        _place(_url_from_settings(connections["default"].settings_dict)),
        _place(_url_from_settings(settings.DATABASES["default"])),
    }
    if _place(url) in own:
        return (
            f"Data store '{store_name}' points at Custodian's own database. A data store must be another "
            "database: Custodian's holds its users, sessions and audit trail."
        )
    return None


def own_database_problem(*, store_name: str, connection_alias: str = "", url_env: str = "") -> str | None:
    """Why a data store with this connection is refused as Custodian's own database, or None (also when it
    cannot be resolved yet: a variable set only on the workers is checked again at every connection)."""
    try:
        if connection_alias:
            url = alias_url(connection_alias)
        else:
            url = environment_url(url_env) if url_env else None
    except sa.exc.ArgumentError:
        return None
    return own_database_problem_for_url(url, store_name=store_name) if url is not None else None


def store_aliases() -> list[str]:
    """The DATABASES aliases a data store may connect through, sorted: all but Custodian's own database
    (`default`, and any other alias that points at it)."""
    return sorted(
        alias
        for alias in settings.DATABASES
        if alias != "default" and own_database_problem(store_name=alias, connection_alias=alias) is None
    )

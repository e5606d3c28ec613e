"""How many rows the tables of a data store's database hold, for lint findings that depend on it."""

import logging

import sqlalchemy as sa

from catalog.models import DataStore
from catalog.schema.dialects import profile_of_connection
from core.connections import datastore_connect
from core.errors import SchemaError

__all__ = ["table_rows_read"]

logger = logging.getLogger(__name__)


def table_rows_read(datastore: DataStore) -> dict[str, int] | None:
    """{table: rows (estimated where the dialect keeps estimates), or None when the database cannot be
    reached or read."""
    if not (datastore.url_env or datastore.connection_alias):
        return None
    try:
        with datastore_connect(datastore) as connection:
            profile = profile_of_connection(connection)
            estimates = profile.row_estimates_sql if profile else None
            if estimates:
                return _estimated_rows(connection, sa.text(estimates), datastore.schema_name or "public")
            tables = sa.inspect(connection).get_table_names()
            return {name: _count(connection, None, name) for name in tables}
    except (SchemaError, sa.exc.SQLAlchemyError) as exc:
        logger.info("No row counts for %s: %s", datastore.name, exc)
        return None


def _estimated_rows(connection, estimates: sa.TextClause, schema: str) -> dict[str, int]:
    # The planner's estimate; -1 means never analyzed, then the table is counted (small if never analyzed).
    rows = {}
    for name, estimate in connection.execute(estimates, {"schema": schema}):
        rows[name] = estimate if estimate >= 0 else _count(connection, schema, name)
    return rows


def _count(connection, schema: str | None, name: str) -> int:
    table = sa.table(name, schema=schema)
    return connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()

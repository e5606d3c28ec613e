"""The schema history table Custodian keeps inside each target database (as Flyway and Atlas do).

One row per step applied: the version the schema is at after the step, the release checksum, who, when,
which way (up or down), how long, and whether it succeeded. The newest successful row is the current version.
"""

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from django.conf import settings

from catalog.schema.dialects import DialectProfile

__all__ = [
    "HISTORY_TABLE",
    "HistoryRow",
    "history_table",
    "history_rows",
    "history_current_version",
    "bookkeeping_tables",
]

HISTORY_TABLE = "custodian_schema_history"


def bookkeeping_tables() -> set[str]:
    """Tables Custodian keeps inside a target for itself, never catalog entities: drift and introspection
    pass them by. The schema history, and those the apps name in settings.CUSTODIAN_BOOKKEEPING_TABLES
    (pipelines keep their watermarks in one)."""
    return {HISTORY_TABLE, *settings.CUSTODIAN_BOOKKEEPING_TABLES}


def history_table(profile: DialectProfile, schema: str | None) -> sa.Table:
    """The history table as SQLAlchemy Core, for creating, reading and writing it."""
    return sa.Table(
        HISTORY_TABLE,
        sa.MetaData(),
        sa.Column("installed_rank", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False),
        sa.Column("direction", sa.String(4), nullable=False),
        sa.Column("installed_by", sa.String(150), nullable=False),
        sa.Column("installed_on", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("execution_ms", sa.Integer, nullable=False),
        sa.Column("success", sa.Boolean, nullable=False),
        schema=schema if profile.supports_schemas else None,
    )


@dataclass(frozen=True)
class HistoryRow:
    installed_rank: int
    version: int
    description: str
    checksum: str
    direction: str
    installed_by: str
    installed_on: datetime
    execution_ms: int
    success: bool


def history_rows(connection: sa.Connection, profile: DialectProfile, schema: str | None) -> list[HistoryRow]:
    """Every recorded step, oldest first; [] when the table does not exist (never applied)."""
    table = history_table(profile, schema)
    if not sa.inspect(connection).has_table(HISTORY_TABLE, schema=table.schema):
        return []
    rows = connection.execute(sa.select(table).order_by(table.c.installed_rank)).mappings()
    return [HistoryRow(**row) for row in rows]


def history_current_version(rows: list[HistoryRow]) -> int | None:
    """The version the target is at: that of the newest successful step (None if none)."""
    done = [row for row in rows if row.success]
    return done[-1].version if done else None

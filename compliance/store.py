"""SQL on a data store for retention and subject requests: one transaction per execution or request, and
sets of rows kept in temporary tables so that every later statement (children, deletes, updates) works on
exactly the rows found first, set-based and in batches.

Names reach SQL only as psycopg `sql.Identifier`; values only as parameters.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.conf import settings
from psycopg import sql

from catalog.models import DataStore, Entity
from compliance.graph import CatalogGraph, ForeignKey
from core.connections import datastore_pg_connect

__all__ = ["StoreSession", "RowSet", "store_session", "batch_rows", "database_problem", "timed"]

# The columns a row set adds; prefixed so they cannot clash with a catalog column.
ROW_NUMBER, ROW_CTID, ROW_FATE = "custodian_n", "custodian_ctid", "custodian_fate"
MAX_STATEMENTS = 60
ALL_ROWS = sql.SQL("true")


def batch_rows() -> int:
    """Rows per DELETE / UPDATE / INSERT statement (a setting, so tests can prove batching)."""
    return int(getattr(settings, "CUSTODIAN_COMPLIANCE_BATCH_ROWS", 5000))


def database_problem(exc: Exception) -> str:
    """The first line of a database error, for a message a person reads."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class StoreSession:
    """One REPEATABLE READ transaction on a PostgreSQL data store; the distinct statements it ran are kept
    (with %s for their parameters) for the record."""

    def __init__(self, connection: psycopg.Connection, graph: CatalogGraph):
        self.connection = connection
        self.graph = graph
        self.schema = graph.datastore.schema_name or "public"
        self.statements: list[str] = []
        self._existing: dict[int, bool] = {}
        self._sets = 0

    def execute(self, statement: sql.Composable, params=None) -> psycopg.Cursor:
        text = statement.as_string(self.connection)
        if text not in self.statements and len(self.statements) < MAX_STATEMENTS:
            self.statements.append(text)
        return self.connection.execute(statement, params)

    def scalar(self, statement: sql.Composable, params=None):
        return self.execute(statement, params).fetchone()[0]

    def table(self, entity: Entity) -> sql.Identifier:
        return sql.Identifier(self.schema, entity.name)

    def qualified(self, entity: Entity) -> str:
        """How a person reads the table's name: schema.table."""
        return f"{self.schema}.{entity.name}"

    def regclass_name(self, schema: str, table: str) -> str:
        """A table name as a value for ::regclass, quoted through the one gate."""
        return sql.Identifier(schema, table).as_string(self.connection)

    def table_exists(self, entity: Entity) -> bool:
        if entity.pk not in self._existing:
            name = self.regclass_name(self.schema, entity.name)
            self._existing[entity.pk] = self.scalar(sql.SQL("SELECT to_regclass(%s) IS NOT NULL"), [name])
        return self._existing[entity.pk]

    def read_only(self) -> None:
        """From here on the data store refuses any write but to temporary tables (dry runs, finds)."""
        self.execute(sql.SQL("SET TRANSACTION READ ONLY"))

    def advisory_lock(self, key: str) -> bool:
        """Try to take the transaction-scoped advisory lock named `key`; False when someone holds it."""
        return self.scalar(sql.SQL("SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))"), [key])

    def row_set(self, entity: Entity) -> "RowSet":
        self._sets += 1
        row_set = RowSet(self, entity, sql.Identifier(f"custodian_set_{self._sets}"))
        row_set.create()
        return row_set


@contextmanager
def store_session(datastore: DataStore, *, commit: bool, purpose: str) -> Iterator[StoreSession]:
    """A session in one transaction, committed at the end only when `commit` (and nothing raised)."""
    graph = CatalogGraph(datastore)
    connection = datastore_pg_connect(datastore, application_name=f"custodian {purpose}")
    try:
        connection.autocommit = True
        connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with connection.transaction(force_rollback=not commit):
            connection.execute("SET LOCAL TIME ZONE 'UTC'")
            lock_seconds = int(getattr(settings, "CUSTODIAN_COMPLIANCE_LOCK_TIMEOUT_SECONDS", 30))
            connection.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(f"{lock_seconds}s")))
            yield StoreSession(connection, graph)
    finally:
        connection.close()


class RowSet:
    """Rows of one entity's table, held in a temporary table by their key (the primary key, else ctid),
    with the columns foreign keys join on, a running number for batches and a fate for erasures."""

    def __init__(self, session: StoreSession, entity: Entity, temp: sql.Identifier):
        self.session, self.entity, self.temp = session, entity, temp
        graph = session.graph
        self.keys = [c.name for c in graph.key_columns(entity.pk)]
        carried = list(self.keys)
        carried += [fk.target.name for fk in graph.children(entity.pk)]
        carried += [fk.column.name for fk in graph.parents(entity.pk)]
        self.carried = list(dict.fromkeys(carried))

    @property
    def table(self) -> sql.Identifier:
        return self.session.table(self.entity)

    def _select_list(self) -> sql.Composable:
        items = [sql.SQL("t.{}").format(sql.Identifier(name)) for name in self.carried]
        if not self.keys:
            items.append(sql.SQL("t.ctid AS {}").format(sql.Identifier(ROW_CTID)))
        return sql.SQL(", ").join(items)

    def _locator(self) -> list[str]:
        return self.keys or [ROW_CTID]

    def create(self) -> None:
        self.session.execute(
            sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} AS t WITH NO DATA").format(
                self.temp, self._select_list(), self.table
            )
        )
        self.session.execute(
            sql.SQL(
                "ALTER TABLE {} ADD COLUMN {} bigserial, ADD COLUMN {} text NOT NULL DEFAULT 'delete'"
            ).format(self.temp, sql.Identifier(ROW_NUMBER), sql.Identifier(ROW_FATE))
        )
        locator = sql.SQL(", ").join(sql.Identifier(name) for name in self._locator())
        self.session.execute(sql.SQL("CREATE UNIQUE INDEX ON {} ({})").format(self.temp, locator))
        self.session.execute(sql.SQL("CREATE INDEX ON {} ({})").format(self.temp, sql.Identifier(ROW_NUMBER)))

    def match(self, table_alias: str = "t", set_alias: str = "s") -> sql.Composable:
        """The join condition between the table's rows and this set's rows."""
        pairs = [
            sql.SQL("{} = {}").format(sql.Identifier(table_alias, name), sql.Identifier(set_alias, name))
            for name in self.keys
        ] or [
            sql.SQL("{}.ctid = {}").format(sql.Identifier(table_alias), sql.Identifier(set_alias, ROW_CTID))
        ]
        return sql.SQL(" AND ").join(pairs)

    def add(self, condition: sql.Composable, params=()) -> int:
        """Add the table's rows matching `condition` (on alias t); returns how many were new."""
        names = [*self.carried] + ([] if self.keys else [ROW_CTID])
        cursor = self.session.execute(
            sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} AS t WHERE {} ON CONFLICT DO NOTHING").format(
                self.temp,
                sql.SQL(", ").join(sql.Identifier(n) for n in names),
                self._select_list(),
                self.table,
                condition,
            ),
            params,
        )
        return cursor.rowcount

    def referencing(self, fk: ForeignKey, parent: "RowSet", fates=None) -> sql.Composable:
        """Condition (on alias t of this table): the row's `fk` points at a row of `parent`."""
        fate_filter = self.fate_filter(fates, alias="p")
        return sql.SQL("t.{} IN (SELECT p.{} FROM {} AS p WHERE true{})").format(
            sql.Identifier(fk.column.name), sql.Identifier(fk.target.name), parent.temp, fate_filter
        )

    @staticmethod
    def fate_filter(fates, alias: str = "s") -> sql.Composable:
        if not fates:
            return sql.SQL("")
        return sql.SQL(" AND {} = ANY({})").format(
            sql.Identifier(alias, ROW_FATE), sql.Literal([str(f) for f in fates])
        )

    def count(self, fates=None) -> int:
        return self.session.scalar(
            sql.SQL("SELECT count(*) FROM {} AS s WHERE true{}").format(self.temp, self.fate_filter(fates))
        )

    def batches(self) -> Iterator[tuple[int, int]]:
        """(after, up_to) ranges of row numbers, each holding at most one batch of rows."""
        low, high = self.session.execute(
            sql.SQL("SELECT min({0}), max({0}) FROM {1}").format(sql.Identifier(ROW_NUMBER), self.temp)
        ).fetchone()
        if low is None:
            return
        size = batch_rows()
        for start in range(low - 1, high, size):
            yield start, start + size

    def in_batch(self, alias: str = "s") -> sql.Composable:
        """Condition on the set's alias: the row number is in the batch (params: after, up_to)."""
        column = sql.Identifier(alias, ROW_NUMBER)
        return sql.SQL("{} > %s AND {} <= %s").format(column, column)

    def set_fate(self, fate: str, *, where: sql.Composable = ALL_ROWS, params=(), from_table=False) -> int:
        """Give rows still fated 'delete' another fate; `where` may use alias t (the table) if from_table."""
        source = sql.SQL(" FROM {} AS t").format(self.table) if from_table else sql.SQL("")
        join = sql.SQL(" AND {}").format(self.match()) if from_table else sql.SQL("")
        cursor = self.session.execute(
            sql.SQL("UPDATE {} AS s SET {} = %s{} WHERE s.{} = 'delete'{} AND ({})").format(
                self.temp,
                sql.Identifier(ROW_FATE),
                source,
                sql.Identifier(ROW_FATE),
                join,
                where,
            ),
            [str(fate), *params],
        )
        return cursor.rowcount

    def rows(self, *, limit: int | None = None, fates=None) -> tuple[list[str], list[tuple]]:
        """(column names, rows) of the table's rows in this set, in the order they were found."""
        statement = sql.SQL("SELECT t.* FROM {} AS t JOIN {} AS s ON {} WHERE true{} ORDER BY s.{}").format(
            self.table, self.temp, self.match(), self.fate_filter(fates), sql.Identifier(ROW_NUMBER)
        )
        if limit is not None:
            statement = sql.SQL("{} LIMIT {}").format(statement, sql.Literal(limit))
        cursor = self.session.execute(statement)
        return [d.name for d in cursor.description], cursor.fetchall()

    def delete(self, fates=None) -> int:
        """Delete this set's rows (optionally only those of some fates) from the table, batch by batch, the
        rows found last first: rows reached through a self-reference were found after the rows they refer
        to, so they go first (children before parents within the table too)."""
        statement = sql.SQL("DELETE FROM {} AS t USING {} AS s WHERE {} AND {}{}").format(
            self.table, self.temp, self.match(), self.in_batch(), self.fate_filter(fates)
        )
        for after, up_to in reversed(list(self.batches())):
            self.session.execute(statement, [after, up_to])
        # Counted from the set, not from rowcounts: in a loop the database's own ON DELETE CASCADE may take
        # a row of the set before its turn comes.
        remaining = self.session.scalar(
            sql.SQL("SELECT count(*) FROM {} AS t JOIN {} AS s ON {} WHERE true{}").format(
                self.table, self.temp, self.match(), self.fate_filter(fates)
            )
        )
        return self.count(fates) - remaining


def timed(timings: dict, phase: str):
    """Context manager adding the seconds spent in `phase` to `timings`."""

    @contextmanager
    def measure():
        started = time.monotonic()
        try:
            yield
        finally:
            timings[phase] = round(timings.get(phase, 0) + time.monotonic() - started, 4)

    return measure()

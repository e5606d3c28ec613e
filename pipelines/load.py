"""Load: rows reach the target table in one PostgreSQL transaction, streamed through COPY.

- append: COPY straight into the target inside the run's transaction. The rows are already validated, so
  a staging table would only add a second pass; atomicity comes from the transaction, not from staging.
- replace: DELETE every row, then COPY, in the same transaction (readers see the old rows until commit).
- upsert: COPY into a temporary staging table, then one INSERT ... ON CONFLICT (key) DO UPDATE that skips
  rows that did not change; the last row of a key wins when the source repeats it across batches.
- scd2: staging as for upsert; then close the current version of every key whose tracked columns changed
  (valid_to, is_current = false) and insert a new current version for new and changed keys. Unchanged
  rows produce no new version.

The pipeline's watermark and file position live in `custodian_pipeline_state` in the same schema and are
written in the same transaction, so they advance exactly when the load commits.
"""

import io
import json
from queue import Queue

import polars as pl
import psycopg
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from pipelines.choices import LoadMode
from pipelines.sources import PipelineDataError

__all__ = ["TargetLoader", "target_connect", "STATE_TABLE", "SCD2_COLUMNS"]

STATE_TABLE = "custodian_pipeline_state"
SCD2_COLUMNS = ("valid_from", "valid_to", "is_current")


def target_connect(datastore) -> psycopg.Connection:
    """A psycopg connection to a PostgreSQL data store (COPY needs the driver itself)."""
    from core.connections import datastore_pg_connect
    from core.errors import SchemaError, StoreUnreachable
    from pipelines.sources import TransientSourceError

    if datastore.engine != "postgresql":
        raise PipelineDataError(
            f"Pipelines load PostgreSQL data stores (through COPY); '{datastore.name}' is "
            f"{datastore.get_engine_display()}."
        )
    try:
        return datastore_pg_connect(datastore, application_name="custodian-pipeline")
    except StoreUnreachable as exc:
        raise TransientSourceError(exc.message) from None
    except SchemaError as exc:
        raise PipelineDataError(exc.message) from None


class _BoundedQueuedWriter(QueuedLibpqWriter):
    """psycopg's queued COPY writer with a shorter queue: 256 chunks of 128 kB, at most 32 MB in flight."""

    def __init__(self, cursor, *, chunks: int = 256):
        super().__init__(cursor)
        self._queue = Queue(maxsize=chunks)


class TargetLoader:
    """Writes batches into one table within the connection's open transaction."""

    def __init__(
        self,
        connection: psycopg.Connection,
        *,
        schema: str,
        table: str,
        columns: list[str],
        mode: str,
        key: list[str],
        audit_columns: bool = False,
        types: dict | None = None,
    ):
        self.connection = connection
        self.schema = schema or "public"
        self.table = table
        self.columns = columns
        self.mode = mode
        self.key = key
        self.audit_columns = audit_columns
        self.types = types or {}
        self.target = sql.Identifier(self.schema, table)
        self.staging = sql.Identifier(f"custodian_stage_{table}"[:63])
        self.copied = 0
        self.deleted = 0
        self.notes: list[str] = []
        self._copy = None

    # -- set-up ------------------------------------------------------------------------------------------

    def begin(self) -> None:
        """Check the table and its columns exist, then prepare the mode (delete, staging table)."""
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s",
                (self.schema, self.table),
            )
            existing = {row[0] for row in cursor.fetchall()}
        if not existing:
            raise PipelineDataError(
                f"The target table {self.schema}.{self.table} does not exist: publish and apply the "
                "entity's schema release first."
            )
        needed = list(self.columns)
        if self.mode == LoadMode.SCD2:
            needed += list(SCD2_COLUMNS)
        missing = [name for name in needed if name not in existing]
        if missing:
            raise PipelineDataError(
                f"The target table {self.schema}.{self.table} has no column {', '.join(missing)}: "
                "the database "
                "is behind the catalog; apply the latest schema release."
            )
        with self.connection.cursor() as cursor:
            if self.mode == LoadMode.REPLACE:
                cursor.execute(sql.SQL("DELETE FROM {}").format(self.target))
                self.deleted = cursor.rowcount
                self.notes.append(f"Replace removed {self.deleted:,} existing rows.")
            if self.mode in (LoadMode.UPSERT, LoadMode.SCD2):
                cursor.execute(
                    sql.SQL(
                        "CREATE TEMPORARY TABLE {stage} ON COMMIT DROP AS "
                        "SELECT {cols} FROM {target} WITH NO DATA"
                    ).format(stage=self.staging, cols=self._cols(), target=self.target)
                )
                cursor.execute(
                    sql.SQL("ALTER TABLE {} ADD COLUMN custodian_seq bigserial").format(self.staging)
                )

    def _cols(self, prefix: str | None = None) -> sql.Composable:
        if prefix:
            return sql.SQL(", ").join(sql.Identifier(prefix, c) for c in self.columns)
        return sql.SQL(", ").join(sql.Identifier(c) for c in self.columns)

    # -- rows --------------------------------------------------------------------------------------------

    def write(self, frame: pl.DataFrame) -> None:
        """Stream one batch (columns in self.columns order) into the run's COPY to the target or staging.

        One COPY spans the run and a writer thread feeds it, so PostgreSQL stores batch n while the runner
        transforms batch n + 1 (a COPY per batch waits for the server after every batch).
        """
        if not frame.height:
            return
        if self._copy is None:
            into = self.target if self.mode in (LoadMode.APPEND, LoadMode.REPLACE) else self.staging
            statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(into, self._cols())
            self._cursor = self.connection.cursor()
            self._copy_context = self._cursor.copy(statement, writer=_BoundedQueuedWriter(self._cursor))
            self._copy = self._copy_context.__enter__()
        payload = io.BytesIO()
        frame.select(self.columns).write_csv(payload, include_header=False)
        self._copy.write(payload.getbuffer())
        self.copied += frame.height

    def copy_close(self, exc: BaseException | None = None) -> None:
        """End the run's COPY: wait until the server has every row, or abort it after an error."""
        if self._copy is None:
            return
        context, self._copy = self._copy_context, None
        try:
            context.__exit__(type(exc) if exc else None, exc, exc.__traceback__ if exc else None)
        finally:
            self._cursor.close()

    # -- finish ------------------------------------------------------------------------------------------

    def finish(self) -> tuple[int, int]:
        """Move staged rows into the target; (inserted, updated)."""
        self.copy_close()
        if self.mode in (LoadMode.APPEND, LoadMode.REPLACE):
            return self.copied, 0
        if self.mode == LoadMode.UPSERT:
            return self._upsert()
        return self._scd2()

    def _latest(self) -> sql.Composable:
        """Staged rows, one per key: the last one read."""
        key = sql.SQL(", ").join(sql.Identifier(c) for c in self.key)
        return sql.SQL(
            "SELECT DISTINCT ON ({key}) {cols} FROM {stage} ORDER BY {key}, custodian_seq DESC"
        ).format(key=key, cols=self._cols(), stage=self.staging)

    def _upsert(self) -> tuple[int, int]:
        tracked = [c for c in self.columns if c not in self.key]
        key = sql.SQL(", ").join(sql.Identifier(c) for c in self.key)
        if tracked:
            assignments = [sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in tracked]
            if self.audit_columns:
                assignments += [
                    sql.SQL("updated_at = now()"),
                    sql.SQL("version = {t}.version + 1").format(t=sql.Identifier("custodian_t")),
                ]
            changed = sql.SQL("({old}) IS DISTINCT FROM ({new})").format(
                old=sql.SQL(", ").join(sql.Identifier("custodian_t", c) for c in tracked),
                new=sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(sql.Identifier(c)) for c in tracked),
            )
            action = sql.SQL("DO UPDATE SET {} WHERE {}").format(sql.SQL(", ").join(assignments), changed)
        else:
            action = sql.SQL("DO NOTHING")
        statement = sql.SQL(
            "WITH merged AS (INSERT INTO {target} AS custodian_t ({cols}) {latest} "
            "ON CONFLICT ({key}) {action} RETURNING (xmax = 0) AS inserted) "
            "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged"
        ).format(target=self.target, cols=self._cols(), latest=self._latest(), key=key, action=action)
        with self.connection.cursor() as cursor:
            try:
                cursor.execute(statement)
            except psycopg.errors.InvalidColumnReference:
                raise PipelineDataError(
                    f"Upsert needs a primary key or unique constraint on ({', '.join(self.key)}) in "
                    f"{self.schema}.{self.table}; the table has none."
                ) from None
            inserted, updated = cursor.fetchone()
        return inserted, updated

    def _scd2(self) -> tuple[int, int]:
        tracked = [c for c in self.columns if c not in self.key]
        join = sql.SQL(" AND ").join(
            sql.SQL("{t} = {s}").format(
                t=sql.Identifier("custodian_t", c), s=sql.Identifier("custodian_s", c)
            )
            for c in self.key
        )
        changed = (
            sql.SQL("({old}) IS DISTINCT FROM ({new})").format(
                old=sql.SQL(", ").join(sql.Identifier("custodian_t", c) for c in tracked),
                new=sql.SQL(", ").join(sql.Identifier("custodian_s", c) for c in tracked),
            )
            if tracked
            else sql.SQL("false")
        )
        with self.connection.cursor() as cursor:
            cursor.execute(
                sql.SQL("CREATE TEMPORARY TABLE custodian_latest ON COMMIT DROP AS {}").format(self._latest())
            )
            cursor.execute(
                sql.SQL(
                    "UPDATE {target} AS custodian_t SET valid_to = now(), is_current = false "
                    "FROM custodian_latest AS custodian_s "
                    "WHERE {join} AND custodian_t.is_current AND {changed}"
                ).format(target=self.target, join=join, changed=changed)
            )
            changed_count = cursor.rowcount
            cursor.execute(
                sql.SQL(
                    "INSERT INTO {target} ({cols}, valid_from, valid_to, is_current) "
                    "SELECT {scols}, now(), NULL, true FROM custodian_latest AS custodian_s "
                    "WHERE NOT EXISTS "
                    "(SELECT 1 FROM {target} AS custodian_t WHERE {join} AND custodian_t.is_current)"
                ).format(target=self.target, cols=self._cols(), scols=self._cols("custodian_s"), join=join)
            )
            inserted = cursor.rowcount
        return inserted - changed_count, changed_count

    # -- state -------------------------------------------------------------------------------------------

    def _state_table(self) -> sql.Composable:
        return sql.Identifier(self.schema, STATE_TABLE)

    def state_read(self, pipeline: str) -> tuple[str | None, dict]:
        """The committed watermark and file position of a pipeline (None, {} before its first load)."""
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
                (self.schema, STATE_TABLE),
            )
            if cursor.fetchone() is None:
                return None, {}
            cursor.execute(
                sql.SQL("SELECT watermark, file_position FROM {} WHERE pipeline = %s").format(
                    self._state_table()
                ),
                (pipeline,),
            )
            row = cursor.fetchone()
        return (row[0], row[1] or {}) if row else (None, {})

    def state_write(self, pipeline: str, *, watermark: str | None, file_position: dict, run_id: int) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (pipeline text PRIMARY KEY, watermark text, "
                    "file_position jsonb NOT NULL DEFAULT '{{}}', run_id bigint, "
                    "updated_at timestamptz NOT NULL)"
                ).format(self._state_table())
            )
            cursor.execute(
                sql.SQL(
                    "INSERT INTO {} (pipeline, watermark, file_position, run_id, updated_at) "
                    "VALUES (%s, %s, %s, %s, now()) ON CONFLICT (pipeline) DO UPDATE SET "
                    "watermark = EXCLUDED.watermark, file_position = EXCLUDED.file_position, "
                    "run_id = EXCLUDED.run_id, updated_at = EXCLUDED.updated_at"
                ).format(self._state_table()),
                (pipeline, watermark, json.dumps(file_position), run_id),
            )

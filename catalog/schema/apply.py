"""Applying releases to a data store's database: forward to a version or back to an earlier one.

All steps run in one transaction on engines with transactional DDL (PostgreSQL, SQLite, SQL Server), so a
failing statement leaves the target as it was. Before anything runs, the apply takes a lock inside the target,
checks that every recorded step's checksum still matches its release, and that the target has not drifted
from the release it is at.
"""

import time
import traceback
import zlib

import sqlalchemy as sa
from django.db import transaction

from catalog.models import DataStore, SchemaApply, SchemaRelease
from catalog.schema.dialects import DialectProfile, profile_for
from catalog.schema.history_table import history_current_version, history_rows, history_table
from catalog.schema.metadata import schema_tables_build
from catalog.schema.model import schema_model_from_snapshot
from core.choices import RunStatus
from core.connections import datastore_connect
from core.errors import SchemaError
from core.runs import run_claim, run_finish, run_heartbeat, run_request, runs_reap

__all__ = [
    "schema_apply_enqueue",
    "schema_apply_run",
    "schema_apply_recorded",
    "schema_apply_execute",
    "ApplyOutcome",
]


class ApplyOutcome:
    def __init__(self, from_version: int | None, to_version: int):
        self.from_version = from_version
        self.to_version = to_version
        self.statements: list[str] = []


def _lock(
    connection: sa.Connection, profile: DialectProfile, schema: str | None, datastore: DataStore
) -> None:
    if not profile.has_template("apply_lock"):
        return  # the dialect has no advisory locks; its DDL locks are what keep two applies apart
    key = zlib.crc32(f"custodian:{schema}".encode())
    if not connection.execute(sa.text(profile.render("apply_lock")), {"key": key}).scalar():
        raise SchemaError(
            f"Another apply to '{datastore.name}' holds the lock; try again when it has finished."
        )


def _verify_checksums(rows, releases: dict[int, SchemaRelease], datastore: DataStore) -> None:
    for row in rows:
        if not row.success or row.version == 0:
            continue
        release = releases.get(row.version)
        if release is None or release.checksum != row.checksum:
            raise SchemaError(
                f"'{datastore.name}' records version {row.version} with checksum {row.checksum[:12]}…, "
                "which no longer matches the catalog's release; the history was changed. Nothing ran."
            )


def _verify_no_drift(connection, profile, release: SchemaRelease, datastore: DataStore) -> None:
    from catalog.schema.drift import drift_compare

    expected = schema_tables_build(schema_model_from_snapshot(release.snapshot), profile)
    report = drift_compare(expected=expected, connection=connection)
    if report.has_drift:
        lines = "\n".join(f"- {line}" for line in [*report.missing, *report.extra, *report.different][:20])
        raise SchemaError(
            f"'{datastore.name}' has drifted from version {release.version}; nothing ran:\n{lines}"
        )


def _steps(current: int, target: int, releases: dict[int, SchemaRelease]):
    """(statements, resulting version, direction, release recorded) for each step from current to target."""
    if target >= current:
        return [(releases[v].up_statements, v, "up", releases[v]) for v in range(current + 1, target + 1)]
    return [
        (releases[v].down_statements, v - 1, "down", releases.get(v - 1)) for v in range(current, target, -1)
    ]


def schema_apply_execute(
    *, datastore: DataStore, target_version: int, user, baseline: bool = False
) -> ApplyOutcome:
    """Bring the data store's database to `target_version` (0 = empty), or with `baseline` record it as
    already there (after checking it has no drift from that release)."""
    profile = profile_for(datastore.engine)
    releases = {r.version: r for r in SchemaRelease.objects.filter(datastore=datastore)}
    if target_version and target_version not in releases:
        raise SchemaError(f"'{datastore.name}' has no release {target_version}.")
    schema = datastore.schema_name or None
    with datastore_connect(datastore) as connection, connection.begin():
        _lock(connection, profile, schema, datastore)
        if schema and profile.supports_schemas:
            create = profile.render("create_schema", schema=profile.quote(schema), schema_plain=schema)
            connection.exec_driver_sql(create)
        table = history_table(profile, schema)
        table.create(connection, checkfirst=True)
        rows = history_rows(connection, profile, schema)
        _verify_checksums(rows, releases, datastore)
        current = history_current_version(rows) or 0
        outcome = ApplyOutcome(current, target_version)
        if baseline:
            if current:
                raise SchemaError(
                    f"'{datastore.name}' is already at version {current}; a baseline is for "
                    "databases Custodian has never applied to."
                )
            _verify_no_drift(connection, profile, releases[target_version], datastore)
            _record(connection, table, releases[target_version], target_version, "base", user, 0)
            return outcome
        if current:
            _verify_no_drift(connection, profile, releases[current], datastore)
        for statements, version, direction, recorded in _steps(current, target_version, releases):
            started = time.monotonic()
            for sql in statements:
                connection.exec_driver_sql(sql)
                outcome.statements.append(sql)
            _record(
                connection,
                table,
                recorded,
                version,
                direction,
                user,
                int((time.monotonic() - started) * 1000),
            )
        return outcome


def _record(
    connection, table, release: SchemaRelease | None, version: int, direction: str, user, ms: int
) -> None:
    connection.execute(
        table.insert().values(
            version=version,
            description=(release.message if release else "empty schema")[:200],
            checksum=release.checksum if release else "0" * 64,
            direction=direction,
            installed_by=user.get_username() if user else "custodian",
            execution_ms=ms,
            success=True,
        )
    )


def schema_apply_enqueue(*, datastore: DataStore, user, version: int | None = None) -> SchemaApply:
    """Record an apply to `version` (default: the newest release) and queue it; the job does the work."""
    if version == 0:
        raise SchemaError(
            "Removing every released table (version 0) is done from the command line: "
            "schema_apply --version 0."
        )
    release = (
        datastore.releases.filter(version=version).first()
        if version
        else datastore.releases.order_by("-version").first()
    )
    if release is None:
        raise SchemaError(f"'{datastore.name}' has no release {version or ''} to apply; publish one first.")
    with transaction.atomic():
        # One request at a time decides whether an apply is already under way for this store.
        DataStore.objects.select_for_update().get(pk=datastore.pk)
        runs_reap(kinds=[SchemaApply], datastore=datastore)
        if SchemaApply.objects.filter(datastore=datastore, status__in=SchemaApply.run_kind.active).exists():
            raise SchemaError(f"An apply to '{datastore.name}' is already queued or running.")
        return run_request(SchemaApply(datastore=datastore, release=release, requested_by=user), user=user)


def schema_apply_recorded(*, datastore: DataStore, release: SchemaRelease, user) -> SchemaApply:
    """Apply now, in this process, with a record like an admin's queued apply (the command line and the
    demo), so that the data store's page and the dashboard know the version it is at."""
    run = run_request(
        SchemaApply(datastore=datastore, release=release, requested_by=user),
        user=user or "command",
        enqueue=False,
    )
    return schema_apply_run(apply_id=run.pk)


def schema_apply_run(*, apply_id: int) -> SchemaApply | None:
    """Job body: run a recorded apply and record how it ended (the error with its traceback if it failed);
    None when it was not queued any more."""
    run = run_claim(SchemaApply, apply_id)
    if run is None:
        return None
    try:
        with run_heartbeat(run):
            outcome = schema_apply_execute(
                datastore=run.datastore, target_version=run.release.version, user=run.requested_by
            )
    except Exception as exc:  # every failure is recorded on the run; the target rolled back
        error = exc.message if isinstance(exc, SchemaError) else f"{exc}\n\n{traceback.format_exc()}"
        run_finish(run, RunStatus.FAILED, error=error)
    else:
        run_finish(
            run,
            RunStatus.SUCCEEDED,
            from_version=outcome.from_version,
            statements_run=len(outcome.statements),
            log=";\n\n".join(outcome.statements),
        )
    return run

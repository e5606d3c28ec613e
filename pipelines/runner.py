"""One pipeline run, start to end: extract → transform → validate → load, in one target transaction.

The run row is the only state: the runner records progress on it after every batch, a heartbeat thread
touches it every few seconds (and passes on a cancel request by cancelling the running statement), and
the outcome is written when the transaction has committed or rolled back. A worker killed mid-run leaves
an open transaction that PostgreSQL rolls back and a heartbeat that goes stale (see core.runs.runs_reap).
"""

import logging
import time
from contextlib import contextmanager
from functools import partial

import psycopg
from django.db import connection
from psycopg import sql

from core.heartbeat import Heartbeat
from core.quoting import identifier
from core.runs import run_claim, run_heartbeat, run_progress
from pipelines.as_code import pipeline_to_config
from pipelines.choices import ErrorKind, RunStatus
from pipelines.config import source_fields_check
from pipelines.load import TargetLoader, target_connect
from pipelines.models import Pipeline, PipelineRun, RejectedRow
from pipelines.outcomes import run_finished, run_succeeded, run_transient_failed
from pipelines.plan import plan_apply, plan_build, plan_lookups_load
from pipelines.sources import PipelineDataError, TransientSourceError, source_open

__all__ = ["pipeline_run_execute", "RunCancelled", "ThresholdExceeded"]

logger = logging.getLogger(__name__)

REJECT_BATCH = 2000


class RunCancelled(Exception):
    pass


class ThresholdExceeded(Exception):
    pass


def pipeline_run_execute(run_id: int, *, progress=None) -> PipelineRun | None:
    """Run a queued run to its end; returns the finished run (None when it was not queued any more)."""
    run = run_claim(
        PipelineRun,
        run_id,
        related=("pipeline__target__datastore", "pipeline__source_datastore"),
        phase="starting",
    )
    if run is None:
        return None
    pipeline = run.pipeline
    run_progress(
        run, pipeline_version=pipeline.version, config=pipeline_to_config(pipeline), phase="preparing"
    )
    with run_heartbeat(run) as heartbeat:
        _run(run, pipeline, heartbeat, progress)
    return run


def _run(run: PipelineRun, pipeline: Pipeline, heartbeat: Heartbeat, progress) -> None:
    """Execute and record the outcome; the heartbeat keeps beating until the run is recorded."""
    timings = {"extract": 0.0, "transform": 0.0, "load": 0.0, "commit": 0.0}
    try:
        outcome = _execute(run, pipeline, heartbeat, timings, progress)
    except RunCancelled:
        run_finished(
            run,
            RunStatus.CANCELLED,
            ErrorKind.CANCELLED,
            "Cancelled on request; the target was left as it was.",
            timings=_rounded(timings),
        )
        return
    except ThresholdExceeded as exc:
        run_finished(run, RunStatus.FAILED, ErrorKind.THRESHOLD, str(exc), timings=_rounded(timings))
        return
    except PipelineDataError as exc:
        run_finished(run, RunStatus.FAILED, ErrorKind.DATA, exc.message, timings=_rounded(timings))
        return
    except (TransientSourceError, psycopg.OperationalError) as exc:
        if heartbeat.cancelled.is_set():
            run_finished(
                run,
                RunStatus.CANCELLED,
                ErrorKind.CANCELLED,
                "Cancelled on request; the target was left as it was.",
                timings=_rounded(timings),
            )
            return
        message = getattr(exc, "message", None) or str(exc).strip().splitlines()[0]
        run_transient_failed(run, message, timings=_rounded(timings))
        return
    except psycopg.Error as exc:
        # Only the server's first line, which names the constraint or column: its detail quotes the row's
        # values ("Key (email)=(...)", "Failing row contains (...)"), shown to everyone who may read runs.
        message = str(exc).strip().splitlines()[0]
        if isinstance(exc, psycopg.errors.UniqueViolation):
            # Rows repeating a key within a batch are quarantined (pipelines.plan); this one repeats a row
            # of an earlier batch or one already in the table.
            message += (
                ": a row repeats the key of a row already in the table or of a row in an earlier batch of "
                "this run"
            )
        run_finished(
            run,
            RunStatus.FAILED,
            ErrorKind.DATA,
            f"The target database refused the load: {message}. Nothing was loaded.",
            timings=_rounded(timings),
        )
        return
    except Exception as exc:
        logger.exception("Pipeline run %s failed", run.pk)
        run_finished(
            run,
            RunStatus.FAILED,
            ErrorKind.INTERNAL,
            f"Internal error ({type(exc).__name__}: {exc}); nothing was loaded. See the worker log.",
            timings=_rounded(timings),
        )
        return
    run_progress(run, phase="checking quality" if pipeline.run_quality else "recording")
    run_succeeded(run, pipeline, outcome, _rounded(timings))


@contextmanager
def _copy_guard(loader):
    """End the loader's open COPY when the run fails, so that the transaction can roll back."""
    try:
        yield
    except BaseException as exc:
        loader.copy_close(exc)
        raise


def _rounded(timings: dict) -> dict:
    return {name: round(seconds, 3) for name, seconds in timings.items()}


def _execute(run, pipeline, heartbeat, timings, progress) -> dict:
    """The run's work; returns what succeeded-bookkeeping needs. Raises on any failure, having rolled back."""
    plan = plan_build(pipeline)
    target = pipeline.target
    datastore = target.datastore
    with target_connect(datastore) as conn:
        # A cancel request stops the statement the run waits on; the run then rolls back.
        heartbeat.on_cancel = partial(conn.cancel_safe, timeout=5)
        loader = TargetLoader(
            conn,
            schema=datastore.schema_name,
            table=target.name,
            columns=plan.columns,
            mode=plan.load_mode,
            key=plan.key,
            audit_columns=target.has_audit_columns,
        )
        with conn.transaction(), _copy_guard(loader):
            loader.begin()
            watermark, file_position = loader.state_read(pipeline.name)
            plan_lookups_load(plan, pipeline, conn)
            if not plan.incremental:
                watermark, file_position = None, {}
            watermark_to = watermark
            watermark_value = None
            if watermark is not None and plan.watermark_spec is not None:
                from pipelines.validate import python_value

                watermark_value = python_value(plan.watermark_spec, watermark)
            with source_open(
                pipeline,
                watermark=watermark_value,
                watermark_column=plan.watermark_field or None,
                file_position=file_position,
            ) as reader:
                source_fields_check(reader.fields, plan.source_fields_needed())
                run_progress(run, phase="loading", watermark_from=watermark)
                extracted = rejected = 0
                pending: list[RejectedRow] = []
                clock = time.monotonic()
                for batch in reader.batches:
                    timings["extract"] += time.monotonic() - clock
                    if heartbeat.cancelled.is_set():
                        raise RunCancelled()
                    clock = time.monotonic()
                    frame = batch.frame
                    rows, rejects, high = plan_apply(
                        plan, frame, batch.first_row, None if reader.pushed_down_watermark else watermark
                    )
                    if high is not None and (watermark_to is None or _later(plan, high, watermark_to)):
                        watermark_to = high
                    timings["transform"] += time.monotonic() - clock
                    clock = time.monotonic()
                    loader.write(rows)
                    timings["load"] += time.monotonic() - clock
                    extracted += rows.height + len(rejects)  # the rows past the watermark
                    rejected += len(rejects)
                    pending += rejects
                    if len(pending) >= REJECT_BATCH:
                        _rejects_save(run, pending)
                        pending = []
                    fraction = (
                        (batch.bytes_read / reader.total_bytes)
                        if batch.bytes_read and reader.total_bytes
                        else None
                    )
                    run_progress(
                        run,
                        rows_extracted=extracted,
                        rows_rejected=rejected,
                        rows_loaded=loader.copied,
                        progress=min(fraction, 1.0) if fraction is not None else None,
                        timings=_rounded(timings),
                    )
                    if progress:
                        progress(run)
                    clock = time.monotonic()
                if pending:
                    _rejects_save(run, pending)
                end_position = dict(reader.end_position)
            if heartbeat.cancelled.is_set():
                raise RunCancelled()
            threshold = float(pipeline.reject_threshold_percent)
            share = (100.0 * rejected / extracted) if extracted else 0.0
            if rejected and share > threshold:
                raise ThresholdExceeded(
                    f"{rejected:,} of {extracted:,} rows were rejected ({share:.2f}%), more than the "
                    "pipeline's "
                    f"threshold of {threshold:g}%. Nothing was loaded; the rejected rows are on this run."
                )
            clock = time.monotonic()
            run_progress(run, phase="merging")  # and committing: the target's commit follows at once
            inserted, updated = loader.finish()
            loader.state_write(
                pipeline.name, watermark=watermark_to, file_position=end_position, run_id=run.pk
            )
            timings["load"] += time.monotonic() - clock
            clock = time.monotonic()
        timings["commit"] += time.monotonic() - clock
        heartbeat.on_cancel = None
    return {
        "extracted": extracted,
        "loaded": loader.copied,
        "inserted": inserted,
        "updated": updated,
        "rejected": rejected,
        "watermark_to": watermark_to,
        "file_position": end_position,
        "notes": loader.notes,
        "lineage": plan.lineage(reader.label),
        "source_label": reader.label,
    }


def _rejects_save(run, rejects) -> None:
    """Quarantine rejected rows: COPY on PostgreSQL (bulk_create escapes JSON into a text array, slowly)."""
    if connection.vendor != "postgresql":
        RejectedRow.objects.bulk_create(
            RejectedRow(run_id=run.pk, row_number=r.row_number, raw=r.raw, errors=r.errors) for r in rejects
        )
        return
    from psycopg.types.json import Jsonb

    statement = sql.SQL("COPY {} (run_id, row_number, raw, errors) FROM STDIN").format(
        identifier(RejectedRow._meta.db_table)
    )
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for r in rejects:
            copy.write_row((run.pk, r.row_number, Jsonb(r.raw), Jsonb(r.errors)))


def _later(plan, a: str, b: str) -> bool:
    from pipelines.validate import python_value

    return python_value(plan.watermark_spec, a) > python_value(plan.watermark_spec, b)

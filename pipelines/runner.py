"""One pipeline run, start to end: extract → transform → validate → load, in one target transaction.

The run row is the only state: the runner records progress on it after every batch, a heartbeat thread
touches it every few seconds (and passes on a cancel request by cancelling the running statement), and
the outcome is written when the transaction has committed or rolled back. A worker killed mid-run leaves
an open transaction that PostgreSQL rolls back and a heartbeat that goes stale (see services.runs_reap).
"""

import logging
import threading
import time
from contextlib import contextmanager

import psycopg
from django.db import connection
from django.utils import timezone
from psycopg import sql

from core.heartbeat import Heartbeat as BaseHeartbeat
from core.quoting import identifier
from pipelines.choices import ErrorKind, RunStatus
from pipelines.config import source_fields_check
from pipelines.load import TargetLoader, target_connect
from pipelines.models import Pipeline, PipelineRun, RejectedRow
from pipelines.plan import plan_apply, plan_build, plan_lookups_load
from pipelines.sources import PipelineDataError, TransientSourceError, source_open

__all__ = ["pipeline_run_execute", "RunCancelled", "ThresholdExceeded"]

logger = logging.getLogger(__name__)

REJECT_BATCH = 2000


class RunCancelled(Exception):
    pass


class ThresholdExceeded(Exception):
    pass


class Heartbeat(BaseHeartbeat):
    """The run's heartbeat, which also passes on a cancel request by cancelling the target's statement."""

    def __init__(self, run_id: int, interval: float | None = None):
        super().__init__(PipelineRun, run_id, interval)
        self.cancelled = threading.Event()
        self.target: psycopg.Connection | None = None

    def beat(self) -> None:
        super().beat()
        if PipelineRun.objects.filter(pk=self.pk, cancel_requested=True).exists():
            self.cancelled.set()
            if self.target is not None:
                self.target.cancel_safe(timeout=5)


def _update(run: PipelineRun, **fields) -> None:
    for name, value in fields.items():
        setattr(run, name, value)
    PipelineRun.objects.filter(pk=run.pk).update(**fields)


def _claim(run_id: int) -> PipelineRun | None:
    """Mark a queued run running; None if it was cancelled (or taken) before it started."""
    now = timezone.now()
    claimed = PipelineRun.objects.filter(pk=run_id, status=RunStatus.QUEUED, cancel_requested=False).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now, phase="starting"
    )
    run = PipelineRun.objects.select_related("pipeline__target__datastore", "pipeline__source_datastore").get(
        pk=run_id
    )
    if not claimed:
        if run.status == RunStatus.QUEUED and run.cancel_requested:
            _finish(run, RunStatus.CANCELLED, ErrorKind.CANCELLED, "Cancelled before it started.")
        return None
    return run


def _finish(run: PipelineRun, status: str, kind: str = "", error: str = "", **fields) -> None:
    """Record how the run ended. Counts say what is true after it: a run that stopped before its commit
    loaded nothing (its transaction rolled back), whatever it had copied; only a committed load passes
    `rows_loaded`. Rows per second are the rows read over the duration the run page shows beside them."""
    now = timezone.now()
    if status != RunStatus.SUCCEEDED and "rows_loaded" not in fields:
        fields.update(rows_loaded=0, rows_inserted=0, rows_updated=0)
    read = fields.get("rows_extracted", run.rows_extracted)
    seconds = (now - run.started_at).total_seconds() if run.started_at else 0
    fields["rows_per_second"] = round(read / seconds, 1) if read and seconds > 0 else None
    PipelineRun.objects.filter(pk=run.pk).update(
        status=status, error_kind=kind, error=error, finished_at=now, phase="", **fields
    )
    run.refresh_from_db()


def pipeline_run_execute(run_id: int, *, progress=None) -> PipelineRun | None:
    """Run a queued run to its end; returns the finished run (None when it was not queued any more)."""
    run = _claim(run_id)
    if run is None:
        return None
    from pipelines.services import pipeline_to_config

    pipeline = run.pipeline
    _update(run, pipeline_version=pipeline.version, config=pipeline_to_config(pipeline), phase="preparing")
    with Heartbeat(run.pk) as heartbeat:
        _run(run, pipeline, heartbeat, progress)
    return run


def _run(run: PipelineRun, pipeline: Pipeline, heartbeat: Heartbeat, progress) -> None:
    """Execute and record the outcome; the heartbeat keeps beating until the run is recorded."""
    from pipelines.services import run_succeeded, run_transient_failed

    timings = {"extract": 0.0, "transform": 0.0, "load": 0.0, "commit": 0.0}
    try:
        outcome = _execute(run, pipeline, heartbeat, timings, progress)
    except RunCancelled:
        _finish(
            run,
            RunStatus.CANCELLED,
            ErrorKind.CANCELLED,
            "Cancelled on request; the target was left as it was.",
            timings=_rounded(timings),
        )
        return
    except ThresholdExceeded as exc:
        _finish(run, RunStatus.FAILED, ErrorKind.THRESHOLD, str(exc), timings=_rounded(timings))
        return
    except PipelineDataError as exc:
        _finish(run, RunStatus.FAILED, ErrorKind.DATA, exc.message, timings=_rounded(timings))
        return
    except (TransientSourceError, psycopg.OperationalError) as exc:
        if heartbeat.cancelled.is_set():
            _finish(
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
        _finish(
            run,
            RunStatus.FAILED,
            ErrorKind.DATA,
            f"The target database refused the load: {message}. Nothing was loaded.",
            timings=_rounded(timings),
        )
        return
    except Exception as exc:
        logger.exception("Pipeline run %s failed", run.pk)
        _finish(
            run,
            RunStatus.FAILED,
            ErrorKind.INTERNAL,
            f"Internal error ({type(exc).__name__}: {exc}); nothing was loaded. See the worker log.",
            timings=_rounded(timings),
        )
        return
    _update(run, phase="checking quality" if pipeline.run_quality else "recording")
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
        heartbeat.target = conn
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
                _update(run, phase="loading", watermark_from=watermark)
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
                    _update(
                        run,
                        rows_extracted=extracted,
                        rows_rejected=rejected,
                        rows_loaded=loader.copied,
                        progress=min(fraction, 1.0) if fraction is not None else None,
                        heartbeat_at=timezone.now(),
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
            _update(run, phase="merging")  # and committing: the target's commit follows at once
            inserted, updated = loader.finish()
            loader.state_write(
                pipeline.name, watermark=watermark_to, file_position=end_position, run_id=run.pk
            )
            timings["load"] += time.monotonic() - clock
            clock = time.monotonic()
        timings["commit"] += time.monotonic() - clock
        heartbeat.target = None
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

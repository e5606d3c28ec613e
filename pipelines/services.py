"""What callers do with pipelines: request, cancel and retry runs, dry-run, schedule (the run's lifecycle is
core.runs'; what a run's end records is pipelines.outcomes).

Admin actions, commands and jobs all call these; permissions are checked by the callers.
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from croniter import croniter
from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone

from core.errors import CustodianError
from core.runs import run_cancel, run_enqueue, run_job_id, run_request, runs_reap
from pipelines.as_code import pipeline_to_config
from pipelines.choices import RunStatus, RunTrigger
from pipelines.models import ACTIVE, Pipeline, PipelineRun, PipelineState, RejectedRow

__all__ = [
    "PipelineBusy",
    "PipelineNotRunnable",
    "pipeline_preflight",
    "DryRun",
    "pipeline_to_config",
    "pipeline_run_request",
    "pipeline_run_cancel",
    "pipeline_run_retry",
    "pipeline_dry_run",
    "quarantine_purge",
    "quarantine_expired",
    "pipelines_tick",
]

logger = logging.getLogger(__name__)


class PipelineBusy(CustodianError):
    """The pipeline already has a queued or running run."""


class PipelineNotRunnable(CustodianError):
    """The pipeline's configuration or its source's fields stop it from running; no run was created."""


def pipeline_preflight(pipeline: Pipeline) -> None:
    """Refuse a run that cannot work: configuration errors (unmapped required columns, a watermark that is
    not mapped ...) and, for a file that is already there, mapped fields its header lacks."""
    from pipelines.config import source_fields_check
    from pipelines.plan import PipelineNotConfigured, errors_text, plan_build
    from pipelines.sources import PipelineDataError, source_file_path, source_open

    try:
        plan = plan_build(pipeline, check_source=True)
    except PipelineNotConfigured as exc:
        problems = errors_text(exc.errors)
        raise PipelineNotRunnable(f"Pipeline '{pipeline.name}' cannot run: {problems}") from None
    if not pipeline.is_file_source:
        return
    try:
        source_file_path(pipeline)
    except PipelineDataError:
        return  # a missing file is the run's failure to report (it may arrive before a scheduled run)
    try:
        with source_open(pipeline, limit=1, batch_rows=1) as reader:
            source_fields_check(reader.fields, plan.source_fields_needed())
    except PipelineDataError as exc:
        raise PipelineNotRunnable(exc.message) from None


def pipeline_run_request(
    pipeline: Pipeline,
    *,
    user=None,
    trigger: str = RunTrigger.MANUAL,
    retry_of: PipelineRun | None = None,
    delay_seconds: float = 0,
    enqueue: bool = True,
) -> PipelineRun:
    """Queue a run on the `etl` queue (after commit); PipelineBusy when one is queued or running."""

    if trigger in (RunTrigger.MANUAL, RunTrigger.COMMAND):
        pipeline_preflight(pipeline)
    runs_reap(kinds=[PipelineRun], pipeline=pipeline)
    user = user if user is not None and user.is_authenticated else None
    run = PipelineRun(
        pipeline=pipeline,
        pipeline_version=pipeline.version,
        trigger=trigger,
        requested_by=user,
        retry_of=retry_of,
        attempt=(retry_of.attempt + 1) if retry_of and trigger == RunTrigger.RETRY else 1,
    )
    try:
        run_request(run, user=user or trigger, enqueue=False)
    except IntegrityError:
        active = PipelineRun.objects.filter(pipeline=pipeline, status__in=ACTIVE).first()
        where = f" (run #{active.pk}, {active.get_status_display().lower()})" if active else ""
        raise PipelineBusy(
            f"Pipeline '{pipeline.name}' is already queued or running{where}; one run at a time. Wait for it "
            "or cancel it."
        ) from None
    run.job_id = run_job_id(run)
    PipelineRun.objects.filter(pk=run.pk).update(job_id=run.job_id)
    if enqueue:
        run_enqueue(run, delay_seconds=delay_seconds)
    return run


def pipeline_run_cancel(run: PipelineRun, *, user=None) -> str:
    """Cancel a queued run at once, or ask a running one to stop; returns what happened, in words."""
    run.refresh_from_db()
    if run.is_finished:
        raise CustodianError(f"Run #{run.pk} has already finished ({run.get_status_display().lower()}).")
    if run_cancel(run, user=user, error=f"Cancelled before it started{_by(user)}."):
        return f"Run #{run.pk} was cancelled before it started."
    return f"Run #{run.pk} is stopping: its transaction is being rolled back and the target stays as it was."


def _by(user) -> str:
    return (
        f" by {user.get_username()}" if user is not None and getattr(user, "is_authenticated", False) else ""
    )


def pipeline_run_retry(run: PipelineRun, *, user=None) -> PipelineRun:
    """A new run of a failed or cancelled run's pipeline, linked to it."""
    if run.status not in (RunStatus.FAILED, RunStatus.CANCELLED):
        raise CustodianError(f"Only failed or cancelled runs can be retried; run #{run.pk} is {run.status}.")
    return pipeline_run_request(run.pipeline, user=user, trigger=RunTrigger.RETRY, retry_of=run)


# Dry run -------------------------------------------------------------------------------------------------


@dataclass
class DryRun:
    """The first rows of a source after transforms and validation, nothing loaded."""

    fields: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    rejects: list = field(default_factory=list)
    error: str = ""
    source: str = ""


def pipeline_dry_run(pipeline: Pipeline, *, limit: int = 100) -> DryRun:
    """Read up to `limit` rows, transform and validate them; DryRun.error says why it could not.

    It reads the source (a SQL source runs under the SQL gate, with CUSTODIAN_DRY_RUN_TIMEOUT_SECONDS):
    callers let only users who may run the pipeline start it."""
    from core.sql_gate import guard_transaction
    from pipelines.config import source_fields_check
    from pipelines.load import target_connect
    from pipelines.plan import plan_apply, plan_build, plan_lookups_load
    from pipelines.sources import PipelineDataError, TransientSourceError, source_open

    result = DryRun()
    try:
        plan = plan_build(pipeline)
        result.columns = plan.columns
        if any(step["op"] == "lookup" for m in plan.mappings for step in m.steps):
            # A page started it: the reference tables are read only and within the dry run's time.
            timeout_ms = int(settings.CUSTODIAN_DRY_RUN_TIMEOUT_SECONDS * 1000)
            with target_connect(pipeline.target.datastore) as connection:
                with connection.transaction(), connection.cursor() as cursor:
                    guard_transaction(cursor, timeout_ms=timeout_ms)
                    plan_lookups_load(plan, pipeline, connection)
        with source_open(
            pipeline,
            limit=limit,
            batch_rows=limit,
            timeout_seconds=settings.CUSTODIAN_DRY_RUN_TIMEOUT_SECONDS,
        ) as reader:
            result.fields, result.source = reader.fields, reader.label
            source_fields_check(reader.fields, plan.source_fields_needed())
            for batch in reader.batches:
                rows, rejects, _ = plan_apply(plan, batch.frame, batch.first_row)
                result.rows += rows.to_dicts()
                result.rejects += rejects
    except (PipelineDataError, TransientSourceError) as exc:
        result.error = exc.message
    return result


# Schedules -----------------------------------------------------------------------------------------------


def schedule_next(expression: str, after) -> timezone.datetime:
    return croniter(expression, after).get_next(timezone.datetime)


def quarantine_expired(run: PipelineRun, *, now=None) -> bool:
    """Whether the run's quarantined rows are past CUSTODIAN_QUARANTINE_DAYS (purged, or about to be)."""
    if run.finished_at is None:
        return False
    now = now or timezone.now()
    return run.finished_at < now - timedelta(days=settings.CUSTODIAN_QUARANTINE_DAYS)


def quarantine_purge(*, now=None) -> int:
    """Delete the quarantined rows of runs that finished more than CUSTODIAN_QUARANTINE_DAYS ago; how many.

    They hold raw source values, personal data included, kept only so that someone can fix the source."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.CUSTODIAN_QUARANTINE_DAYS)
    deleted, _ = RejectedRow.objects.filter(run__finished_at__lt=cutoff).delete()
    if deleted:
        logger.info("Purged %s quarantined rows of runs finished before %s", deleted, cutoff)
    return deleted


def pipelines_tick(*, now=None) -> list[PipelineRun]:
    """Queue the runs whose cron time has come and purge expired quarantine (the scheduler tick calls this
    each minute, after reaping lost runs); returns the runs queued."""
    now = now or timezone.now()
    quarantine_purge(now=now)
    queued = []
    for pipeline in Pipeline.objects.filter(enabled=True).exclude(schedule=""):
        state, _ = PipelineState.objects.get_or_create(pipeline=pipeline)
        if state.next_run_at is None:
            state.next_run_at = schedule_next(pipeline.schedule, now)
            state.save(update_fields=["next_run_at", "updated_at"])
            continue
        if state.next_run_at > now:
            continue
        state.next_run_at = schedule_next(pipeline.schedule, now)
        state.save(update_fields=["next_run_at", "updated_at"])
        try:
            queued.append(pipeline_run_request(pipeline, trigger=RunTrigger.SCHEDULE))
        except PipelineBusy as exc:
            logger.info("Scheduled run skipped: %s", exc.message)
    return queued

"""What callers do with pipelines: request, cancel and retry runs, dry-run, reap lost runs, schedule.

Admin actions, commands and jobs all call these; permissions are checked by the callers.
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from croniter import croniter
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import CustodianError
from core.heartbeat import heartbeat_lost, heartbeat_stale_before
from core.jobs import job_enqueue
from pipelines.as_code import pipeline_to_config
from pipelines.choices import ErrorKind, RunStatus, RunTrigger
from pipelines.models import ACTIVE, LineageEdge, Pipeline, PipelineRun, PipelineState, RejectedRow

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
    "runs_reap",
    "quarantine_purge",
    "quarantine_expired",
    "run_succeeded",
    "run_transient_failed",
    "schedule_tick",
    "retry_delay",
]

logger = logging.getLogger(__name__)

QUEUED_LOST_AFTER = timedelta(hours=6)


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


def _job_id(run: PipelineRun) -> str:
    return f"custodian-pipeline-run-{run.pk}"


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
    runs_reap(pipeline=pipeline)
    try:
        with transaction.atomic():
            run = PipelineRun.objects.create(
                pipeline=pipeline,
                pipeline_version=pipeline.version,
                trigger=trigger,
                requested_by=user if user is not None and user.is_authenticated else None,
                retry_of=retry_of,
                attempt=(retry_of.attempt + 1) if retry_of and trigger == RunTrigger.RETRY else 1,
            )
    except IntegrityError:
        active = PipelineRun.objects.filter(pipeline=pipeline, status__in=ACTIVE).first()
        where = f" (run #{active.pk}, {active.get_status_display().lower()})" if active else ""
        raise PipelineBusy(
            f"Pipeline '{pipeline.name}' is already queued or running{where}; one run at a time. Wait for it "
            "or cancel it."
        ) from None
    run.job_id = _job_id(run)
    PipelineRun.objects.filter(pk=run.pk).update(job_id=run.job_id)
    if enqueue:
        job_enqueue(
            "etl", "pipelines.jobs.pipeline_run_job", run.pk, job_id=run.job_id, delay_seconds=delay_seconds
        )
    return run


def pipeline_run_cancel(run: PipelineRun, *, user=None) -> str:
    """Cancel a queued run at once, or ask a running one to stop; returns what happened, in words."""
    run.refresh_from_db()
    if run.is_finished:
        raise CustodianError(f"Run #{run.pk} has already finished ({run.get_status_display().lower()}).")
    if run.status == RunStatus.QUEUED:
        updated = PipelineRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
            status=RunStatus.CANCELLED,
            cancel_requested=True,
            error_kind=ErrorKind.CANCELLED,
            error=f"Cancelled before it started{_by(user)}.",
            finished_at=timezone.now(),
        )
        if updated:
            _rq_cancel(run)
            return f"Run #{run.pk} was cancelled before it started."
    PipelineRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(cancel_requested=True)
    return f"Run #{run.pk} is stopping: its transaction is being rolled back and the target stays as it was."


def _by(user) -> str:
    return (
        f" by {user.get_username()}" if user is not None and getattr(user, "is_authenticated", False) else ""
    )


def _rq_cancel(run: PipelineRun) -> None:
    if settings.CUSTODIAN_JOBS_SYNC or not run.job_id:
        return
    try:
        import django_rq
        from rq.job import Job

        job = Job.fetch(run.job_id, connection=django_rq.get_connection("etl"))
        job.cancel()
    except Exception:  # the job may be gone already; the run record is what counts
        logger.info("No RQ job %s to cancel", run.job_id)


def pipeline_run_retry(run: PipelineRun, *, user=None) -> PipelineRun:
    """A new run of a failed or cancelled run's pipeline, linked to it."""
    if run.status not in (RunStatus.FAILED, RunStatus.CANCELLED):
        raise CustodianError(f"Only failed or cancelled runs can be retried; run #{run.pk} is {run.status}.")
    return pipeline_run_request(run.pipeline, user=user, trigger=RunTrigger.RETRY, retry_of=run)


def retry_delay(attempt: int) -> float:
    """Backoff before retry number `attempt` (1, 2, ...): base × 3^(attempt-1), at most ten minutes."""
    base = float(getattr(settings, "CUSTODIAN_RETRY_BASE_SECONDS", 10))
    return min(base * 3 ** (attempt - 1), 600.0)


def run_transient_failed(run: PipelineRun, message: str, *, timings: dict) -> None:
    """Record a lost connection; queue the next attempt with backoff while retries remain."""
    from pipelines.runner import _finish

    pipeline = run.pipeline
    retries_used = run.attempt - 1
    if retries_used < pipeline.max_retries:
        delay = retry_delay(run.attempt)
        # In-process jobs have no scheduler: the retry starts at once rather than after the backoff.
        when = "now" if settings.CUSTODIAN_JOBS_SYNC else f"in {delay:g} s"
        _finish(
            run,
            RunStatus.FAILED,
            ErrorKind.TRANSIENT,
            f"{message}. Nothing was loaded; retrying {when} (attempt {run.attempt + 1} of "
            f"{pipeline.max_retries + 1}).",
            timings=timings,
        )
        try:
            pipeline_run_request(pipeline, trigger=RunTrigger.RETRY, retry_of=run, delay_seconds=delay)
        except PipelineBusy:
            logger.info("Retry of run %s skipped: pipeline busy", run.pk)
    else:
        _finish(
            run,
            RunStatus.FAILED,
            ErrorKind.TRANSIENT,
            f"{message}. Nothing was loaded; gave up after {run.attempt} attempts.",
            timings=timings,
        )


def _quality_after_load(run: PipelineRun, pipeline: Pipeline) -> tuple[str, str, list[str]]:
    """(status, error, warnings) from the target's quality rules, when the pipeline asks for them."""
    if not pipeline.run_quality:
        return RunStatus.SUCCEEDED, "", []
    from quality.choices import ResultStatus
    from quality.services import check_after_load

    check = check_after_load(entity=pipeline.target, pipeline_run_id=run.pk)
    results = list(check.results.exclude(status=ResultStatus.PASSED))
    failed = [r for r in results if r.status == ResultStatus.FAILED]
    warned = [
        f"Quality warning: {r.rule_name}: {r.measured or r.error}"
        for r in results
        if r.status != ResultStatus.FAILED
    ]
    if failed:
        names = ", ".join(f"{r.rule_name} ({r.measured or r.error})" for r in failed[:5])
        return (
            RunStatus.FAILED,
            (
                f"The load was committed, then {len(failed)} error-severity quality rule(s) failed on "
                f"{pipeline.target.name}: {names}. The rows are in the table; see check run #{check.pk}."
            ),
            warned,
        )
    return RunStatus.SUCCEEDED, "", warned + [f"Quality checked: check run #{check.pk}."]


def run_succeeded(run: PipelineRun, pipeline: Pipeline, outcome: dict, timings: dict) -> None:
    """Record a committed load: counts, state mirror, lineage, quality, then start dependent pipelines."""
    from pipelines.runner import _finish

    state = {"watermark": outcome["watermark_to"], "file_position": outcome["file_position"]}
    if not PipelineState.objects.filter(pipeline=pipeline).update(**state, updated_at=timezone.now()):
        PipelineState.objects.update_or_create(pipeline=pipeline, defaults=state)
    _lineage_record(run, pipeline, outcome["lineage"])
    try:
        status, error, quality_notes = _quality_after_load(run, pipeline)
    except Exception as exc:  # the load is committed whatever the checks do; say so
        logger.exception("Quality after run %s failed", run.pk)
        status, error, quality_notes = (
            RunStatus.FAILED,
            f"The load was committed, but its quality check could not run: {exc}",
            [],
        )
    _finish(
        run,
        status,
        ErrorKind.QUALITY if error else "",
        error,
        rows_extracted=outcome["extracted"],
        rows_loaded=outcome["loaded"],
        rows_inserted=outcome["inserted"],
        rows_updated=outcome["updated"],
        rows_rejected=outcome["rejected"],
        watermark_to=outcome["watermark_to"],
        warnings=outcome["notes"]
        + (
            [f"{outcome['rejected']:,} rows were rejected (within the threshold); see the quarantine."]
            if outcome["rejected"]
            else []
        )
        + quality_notes,
        lineage=outcome["lineage"],
        timings=timings,
        progress=1.0,
    )
    if status != RunStatus.SUCCEEDED:
        return
    for follower in pipeline.followers.filter(enabled=True):
        try:
            pipeline_run_request(follower, trigger=RunTrigger.DEPENDENCY)
        except PipelineBusy as exc:
            logger.info("%s", exc.message)


def _lineage_record(run: PipelineRun, pipeline: Pipeline, lineage: list[dict]) -> None:
    """Keep the pipeline's lineage edges in step with this run's; rows are written only where an edge is new
    or changed, so a run's bookkeeping costs the same few statements however many columns it maps."""
    columns = {c.name: c for c in pipeline.target.columns.all()}
    existing = {(e.column_id, e.source_field): e for e in LineageEdge.objects.filter(pipeline=pipeline)}
    kept, new, changed = [], [], []
    for item in lineage:
        column = columns.get(item["column"])
        if column is None:
            continue
        key = (column.pk, item["source_field"] or "")
        edge = existing.get(key)
        if edge is None:
            new.append(
                LineageEdge(
                    pipeline=pipeline,
                    column=column,
                    source_field=key[1],
                    source=item["source"],
                    steps=item["steps"],
                    last_run=run,
                )
            )
            continue
        kept.append(edge.pk)
        if (edge.source, edge.steps) != (item["source"], item["steps"]):
            edge.source, edge.steps = item["source"], item["steps"]
            changed.append(edge)
    if changed:
        LineageEdge.objects.bulk_update(changed, ["source", "steps"])
    LineageEdge.objects.filter(pk__in=kept).update(last_run=run, updated_at=timezone.now())
    LineageEdge.objects.filter(pipeline=pipeline).exclude(pk__in=kept).delete()
    if new:
        LineageEdge.objects.bulk_create(new)


def runs_reap(*, pipeline: Pipeline | None = None, now=None) -> int:
    """Mark runs whose worker died (heartbeat stale) or that no worker took as failed; how many."""
    now = now or timezone.now()
    stale = heartbeat_stale_before(now)
    runs = PipelineRun.objects.filter(
        Q(status=RunStatus.RUNNING, heartbeat_at__lt=stale)
        | Q(status=RunStatus.QUEUED, created_at__lt=now - QUEUED_LOST_AFTER)
    )
    if pipeline is not None:
        runs = runs.filter(pipeline=pipeline)
    count = 0
    for run in runs:
        if run.status == RunStatus.RUNNING:
            error = (
                f"{heartbeat_lost(run.heartbeat_at)} PostgreSQL rolled back its open transaction, so the "
                "target is as it was; retry the run."
            )
            match = Q(status=RunStatus.RUNNING, heartbeat_at=run.heartbeat_at)
        else:
            error = "No worker took this run within 6 hours (is an rqworker for the etl queue running?)."
            match = Q(status=RunStatus.QUEUED)
        count += PipelineRun.objects.filter(match, pk=run.pk).update(
            status=RunStatus.FAILED,
            error_kind=ErrorKind.LOST,
            error=error,
            finished_at=now,
            phase="",
            # Its transaction rolled back: whatever it had copied is not in the target.
            rows_loaded=0,
            rows_inserted=0,
            rows_updated=0,
        )
    return count


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
    from psycopg import sql

    from pipelines.config import source_fields_check
    from pipelines.load import target_connect
    from pipelines.plan import plan_apply, plan_build, plan_lookups_load
    from pipelines.sources import PipelineDataError, TransientSourceError, source_open

    result = DryRun()
    try:
        plan = plan_build(pipeline)
        result.columns = plan.columns
        if any(step["op"] == "lookup" for m in plan.mappings for step in m.steps):
            with target_connect(pipeline.target.datastore) as connection:
                # A page started it: the reference tables are read only and within the dry run's time.
                connection.read_only = True
                connection.execute(
                    sql.SQL("SET statement_timeout = {}").format(
                        sql.Literal(int(settings.CUSTODIAN_DRY_RUN_TIMEOUT_SECONDS * 1000))
                    )
                )
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

TICK_SECONDS = 60


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


def schedule_tick(*, now=None) -> list[PipelineRun]:
    """Queue the runs whose cron time has come, reap lost runs and purge expired quarantine (the scheduler
    tick calls this each minute); returns the runs queued."""
    now = now or timezone.now()
    runs_reap(now=now)
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


def schedule_tick_ensure() -> None:
    """Make sure the scheduler's tick job exists (no-op for in-process jobs)."""
    from core.scheduler import scheduler_tick_ensure

    scheduler_tick_ensure()

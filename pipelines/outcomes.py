"""What the end of a pipeline run records: its counts and outcome on the run, the state mirror, lineage,
the quality check after a load, the next attempt after a transient failure, and the runs of dependent
pipelines. The runner calls these; they call the services (never the other way round)."""

import logging

from django.utils import timezone

from core.runs import run_finish, run_retry_decide
from pipelines.choices import ErrorKind, RunStatus, RunTrigger
from pipelines.models import LineageEdge, Pipeline, PipelineRun, PipelineState
from pipelines.services import PipelineBusy, pipeline_run_request

__all__ = ["run_finished", "run_succeeded", "run_transient_failed"]

logger = logging.getLogger(__name__)


def run_finished(run: PipelineRun, status: str, kind: str = "", error: str = "", **fields) -> None:
    """Record how the run ended. Counts say what is true after it: a run that stopped before its commit
    loaded nothing (its transaction rolled back), whatever it had copied; only a committed load passes
    `rows_loaded`. Rows per second are the rows read over the duration the run page shows beside them."""
    now = timezone.now()
    if status != RunStatus.SUCCEEDED and "rows_loaded" not in fields:
        fields.update(rows_loaded=0, rows_inserted=0, rows_updated=0)
    read = fields.get("rows_extracted", run.rows_extracted)
    seconds = (now - run.started_at).total_seconds() if run.started_at else 0
    fields["rows_per_second"] = round(read / seconds, 1) if read and seconds > 0 else None
    run_finish(run, status, error_kind=kind, error=error, finished_at=now, phase="", **fields)


def run_transient_failed(run: PipelineRun, message: str, *, timings: dict) -> None:
    """Record a lost connection; queue the next attempt with backoff while retries remain."""
    pipeline = run.pipeline
    error, delay = run_retry_decide(run, message, max_retries=pipeline.max_retries)
    run_finished(run, RunStatus.FAILED, ErrorKind.TRANSIENT, error, timings=timings)
    if delay is None:
        return
    try:
        pipeline_run_request(pipeline, trigger=RunTrigger.RETRY, retry_of=run, delay_seconds=delay)
    except PipelineBusy:
        logger.info("Retry of run %s skipped: pipeline busy", run.pk)


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
    run_finished(
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

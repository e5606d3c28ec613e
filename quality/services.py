"""What callers do with quality: request check runs, record their results, scores and incidents, alert,
and schedule. Admin actions, commands, pipelines and jobs call these; permissions are the callers'."""

import json
import logging
from collections import defaultdict
from datetime import timedelta
from statistics import mean

from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from catalog.models import DataStore, Entity
from core.choices import RunStatus
from core.heartbeat import heartbeat_lost, heartbeat_stale_before
from core.jobs import job_enqueue
from core.outbound import OutboundRefused, post_json
from quality.choices import CheckTrigger, ResultStatus, Severity
from quality.models import CheckRun, EntityScore, Incident, QualityAlerting, QualitySchedule, RuleResult
from quality.schedules import schedule_next_run

__all__ = [
    "check_run_request",
    "check_run_record",
    "check_after_load",
    "entity_scores",
    "quality_schedule_tick",
    "check_runs_reap",
]

logger = logging.getLogger(__name__)


def check_run_request(
    *,
    datastore: DataStore,
    entity: Entity | None = None,
    user=None,
    trigger: str = CheckTrigger.MANUAL,
    enqueue: bool = True,
) -> CheckRun:
    """Queue a check of one entity, or of every entity of the data store, on the `quality` queue."""

    run = CheckRun.objects.create(
        datastore=datastore,
        entity=entity,
        trigger=trigger,
        requested_by=user if user is not None and user.is_authenticated else None,
    )
    if enqueue:
        job_enqueue("quality", "quality.jobs.check_run_job", run.pk, job_id=f"custodian-check-run-{run.pk}")
    return run


def check_after_load(*, entity: Entity, pipeline_run_id: int) -> CheckRun:
    """Run the entity's rules now, in this process (a pipeline's job calls it after its load commits)."""
    from quality.runner import check_run_execute

    run = CheckRun.objects.create(
        datastore=entity.datastore,
        entity=entity,
        trigger=CheckTrigger.PIPELINE,
        pipeline_run_id=pipeline_run_id,
    )
    return check_run_execute(run.pk)


def _rule_score(result: RuleResult) -> float:
    if result.status == ResultStatus.PASSED:
        return 100.0
    if result.failing_percent is not None:
        return max(0.0, 100.0 - result.failing_percent)
    return 0.0


def entity_scores(results: list[RuleResult]) -> dict[str, float]:
    """Overall ('') and per-dimension scores, 0–100, of one entity in one run (errors excluded)."""
    by_dimension: dict[str, list[float]] = defaultdict(list)
    for result in results:
        if result.status == ResultStatus.ERROR:
            continue
        score = _rule_score(result)
        by_dimension[""].append(score)
        by_dimension[result.dimension].append(score)
    return {dimension: round(mean(scores), 3) for dimension, scores in by_dimension.items()}


@transaction.atomic
def check_run_record(run: CheckRun, outcomes: list, *, error: str = "") -> CheckRun:
    """Write the results, scores and incidents of a finished evaluation, and finish the run."""
    rows = [
        RuleResult(
            check_run=run,
            rule=o.rule,
            entity=entity,
            rule_name=o.rule.name,
            kind=o.rule.kind,
            severity=o.rule.severity,
            dimension=o.rule.dimension,
            status=o.status,
            total_rows=o.total_rows,
            failing_rows=o.failing_rows,
            failing_percent=o.failing_percent,
            measured=o.measured[:300],
            samples=o.samples,
            samples_pii=o.samples_pii,
            samples_masked=o.samples_masked,
            duration_ms=o.duration_ms,
            sql=o.sql,
            error=o.error,
        )
        for entity, o in outcomes
    ]
    RuleResult.objects.bulk_create(rows)
    per_entity: dict[Entity, list[RuleResult]] = defaultdict(list)
    for (entity, _), row in zip(outcomes, rows, strict=True):
        per_entity[entity].append(row)
    for entity, results in per_entity.items():
        scores = entity_scores(results)
        EntityScore.objects.bulk_create(
            EntityScore(check_run=run, entity=entity, dimension=d, score=s) for d, s in scores.items()
        )
        _incidents_update(run, entity, results, scores.get(""))
    counts = defaultdict(int)
    for row in rows:
        counts[row.status] += 1
    CheckRun.objects.filter(pk=run.pk).update(
        status=RunStatus.FAILED if error else RunStatus.SUCCEEDED,
        finished_at=timezone.now(),
        error=error,
        rules_total=len(rows),
        rules_passed=counts[ResultStatus.PASSED],
        rules_warned=counts[ResultStatus.WARNED],
        rules_failed=counts[ResultStatus.FAILED],
        rules_errored=counts[ResultStatus.ERROR],
    )
    run.refresh_from_db()
    return run


def _incidents_update(run: CheckRun, entity: Entity, results: list[RuleResult], score: float | None) -> None:
    """Open an incident the first time an error rule fails (announced once), close it when it passes."""
    opened = []
    for result in results:
        if result.rule_id is None:
            continue
        open_incident = Incident.objects.filter(
            rule_id=result.rule_id, kind="rule", closed_at__isnull=True
        ).first()
        if (
            result.status == ResultStatus.FAILED
            and result.severity == Severity.ERROR
            and open_incident is None
        ):
            opened.append(
                Incident.objects.create(
                    datastore=run.datastore,
                    entity=entity,
                    rule_id=result.rule_id,
                    kind="rule",
                    first_result=result,
                    summary=f"{entity.name}: {result.rule_name} fails: {result.measured or result.error}",
                )
            )
        elif result.status in (ResultStatus.PASSED, ResultStatus.WARNED) and open_incident is not None:
            Incident.objects.filter(pk=open_incident.pk).update(closed_at=timezone.now())
    # A rule disabled or deleted since its incident opened sends no result: its incident ends here.
    Incident.objects.filter(entity=entity, kind="rule", closed_at__isnull=True).exclude(
        rule__enabled=True
    ).update(closed_at=timezone.now())
    if score is not None:
        opened += _score_drop(run, entity, score)
    # Alerts go out from their own job once the check is recorded: a slow receiver never holds a check.

    for incident in opened:
        job_enqueue("default", "quality.jobs.incident_notify_job", incident.pk)


def _score_drop(run: CheckRun, entity: Entity, score: float) -> list[Incident]:
    previous = (
        EntityScore.objects.filter(entity=entity, dimension="")
        .exclude(check_run=run)
        .order_by("-created_at", "-id")
        .values_list("score", flat=True)
        .first()
    )
    open_drop = Incident.objects.filter(entity=entity, kind="score_drop", closed_at__isnull=True).first()
    if open_drop and open_drop.baseline_score is not None and score >= open_drop.baseline_score:
        Incident.objects.filter(pk=open_drop.pk).update(closed_at=timezone.now())
        return []
    alerting = QualityAlerting.objects.filter(datastore=run.datastore).first()
    points = alerting.score_drop_points if alerting else 10.0
    if previous is None or open_drop or previous - score < points:
        return []
    return [
        Incident.objects.create(
            datastore=run.datastore,
            entity=entity,
            kind="score_drop",
            baseline_score=previous,
            summary=f"{entity.name}: quality score fell from {previous:.1f} to {score:.1f}",
        )
    ]


def incident_notify(incident: Incident) -> None:
    """E-mail and/or POST the incident to the data store's alert settings; failures are recorded on it in
    general words (never the receiver's answer). The POST follows core.outbound's rules."""
    alerting = QualityAlerting.objects.filter(datastore=incident.datastore).first()
    if alerting is None or not (alerting.email_list or alerting.webhook_url):
        return
    problems = []
    subject = f"[Custodian] Data quality: {incident.summary}"[:200]
    opened = incident.opened_at.strftime("%Y-%m-%d %H:%M %Z")
    body = (
        f"{incident.summary}\n\nData store: {incident.datastore.name}\nOpened: {opened}\n"
        "You will not be told again until it is resolved and fails anew."
    )
    if alerting.email_list:
        try:
            send_mail(subject, body, None, alerting.email_list)
        except Exception as exc:  # SMTP errors are many; the incident keeps what went wrong
            problems.append(f"e-mail: {exc}")
    if alerting.webhook_url:
        payload = json.dumps(
            {
                "incident": incident.pk,
                "kind": incident.kind,
                "summary": incident.summary,
                "datastore": incident.datastore.name,
                "entity": incident.entity.name if incident.entity_id else None,
                "rule": incident.rule.name if incident.rule_id else None,
                "opened_at": incident.opened_at.isoformat(),
            }
        ).encode()
        try:
            delivery = post_json(alerting.webhook_url, payload)
        except OutboundRefused as exc:
            problems.append(f"webhook: {exc}")
        else:
            if delivery.problem:
                problems.append(f"webhook: {delivery.problem}")
    Incident.objects.filter(pk=incident.pk).update(
        notified_at=timezone.now(), notify_error="; ".join(problems)
    )


QUEUED_LOST_AFTER = timedelta(hours=6)


def check_runs_reap(*, now=None) -> int:
    """Mark check runs whose worker died (heartbeat stale) or that no worker took as failed; how many."""
    now = now or timezone.now()
    lost = CheckRun.objects.filter(
        Q(status=RunStatus.RUNNING, heartbeat_at__lt=heartbeat_stale_before(now))
        | Q(status=RunStatus.QUEUED, created_at__lt=now - QUEUED_LOST_AFTER)
    )
    count = 0
    for run in lost.only("pk", "status", "heartbeat_at"):
        if run.status == RunStatus.RUNNING:
            error = f"{heartbeat_lost(run.heartbeat_at)} No results were recorded; run the checks again."
        else:
            error = (
                "No worker took this check within 6 hours (is an rqworker for the quality queue running?)."
            )
        count += CheckRun.objects.filter(pk=run.pk, status=run.status).update(
            status=RunStatus.FAILED, finished_at=now, error=error
        )
    return count


def quality_schedule_tick(*, now=None) -> list[CheckRun]:
    """Reap lost check runs, then queue the checks whose cron time has come; returns them."""
    now = now or timezone.now()
    check_runs_reap(now=now)
    queued = []
    for schedule in QualitySchedule.objects.filter(enabled=True).select_related("datastore", "entity"):
        following = schedule_next_run(schedule.cron, now, fired_at=schedule.next_run_at)
        if schedule.next_run_at is None or schedule.next_run_at > now:
            if schedule.next_run_at is None:
                QualitySchedule.objects.filter(pk=schedule.pk).update(next_run_at=following)
            continue
        QualitySchedule.objects.filter(pk=schedule.pk).update(next_run_at=following)
        queued.append(
            check_run_request(
                datastore=schedule.datastore, entity=schedule.entity, trigger=CheckTrigger.SCHEDULE
            )
        )
    return queued

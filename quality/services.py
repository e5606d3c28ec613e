"""What callers do with quality: request check runs, alert, and schedule (recording a check's results,
scores and incidents is quality.results; the run's lifecycle is core.runs'). Admin actions, commands,
pipelines and jobs call these; permissions are the callers'."""

import json
import logging

from django.core.mail import send_mail
from django.utils import timezone

from catalog.models import DataStore, Entity
from core.outbound import OutboundRefused, post_json
from core.runs import run_request
from quality.choices import CheckTrigger
from quality.models import CheckRun, Incident, QualityAlerting, QualitySchedule
from quality.results import check_run_record, entity_scores
from quality.runner import check_run_execute
from quality.schedules import schedule_next_run

__all__ = [
    "check_run_request",
    "check_run_record",
    "check_after_load",
    "entity_scores",
    "quality_tick",
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

    user = user if user is not None and user.is_authenticated else None
    run = CheckRun(datastore=datastore, entity=entity, trigger=trigger, requested_by=user)
    return run_request(run, user=user or trigger, enqueue=enqueue)


def check_after_load(*, entity: Entity, pipeline_run_id: int) -> CheckRun:
    """Run the entity's rules now, in this process (a pipeline's job calls it after its load commits)."""
    run = CheckRun(
        datastore=entity.datastore,
        entity=entity,
        trigger=CheckTrigger.PIPELINE,
        pipeline_run_id=pipeline_run_id,
    )
    return check_run_execute(run_request(run, user=CheckTrigger.PIPELINE, enqueue=False).pk)


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


def quality_tick(*, now=None) -> list[CheckRun]:
    """Queue the checks whose cron time has come (the scheduler tick calls this each minute, after reaping
    lost runs); returns them."""
    now = now or timezone.now()
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

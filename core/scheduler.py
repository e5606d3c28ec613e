"""One scheduler tick for every app: a job on the RQ scheduler that fails lost runs of every kind
(core.runs.runs_reap), runs each app's due work, then schedules itself again a minute later.

Apps name their tick functions in settings.CUSTODIAN_SCHEDULED_TICKS (dotted paths taking `now=`), so the
catalog starts their work without importing them. The tick runs on `rqworker ... --with-scheduler`; with
in-process jobs there is no scheduler, and `manage.py pipelines_tick` (or cron) can call it.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

__all__ = ["TICK_JOB_ID", "TICK_SECONDS", "scheduler_tick", "scheduler_tick_ensure", "scheduler_tick_job"]

logger = logging.getLogger(__name__)

TICK_JOB_ID = "custodian-scheduler-tick"
TICK_SECONDS = 60
TICK_QUEUE = "default"


def scheduler_tick(*, now=None) -> dict[str, list]:
    """Reap lost runs, then run every app's tick once; what each queued. One app's failure does not stop
    the others."""
    from core.runs import runs_reap

    now = now or timezone.now()
    queued = {}
    try:
        runs_reap(now=now)
    except Exception:
        logger.exception("Reaping lost runs failed")
    for path in settings.CUSTODIAN_SCHEDULED_TICKS:
        try:
            queued[path] = import_string(path)(now=now)
        except Exception:
            logger.exception("Scheduled tick %s failed", path)
            queued[path] = []
    return queued


def scheduler_tick_ensure(*, delay_seconds: float = 0) -> None:
    """Keep one tick job on the RQ scheduler (no-op for in-process jobs)."""
    if settings.CUSTODIAN_JOBS_SYNC:
        return
    import django_rq

    queue = django_rq.get_queue(TICK_QUEUE)
    if not delay_seconds and TICK_JOB_ID in queue.scheduled_job_registry.get_job_ids():
        return
    queue.enqueue_in(timedelta(seconds=delay_seconds or 1), scheduler_tick_job, job_id=TICK_JOB_ID)


def scheduler_tick_job() -> None:
    """The RQ job: due work of every app, then the next tick."""
    from django.db import close_old_connections

    close_old_connections()
    try:
        scheduler_tick()
    finally:
        scheduler_tick_ensure(delay_seconds=TICK_SECONDS)

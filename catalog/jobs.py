"""Background jobs: thin RQ entry points that load state by id and call a service.

With REDIS_URL unset (the embedded default) jobs run in-process when the transaction that asked for them
commits; with it, `manage.py rqworker etl quality default` runs them.
"""

import logging
from datetime import timedelta

import django_rq
from django.conf import settings
from django.db import transaction

__all__ = ["job_enqueue", "schema_apply_job"]

logger = logging.getLogger(__name__)


def job_enqueue(queue: str, func, *args, job_id: str | None = None, delay_seconds: float = 0) -> None:
    """Run `func(*args)` after the current transaction commits: on an RQ worker, or here without Redis.

    `delay_seconds` schedules it for later (the worker must run with --with-scheduler); in-process jobs
    have no scheduler and run at once. `job_id` names the RQ job, so it can be found to cancel it.
    """

    def start():
        if settings.CUSTODIAN_JOBS_SYNC:
            func(*args)
            return
        rq_queue = django_rq.get_queue(queue)
        options = {"job_timeout": 6 * 3600, "job_id": job_id}
        if delay_seconds:
            rq_queue.enqueue_in(timedelta(seconds=delay_seconds), func, *args, **options)
        else:
            rq_queue.enqueue(func, *args, **options)

    transaction.on_commit(start)


def schema_apply_job(apply_id: int) -> None:
    from catalog.schema.apply import schema_apply_run

    schema_apply_run(apply_id=apply_id)

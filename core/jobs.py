"""Background jobs: RQ entry points named by dotted path, so no app imports another's job module.

With REDIS_URL unset (the embedded default) jobs run in-process when the transaction that asked for them
commits; with it, `manage.py rqworker etl quality default` runs them. A job function takes ids, loads state
from the database and records progress and outcome there.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

__all__ = ["job_enqueue", "job_connections_fresh"]

logger = logging.getLogger(__name__)


def job_enqueue(queue: str, path: str, *args, job_id: str | None = None, delay_seconds: float = 0) -> None:
    """Run the function at dotted `path` with `args` after the current transaction commits: on an RQ
    worker, or here without Redis.

    `delay_seconds` schedules it for later (the worker must run with --with-scheduler); in-process jobs
    have no scheduler and run at once. `job_id` names the RQ job, so it can be found to cancel it.
    """
    if not isinstance(path, str):
        raise TypeError("job_enqueue takes the job's dotted path, so that apps need not import job modules.")

    def start():
        if settings.CUSTODIAN_JOBS_SYNC:
            import_string(path)(*args)
            return
        import django_rq

        rq_queue = django_rq.get_queue(queue)
        options = {"job_timeout": 6 * 3600, "job_id": job_id}
        if delay_seconds:
            rq_queue.enqueue_in(timedelta(seconds=delay_seconds), path, *args, **options)
        else:
            rq_queue.enqueue(path, *args, **options)

    transaction.on_commit(start)


def job_connections_fresh() -> None:
    """At the start of a job on a worker: drop database connections the server may have closed while the
    long-lived worker waited (no-op for in-process jobs, which share the request's connection)."""
    from django.db import close_old_connections
    from rq import get_current_job

    if get_current_job() is not None:
        close_old_connections()

"""Background jobs: thin RQ entry points that load state by id and call a service.

With REDIS_URL unset (the embedded default) jobs run in-process when the transaction that asked for them
commits; with it, `manage.py rqworker etl quality default` runs them.
"""

import logging

import django_rq
from django.conf import settings
from django.db import transaction

__all__ = ["job_enqueue", "schema_apply_job"]

logger = logging.getLogger(__name__)


def job_enqueue(queue: str, func, *args) -> None:
    """Run `func(*args)` after the current transaction commits: on an RQ worker, or here without Redis."""

    def start():
        if settings.CUSTODIAN_JOBS_SYNC:
            func(*args)
        else:
            django_rq.get_queue(queue).enqueue(func, *args, job_timeout=3600)

    transaction.on_commit(start)


def schema_apply_job(apply_id: int) -> None:
    from catalog.schema.apply import schema_apply_run

    schema_apply_run(apply_id=apply_id)

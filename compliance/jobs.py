"""RQ entry points of the compliance app: thin, taking ids and calling services."""

__all__ = ["retention_execution_job"]


def retention_execution_job(execution_id: int) -> None:
    from django.db import close_old_connections
    from rq import get_current_job

    from compliance.retention import retention_execution_run

    if get_current_job() is not None:
        close_old_connections()  # a long-lived worker may hold a connection the server has dropped
    retention_execution_run(execution_id)

"""RQ entry points of the quality app: thin, taking ids and calling services."""

__all__ = ["check_run_job"]


def check_run_job(check_run_id: int) -> None:
    from django.db import close_old_connections
    from rq import get_current_job

    from quality.runner import check_run_execute

    if get_current_job() is not None:
        close_old_connections()  # a long-lived worker may hold a connection the server has dropped
    check_run_execute(check_run_id)

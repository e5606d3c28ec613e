"""RQ entry points of the pipelines app: thin, taking ids and calling services."""

__all__ = ["pipeline_run_job"]


def pipeline_run_job(run_id: int) -> None:
    from django.db import close_old_connections
    from rq import get_current_job

    from pipelines.runner import pipeline_run_execute

    if get_current_job() is not None:
        close_old_connections()  # a long-lived worker may hold a connection the server has dropped
    pipeline_run_execute(run_id)

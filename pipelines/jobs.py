"""RQ entry points of the pipelines app: thin, taking ids and calling services."""

from core.jobs import job_connections_fresh

__all__ = ["pipeline_run_job"]


def pipeline_run_job(run_id: int) -> None:
    from pipelines.runner import pipeline_run_execute

    job_connections_fresh()
    pipeline_run_execute(run_id)

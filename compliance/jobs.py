"""RQ entry points of the compliance app: thin, taking ids and calling services."""

from core.jobs import job_connections_fresh

__all__ = ["retention_execution_job"]


def retention_execution_job(execution_id: int) -> None:
    from compliance.retention import retention_execution_run

    job_connections_fresh()
    retention_execution_run(execution_id)

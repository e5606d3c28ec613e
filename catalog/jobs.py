"""RQ entry points of the catalog app: thin, taking ids and calling services (enqueued by dotted path
through core.jobs)."""

from core.jobs import job_connections_fresh

__all__ = ["schema_apply_job"]


def schema_apply_job(apply_id: int) -> None:
    from catalog.schema.apply import schema_apply_run

    job_connections_fresh()
    schema_apply_run(apply_id=apply_id)

"""RQ entry points of the quality app: thin, taking ids and calling services."""

from core.jobs import job_connections_fresh

__all__ = ["check_run_job", "incident_notify_job"]


def check_run_job(check_run_id: int) -> None:
    from quality.runner import check_run_execute

    job_connections_fresh()
    check_run_execute(check_run_id)


def incident_notify_job(incident_id: int) -> None:
    """Send an incident's alerts (e-mail, webhook) on the default queue, after its check was recorded."""
    from quality.models import Incident
    from quality.services import incident_notify

    job_connections_fresh()
    incident = Incident.objects.select_related("datastore", "entity", "rule").filter(pk=incident_id).first()
    if incident is not None:
        incident_notify(incident)

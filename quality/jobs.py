"""RQ entry points of the quality app: thin, taking ids and calling services."""

__all__ = ["check_run_job", "incident_notify_job"]


def check_run_job(check_run_id: int) -> None:
    from django.db import close_old_connections
    from rq import get_current_job

    from quality.runner import check_run_execute

    if get_current_job() is not None:
        close_old_connections()  # a long-lived worker may hold a connection the server has dropped
    check_run_execute(check_run_id)


def incident_notify_job(incident_id: int) -> None:
    """Send an incident's alerts (e-mail, webhook) on the default queue, after its check was recorded."""
    from django.db import close_old_connections
    from rq import get_current_job

    from quality.models import Incident
    from quality.services import incident_notify

    if get_current_job() is not None:
        close_old_connections()
    incident = Incident.objects.select_related("datastore", "entity", "rule").filter(pk=incident_id).first()
    if incident is not None:
        incident_notify(incident)

"""`{% load runs %}{% run_events run %}`: a run's state changes (core.models.RunEvent) on its admin page."""

from django import template

from core.models import RunEvent

__all__ = ["run_events"]

register = template.Library()


@register.inclusion_tag("admin/core/run_events.html")
def run_events(run) -> dict:
    """Every state change of `run`, oldest first, with who or what made it."""
    events = RunEvent.objects.filter(kind=run._meta.label_lower, run_id=run.pk).select_related("user")
    labels = dict(type(run)._meta.get_field("status").choices)
    return {
        "events": [
            {
                "at": event.at,
                "from": labels.get(event.from_status, event.from_status) if event.from_status else "",
                "to": labels.get(event.to_status, event.to_status),
                "by": event.user.get_username() if event.user_id else event.agent,
                "note": event.note.split("\n\n", 1)[0],
            }
            for event in events
        ]
    }

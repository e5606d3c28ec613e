"""Shared argument handling of the pipeline commands."""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from pipelines.models import Pipeline


def pipeline_named(name: str) -> Pipeline:
    pipeline = Pipeline.objects.select_related("target__datastore").filter(name=name).first()
    if pipeline is None:
        known = ", ".join(Pipeline.objects.values_list("name", flat=True)[:30]) or "none yet"
        raise CommandError(f"No pipeline named '{name}' (known: {known}).")
    return pipeline


def user_named(username: str | None):
    if not username:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"No user named '{username}'.")
    return user

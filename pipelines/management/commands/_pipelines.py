"""Pipelines named on the command line."""

from core.commands import object_named, user_named
from pipelines.models import Pipeline

__all__ = ["pipeline_named", "user_named"]


def pipeline_named(name: str) -> Pipeline:
    return object_named(
        Pipeline.objects.select_related("target__datastore"), name, missing=f"No pipeline named '{name}'"
    )

"""Shared argument handling of the quality commands."""

import difflib

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from catalog.models import DataStore

__all__ = ["datastore_named", "user_named"]


def datastore_named(name: str) -> DataStore:
    """The data store of that name; CommandError naming the known ones otherwise."""
    store = DataStore.objects.filter(name=name).first()
    if store is None:
        known = list(DataStore.objects.order_by("name").values_list("name", flat=True))
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise CommandError(f"No data store named '{name}'.{hint} Known: {', '.join(known) or 'none yet'}.")
    return store


def user_named(username: str | None):
    if not username:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"No user named '{username}'.")
    return user

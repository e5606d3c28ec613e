"""Shared argument handling of the schema_* commands."""

from django.core.management.base import CommandError

from catalog.models import DataStore


def datastore_named(name: str) -> DataStore:
    store = DataStore.objects.filter(name=name).first()
    if store is None:
        known = ", ".join(DataStore.objects.values_list("name", flat=True)) or "none yet"
        raise CommandError(f"No data store named '{name}' (known: {known}).")
    return store


def user_named(username: str | None):
    from django.contrib.auth import get_user_model

    if not username:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"No user named '{username}'.")
    return user

"""Shared argument handling of the compliance commands."""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from catalog.models import Column, DataStore, Entity

__all__ = ["user_named", "user_may", "datastore_named", "entity_named", "column_named"]


def user_named(username: str | None):
    """The user the records name as requester (None: the operator running the command)."""
    if not username:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"No user named '{username}'.")
    return user


def user_may(user, permission: str, doing: str) -> None:
    """A named user must hold the permission the admin would ask of them."""
    if user is not None and not user.has_perm(permission):
        raise CommandError(f"User '{user.get_username()}' may not {doing} (needs {permission}).")


def datastore_named(name: str) -> DataStore:
    store = DataStore.objects.filter(name=name).first()
    if store is None:
        known = ", ".join(DataStore.objects.values_list("name", flat=True)[:30]) or "none yet"
        raise CommandError(f"No data store named '{name}' (known: {known}).")
    return store


def entity_named(store: DataStore, name: str) -> Entity:
    entity = Entity.objects.filter(datastore=store, name=name).first()
    if entity is None:
        known = ", ".join(store.entities.values_list("name", flat=True)[:50]) or "none"
        raise CommandError(f"Data store '{store.name}' has no entity '{name}' (known: {known}).")
    return entity


def column_named(entity: Entity, name: str) -> Column:
    column = entity.columns.filter(name=name).first()
    if column is None:
        known = ", ".join(entity.columns.values_list("name", flat=True)) or "none"
        raise CommandError(f"Entity '{entity.name}' has no column '{name}' (known: {known}).")
    return column

"""Catalog objects named on the command line, shared by the commands of every app."""

from catalog.models import Column, DataStore, Entity
from core.commands import object_named, user_may, user_named

__all__ = ["datastore_named", "entity_named", "column_named", "user_named", "user_may"]


def datastore_named(name: str) -> DataStore:
    return object_named(DataStore.objects.all(), name, missing=f"No data store named '{name}'")


def entity_named(store: DataStore, name: str) -> Entity:
    return object_named(
        Entity.objects.filter(datastore=store),
        name,
        missing=f"Data store '{store.name}' has no entity '{name}'",
    )


def column_named(entity: Entity, name: str) -> Column:
    return object_named(entity.columns.all(), name, missing=f"Entity '{entity.name}' has no column '{name}'")

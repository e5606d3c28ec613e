"""Catalog models, split by domain; import them from here."""

from catalog.models.accounts import SignInEvent
from catalog.models.base import VersionedModel
from catalog.models.compliance import AuditTrail, Regulation, RetentionPolicy
from catalog.models.entities import Column, Entity
from catalog.models.indexes import Index, IndexColumn
from catalog.models.releases import SchemaApply, SchemaRelease
from catalog.models.storage import StorageSample
from catalog.models.stores import DataStore, Domain

__all__ = [
    "VersionedModel",
    "DataStore",
    "Domain",
    "Entity",
    "Column",
    "Index",
    "IndexColumn",
    "Regulation",
    "RetentionPolicy",
    "AuditTrail",
    "SchemaRelease",
    "SchemaApply",
    "StorageSample",
    "SignInEvent",
]

"""Errors raised by Custodian's services."""

from core.errors import CustodianError

__all__ = ["CatalogError", "ConcurrentEditError"]


class CatalogError(CustodianError):
    """A catalog change that cannot be made as asked."""


class ConcurrentEditError(CatalogError):
    """Someone else saved the object after it was loaded; saving would overwrite their change."""

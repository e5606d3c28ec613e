"""Errors raised by Custodian's services."""

__all__ = ["CustodianError", "CatalogError", "ConcurrentEditError"]


class CustodianError(Exception):
    """Root of every error Custodian raises on purpose; `message` is written for the person who sees it."""

    def __init__(self, message: str, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class CatalogError(CustodianError):
    """A catalog change that cannot be made as asked."""


class ConcurrentEditError(CatalogError):
    """Someone else saved the object after it was loaded; saving would overwrite their change."""

"""The root of every error Custodian raises on purpose, and the errors the kernel itself raises.

Apps add a few subclasses each (CatalogError, PipelineError, QualityError, ComplianceError); `message` is
always written for the person who will read it.
"""

__all__ = ["CustodianError", "SchemaError", "StoreUnreachable", "RecordError"]


class CustodianError(Exception):
    """Root of every error Custodian raises on purpose; `message` is written for the person who sees it."""

    def __init__(self, message: str, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class SchemaError(CustodianError):
    """The catalog cannot be turned into SQL for a dialect, or SQL cannot be applied to a data store."""


class StoreUnreachable(SchemaError):
    """The data store refused or dropped the connection: trying again later may work."""


class RecordError(CustodianError):
    """A record of work that ran (a run, an apply, an execution) cannot be changed or deleted."""

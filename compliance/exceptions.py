"""Errors of the compliance app."""

from core.errors import CustodianError

__all__ = [
    "ComplianceError",
    "RetentionRefused",
    "RetentionBusy",
    "SubjectBusy",
    "SubjectAmbiguous",
    "ConfirmationMismatch",
]


class ComplianceError(CustodianError):
    """A retention execution or subject request that cannot be carried out as asked."""


class RetentionRefused(ComplianceError):
    """Enforcing the policy would break a foreign key, a legal hold or an archive table; nothing changed."""


class RetentionBusy(ComplianceError):
    """The policy already has an execution queued or running."""


class SubjectBusy(ComplianceError):
    """Another request for the same subject in the same data store is running."""


class SubjectAmbiguous(ComplianceError):
    """The identifier matched rows in several entities and an erasure needs to know which one is meant."""


class ConfirmationMismatch(ComplianceError):
    """An erasure was asked to run without the confirmation it needs."""

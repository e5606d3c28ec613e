"""Choices of the compliance app."""

from django.db import models

__all__ = [
    "ExecutionStatus",
    "ExecutionTrigger",
    "TableAction",
    "RequestKind",
    "RequestStatus",
    "RowFate",
    "FINISHED_EXECUTION",
    "FINISHED_REQUEST",
]


class ExecutionStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed (nothing changed)"
    BLOCKED = "blocked", "Blocked by legal hold"


FINISHED_EXECUTION = (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.BLOCKED)


class ExecutionTrigger(models.TextChoices):
    MANUAL = "manual", "Admin"
    SCHEDULE = "schedule", "Daily schedule"
    COMMAND = "command", "Command line"


class TableAction(models.TextChoices):
    """What an execution or erasure did (or would do) to rows of one table."""

    DELETE = "delete", "Deleted"
    ANONYMIZE = "anonymize", "Anonymized"
    ARCHIVE = "archive", "Moved to archive"
    CLEAR_REFERENCE = "clear_reference", "Reference cleared"
    HOLD = "hold", "Untouched (legal hold)"
    KEEP = "keep", "Kept unchanged (no personal data to anonymize)"


class RequestKind(models.TextChoices):
    FIND = "find", "Find"
    ACCESS = "access", "Access (export, Art. 15)"
    ERASURE = "erasure", "Erasure (Art. 17)"


class RequestStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    RUNNING = "running", "Running"
    AWAITING_CONFIRMATION = "awaiting_confirmation", "Dry run done: awaiting confirmation"
    COMPLETED = "completed", "Completed"
    REFUSED = "refused", "Refused (nothing changed)"
    FAILED = "failed", "Failed (nothing changed)"


FINISHED_REQUEST = (RequestStatus.COMPLETED, RequestStatus.REFUSED, RequestStatus.FAILED)


class RowFate(models.TextChoices):
    """What an erasure does to one row it found (kept in the working set on the data store)."""

    DELETE = "delete", "Delete"
    RETAIN = "retain", "Anonymize: a retention policy with a legal basis still requires it"
    REFERENCED = "referenced", "Anonymize: rows that stay still reference it"
    OWNED = "owned", "Anonymize: it belongs to a row that stays (ON DELETE CASCADE)"
    HOLD = "hold", "Untouched: legal hold"

"""Choices of the quality app."""

from django.db import models

from core.choices import RunStatus
from quality.kinds import KINDS

__all__ = [
    "RuleKind",
    "Severity",
    "Dimension",
    "RuleOrigin",
    "ResultStatus",
    "CheckTrigger",
    "RunStatus",
    "SCAN_KINDS",
    "KIND_DIMENSIONS",
]


# One member per declared kind (quality/kinds.py): RuleKind.NOT_NULL == "not_null", labelled as declared.
RuleKind = models.TextChoices(
    "RuleKind", [(kind.value.upper(), (kind.value, kind.label)) for kind in KINDS.values()]
)
RuleKind.__doc__ = "The rule kinds, generated from their declarations in quality/kinds.py."

# Kinds evaluated as an aggregate in one shared scan of the entity's table.
SCAN_KINDS = {RuleKind(kind.value) for kind in KINDS.values() if kind.in_scan}


class Severity(models.TextChoices):
    WARN = "warn", "Warning"
    ERROR = "error", "Error"


class Dimension(models.TextChoices):
    COMPLETENESS = "completeness", "Completeness"
    VALIDITY = "validity", "Validity"
    UNIQUENESS = "uniqueness", "Uniqueness"
    CONSISTENCY = "consistency", "Consistency"
    TIMELINESS = "timeliness", "Timeliness"
    ACCURACY = "accuracy", "Accuracy"


KIND_DIMENSIONS = {RuleKind(kind.value): Dimension(kind.dimension) for kind in KINDS.values()}


class RuleOrigin(models.TextChoices):
    MANUAL = "manual", "Written by a steward"
    CATALOG = "catalog", "Implied by the catalog"


class ResultStatus(models.TextChoices):
    PASSED = "passed", "Passed"
    WARNED = "warned", "Failed (warning)"
    FAILED = "failed", "Failed (error)"
    ERROR = "error", "Could not run"


class CheckTrigger(models.TextChoices):
    MANUAL = "manual", "Run now"
    COMMAND = "command", "Command line"
    SCHEDULE = "schedule", "Schedule"
    PIPELINE = "pipeline", "After a pipeline load"

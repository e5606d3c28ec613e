"""Choices of the quality app."""

from django.db import models

from core.choices import RunStatus

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


class RuleKind(models.TextChoices):
    NOT_NULL = "not_null", "Not null / completeness"
    UNIQUE = "unique", "Unique"
    PATTERN = "pattern", "Pattern (regular expression)"
    RANGE = "range", "Range (min/max)"
    ALLOWED_VALUES = "allowed_values", "Allowed values"
    REFERENTIAL = "referential", "Referential integrity"
    FRESHNESS = "freshness", "Freshness"
    VOLUME = "volume", "Volume"
    CUSTOM_SQL = "custom_sql", "Custom SQL"


# Kinds evaluated as a FILTER aggregate in one shared scan of the entity's table.
SCAN_KINDS = {
    RuleKind.NOT_NULL,
    RuleKind.PATTERN,
    RuleKind.RANGE,
    RuleKind.ALLOWED_VALUES,
    RuleKind.FRESHNESS,
    RuleKind.VOLUME,
}


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


KIND_DIMENSIONS = {
    RuleKind.NOT_NULL: Dimension.COMPLETENESS,
    RuleKind.UNIQUE: Dimension.UNIQUENESS,
    RuleKind.PATTERN: Dimension.VALIDITY,
    RuleKind.RANGE: Dimension.VALIDITY,
    RuleKind.ALLOWED_VALUES: Dimension.VALIDITY,
    RuleKind.REFERENTIAL: Dimension.CONSISTENCY,
    RuleKind.FRESHNESS: Dimension.TIMELINESS,
    RuleKind.VOLUME: Dimension.COMPLETENESS,
    RuleKind.CUSTOM_SQL: Dimension.ACCURACY,
}


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

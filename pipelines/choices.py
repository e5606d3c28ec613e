"""Choices of the pipelines app."""

from django.db import models

from core.choices import RunStatus

__all__ = ["SourceKind", "ExtractMode", "LoadMode", "RunTrigger", "RunStatus", "ErrorKind", "FILE_KINDS"]


class SourceKind(models.TextChoices):
    CSV = "csv", "CSV file"
    JSONL = "jsonl", "JSON Lines file"
    JSON = "json", "JSON array file"
    XLSX = "xlsx", "Excel workbook (XLSX)"
    SQL_TABLE = "sql_table", "Table on a data store"
    SQL_QUERY = "sql_query", "SQL query on a data store"


FILE_KINDS = {SourceKind.CSV, SourceKind.JSONL, SourceKind.JSON, SourceKind.XLSX}


class ExtractMode(models.TextChoices):
    FULL = "full", "Full"
    INCREMENTAL = "incremental", "Incremental (watermark)"


class LoadMode(models.TextChoices):
    APPEND = "append", "Append"
    REPLACE = "replace", "Replace all rows"
    UPSERT = "upsert", "Upsert on key"
    SCD2 = "scd2", "Slowly changing dimension, type 2"


class RunTrigger(models.TextChoices):
    MANUAL = "manual", "Run now"
    COMMAND = "command", "Command line"
    SCHEDULE = "schedule", "Schedule"
    DEPENDENCY = "dependency", "After another pipeline"
    RETRY = "retry", "Retry"


class ErrorKind(models.TextChoices):
    DATA = "data", "Data or configuration error"
    TRANSIENT = "transient", "Transient error (retried)"
    THRESHOLD = "threshold", "Too many rejected rows"
    QUALITY = "quality", "Quality rules failed after the load"
    CANCELLED = "cancelled", "Cancelled"
    LOST = "lost", "Worker lost (stale heartbeat)"
    INTERNAL = "internal", "Internal error"

"""Controlled vocabularies of the catalog."""

from django.db import models

__all__ = [
    "DatabaseEngine",
    "EntityKind",
    "SensitivityLevel",
    "DataType",
    "PIICategory",
    "MaskingStrategy",
    "ReferentialAction",
    "OnDelete",
    "OnUpdate",
    "Deferrability",
    "IndexMethod",
    "SortOrder",
    "RetentionAction",
    "PeriodUnit",
    "TYPE_FAMILIES",
    "LintSeverity",
    "SignInKind",
]


class DatabaseEngine(models.TextChoices):
    POSTGRESQL = "postgresql", "PostgreSQL"
    SQLITE = "sqlite", "SQLite"
    MYSQL = "mysql", "MySQL"
    SQLSERVER = "sqlserver", "SQL Server"


class EntityKind(models.TextChoices):
    TABLE = "table", "Table"
    DIMENSION = "dimension", "Dimension"
    FACT = "fact", "Fact"
    REFERENCE = "reference", "Reference"
    STAGING = "staging", "Staging"


class SensitivityLevel(models.TextChoices):
    PUBLIC = "public", "Public"
    INTERNAL = "internal", "Internal"
    CONFIDENTIAL = "confidential", "Confidential"
    RESTRICTED = "restricted", "Restricted"


class DataType(models.TextChoices):
    UUID = "uuid", "uuid"
    VARCHAR = "varchar", "varchar(n)"
    CHAR = "char", "char(n)"
    TEXT = "text", "text"
    SMALLINT = "smallint", "smallint"
    INTEGER = "integer", "integer"
    BIGINT = "bigint", "bigint"
    NUMERIC = "numeric", "numeric(p,s)"
    REAL = "real", "real"
    DOUBLE = "double", "double precision"
    BOOLEAN = "boolean", "boolean"
    DATE = "date", "date"
    TIME = "time", "time"
    TIMESTAMP = "timestamp", "timestamp"
    TIMESTAMPTZ = "timestamptz", "timestamp with time zone"
    JSON = "json", "json"
    JSONB = "jsonb", "jsonb"
    BYTEA = "bytea", "bytea (binary)"


# Columns of one family can be joined by a foreign key; across families they cannot.
TYPE_FAMILIES = {
    DataType.UUID: "uuid",
    DataType.VARCHAR: "string",
    DataType.CHAR: "string",
    DataType.TEXT: "string",
    DataType.SMALLINT: "integer",
    DataType.INTEGER: "integer",
    DataType.BIGINT: "integer",
    DataType.NUMERIC: "numeric",
    DataType.REAL: "float",
    DataType.DOUBLE: "float",
    DataType.BOOLEAN: "boolean",
    DataType.DATE: "date",
    DataType.TIME: "time",
    DataType.TIMESTAMP: "timestamp",
    DataType.TIMESTAMPTZ: "timestamp",
    DataType.JSON: "json",
    DataType.JSONB: "json",
    DataType.BYTEA: "binary",
}


class PIICategory(models.TextChoices):
    NONE = "none", "Not personal data"
    DIRECT_IDENTIFIER = "direct_identifier", "Direct identifier"
    QUASI_IDENTIFIER = "quasi_identifier", "Quasi-identifier"
    HEALTH = "health", "Sensitive health (PHI)"
    FINANCIAL = "financial", "Financial (PCI)"
    CREDENTIAL = "credential", "Credential"


class MaskingStrategy(models.TextChoices):
    NONE = "none", "None"
    HASH = "hash", "Hash (peppered)"
    REDACT = "redact", "Redact"
    PARTIAL = "partial", "Partial mask"
    TOKENIZE = "tokenize", "Tokenize"
    NULLIFY = "nullify", "Set to NULL"


class ReferentialAction(models.TextChoices):
    """What a foreign key does when the row it points at is deleted (ON DELETE) or its key changes
    (ON UPDATE)."""

    NO_ACTION = "no_action", "NO ACTION"
    RESTRICT = "restrict", "RESTRICT"
    CASCADE = "cascade", "CASCADE"
    SET_NULL = "set_null", "SET NULL"
    SET_DEFAULT = "set_default", "SET DEFAULT"


# The same five actions, named for the event they answer.
OnDelete = ReferentialAction
OnUpdate = ReferentialAction


class Deferrability(models.TextChoices):
    """When a foreign key is checked: at each statement, or (deferrable) possibly at commit."""

    NOT_DEFERRABLE = "not_deferrable", "NOT DEFERRABLE"
    INITIALLY_IMMEDIATE = "initially_immediate", "DEFERRABLE INITIALLY IMMEDIATE"
    INITIALLY_DEFERRED = "initially_deferred", "DEFERRABLE INITIALLY DEFERRED"


class IndexMethod(models.TextChoices):
    BTREE = "btree", "B-tree"
    HASH = "hash", "Hash"
    GIN = "gin", "GIN"
    GIST = "gist", "GiST"
    BRIN = "brin", "BRIN"


class SortOrder(models.TextChoices):
    ASC = "asc", "Ascending"
    DESC = "desc", "Descending"


class RetentionAction(models.TextChoices):
    DELETE = "delete", "Delete rows"
    ANONYMIZE = "anonymize", "Anonymize personal data"
    ARCHIVE = "archive", "Move to archive table"


class PeriodUnit(models.TextChoices):
    DAYS = "days", "days"
    MONTHS = "months", "months"
    YEARS = "years", "years"


class LintSeverity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"


class SignInKind(models.TextChoices):
    """What happened at the sign-in page (the audit trail's change types for sign-in events)."""

    SIGNED_IN = "signed_in", "signed in"
    FAILED = "sign_in_failed", "sign-in failed"
    SIGNED_OUT = "signed_out", "signed out"
    LOCKED_OUT = "locked_out", "locked out"
    REFUSED = "sign_in_refused", "sign-in refused (locked out)"
    LOCKOUT_LIFTED = "lockout_lifted", "lock-out lifted"

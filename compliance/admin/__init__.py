"""Admin of the compliance app: retention executions, subject requests, the PII overview and the report."""

from compliance.admin.executions import RetentionExecutionAdmin
from compliance.admin.reports import ComplianceReportAdmin
from compliance.admin.requests import SubjectRequestAdmin

__all__ = ["RetentionExecutionAdmin", "SubjectRequestAdmin", "ComplianceReportAdmin"]

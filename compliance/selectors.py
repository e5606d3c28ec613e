"""Read-side queries of compliance: the PII overview of a data store with its gaps, and the activity a
compliance report covers (retention executions, subject requests, audit trail) for a date range."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from django.db.models import Count, Prefetch

from catalog.choices import MaskingStrategy, PIICategory
from catalog.models import Column, DataStore, Entity, RetentionPolicy
from catalog.selectors import HISTORY_TYPES, audit_models
from compliance.models import RetentionExecution, SubjectRequest
from core.dates import days_in
from core.masking import column_masking

__all__ = ["PiiColumn", "PiiOverview", "pii_overview", "ReportActivity", "report_activity"]

# Categories whose values must not be shown in clear to anyone without catalog.view_pii.
IDENTIFYING = {
    PIICategory.DIRECT_IDENTIFIER,
    PIICategory.HEALTH,
    PIICategory.FINANCIAL,
    PIICategory.CREDENTIAL,
}


@dataclass
class PiiColumn:
    """One personal-data column with its masking, the retention policies of its entity, and its gaps."""

    column: Column
    masking: str
    policies: list[RetentionPolicy]
    gaps: list[str] = field(default_factory=list)

    @property
    def regulations(self) -> list[str]:
        return sorted({p.regulation.code for p in self.policies if p.regulation_id})

    @property
    def masking_label(self) -> str:
        """The masking in the words the catalog's forms use ("Partial mask", not "partial")."""
        try:
            return MaskingStrategy(self.masking).label
        except ValueError:
            return self.masking

    @property
    def legal_hold(self) -> bool:
        """Whether the column's entity is on legal hold (no retention or erasure touches its rows)."""
        return self.column.entity.legal_hold

    @property
    def retention_words(self) -> str:
        """The entity's legal hold and its policies in words ("—" when none): the CSV's retention text."""
        parts = ["entity on legal hold"] if self.legal_hold else []
        parts += [
            f"{p.name} ({p.get_action_display().lower()} after {p.period_label}"
            f"{', on hold' if p.legal_hold else ''})"
            for p in self.policies
        ]
        return "; ".join(parts) or "—"


@dataclass
class PiiOverview:
    """Every PII column of a data store, and its entities without an owner."""

    datastore: DataStore
    columns: list[PiiColumn]
    unowned: list[Entity]

    @property
    def gap_count(self) -> int:
        return sum(len(c.gaps) for c in self.columns) + len(self.unowned)


def pii_overview(datastore: DataStore) -> PiiOverview:
    """The data store's PII columns with category, masking, retention and regulation; gaps named per column
    (no retention policy, identifying data without masking) and the entities nobody owns. Three queries."""
    policies = RetentionPolicy.objects.select_related("regulation").order_by("name")
    entities = list(
        Entity.objects.filter(datastore=datastore)
        .select_related("owner")
        .prefetch_related(Prefetch("retention_policies", queryset=policies), "columns")
        .order_by("name")
    )
    rows = []
    for entity in entities:
        entity_policies = list(entity.retention_policies.all())
        for column in entity.columns.all():
            if not column.is_pii:
                continue
            column.entity = entity
            row = PiiColumn(column=column, masking=column_masking(column), policies=entity_policies)
            if not entity_policies:
                row.gaps.append("no retention policy")
            if row.masking == "none" and column.pii_category in IDENTIFYING:
                row.gaps.append("no masking: shown in clear")
            rows.append(row)
    unowned = [entity for entity in entities if entity.owner_id is None]
    return PiiOverview(datastore=datastore, columns=rows, unowned=unowned)


@dataclass
class ReportActivity:
    executions: list[RetentionExecution]
    execution_counts: list[tuple[str, int]]
    requests: list[SubjectRequest]
    request_counts: list[tuple[str, int]]
    audit_counts: list[tuple[str, str, int]]


def report_activity(*, start: date, end: date, datastore: DataStore | None = None) -> ReportActivity:
    """Retention executions and subject requests created in the range (newest first), their counts by
    status and kind, and the audit trail's changes per model and change type."""
    executions = days_in(RetentionExecution.objects.all(), "created_at", start, end).select_related(
        "requested_by"
    )
    requests = days_in(SubjectRequest.objects.all(), "created_at", start, end).select_related(
        "datastore", "requested_by"
    )
    if datastore is not None:
        executions = executions.filter(datastore_name=datastore.name)
        requests = requests.filter(datastore=datastore)
    executions, requests = list(executions), list(requests)
    audit = []
    for label, history_model in sorted(audit_models().items()):
        counts = (
            days_in(history_model.objects.all(), "history_date", start, end)
            .values("history_type")
            .annotate(total=Count("history_id"))
            .order_by("history_type")
        )
        audit += [(label, HISTORY_TYPES[c["history_type"]], c["total"]) for c in counts]
    return ReportActivity(
        executions=executions,
        execution_counts=sorted(Counter(e.get_status_display() for e in executions).items()),
        requests=requests,
        request_counts=sorted(
            Counter(f"{r.get_kind_display()}: {r.get_status_display()}" for r in requests).items()
        ),
        audit_counts=audit,
    )

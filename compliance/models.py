"""Records of compliance work: retention executions (and the daily sweeps that queue them) and data subject
requests.

Both are records, not configuration, and kinds of run (core.runs): written by the services, never edited
once finished and never deleted (save() and delete() refuse). The policies and the catalog they act on
live in `catalog`.
"""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from catalog.choices import RetentionAction
from catalog.exceptions import CatalogError
from catalog.validators import DESCRIPTION_MAX_LENGTH, text_limit
from compliance.choices import (
    FINISHED_EXECUTION,
    FINISHED_REQUEST,
    ExecutionStatus,
    ExecutionTrigger,
    RequestKind,
    RequestStatus,
)
from core.models import RunKind, RunRecord

__all__ = ["RetentionSweep", "RetentionExecution", "SubjectRequest", "ComplianceReport"]


class RecordQuerySet(models.QuerySet):
    """Records are evidence: a bulk delete is refused like a single one."""

    def delete(self):
        raise CatalogError(
            f"{self.model._meta.verbose_name_plural.capitalize()} are records and cannot be deleted."
        )


class RetentionSweep(models.Model):
    """One scheduled enforcement of every retention policy: at most one per cron slot, however many scheduler
    ticks (or tick processes) see that slot."""

    slot = models.DateTimeField(unique=True, help_text=_("The cron time this sweep is for (UTC)."))
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RecordQuerySet.as_manager()

    class Meta:
        ordering = ["-slot"]
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"retention sweep of {self.slot:%Y-%m-%d %H:%M} UTC"

    def delete(self, *args, **kwargs):
        raise CatalogError(f"{self} is a record and cannot be deleted.")


class RetentionExecution(RunRecord):
    """One enforcement (or dry run) of a retention policy: what it would do or did, per table; kept as it
    ended. The policy's name, version and settings are copied in, so the record still reads right after the
    policy changes or is deleted."""

    record_name = "Retention execution"
    run_kind = RunKind(
        job="compliance.jobs.retention_execution_job",
        finished=FINISHED_EXECUTION,
        lost_note="Its data store transaction was rolled back unless it had committed just before; run a dry "
        "run to see which rows remain.",
        unclaimed_note="No worker took this execution within 12 hours (is an rqworker for the default queue "
        "running?).",
        unclaimed_after=timedelta(hours=12),
        # Executions recorded before they had a heartbeat were lost after 12 hours.
        running_without_heartbeat_after=timedelta(hours=12),
    )

    policy = models.ForeignKey(
        "catalog.RetentionPolicy", null=True, blank=True, on_delete=models.SET_NULL, related_name="executions"
    )
    policy_version = models.PositiveIntegerField(help_text=_("The policy's version when it was enforced."))
    policy_name = models.CharField(max_length=100)
    datastore_name = models.CharField(max_length=63)
    entity_name = models.CharField(max_length=63)
    policy_snapshot = models.JSONField(
        default=dict,
        blank=True,
        help_text=_("Anchor, period, action, regulation and legal basis as enforced."),
    )
    action = models.CharField(max_length=20, choices=RetentionAction.choices)
    dry_run = models.BooleanField(default=False, help_text=_("Counted and sampled only; nothing changed."))
    trigger = models.CharField(
        max_length=20, choices=ExecutionTrigger.choices, default=ExecutionTrigger.MANUAL
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    sweep = models.ForeignKey(
        RetentionSweep, null=True, blank=True, on_delete=models.PROTECT, related_name="executions"
    )
    status = models.CharField(max_length=20, choices=ExecutionStatus.choices, default=ExecutionStatus.QUEUED)
    cutoff = models.DateTimeField(
        null=True, blank=True, help_text=_("Rows whose anchor is older than this are past the period.")
    )
    rows_expired = models.BigIntegerField(
        null=True, blank=True, help_text=_("Rows of the policy's table past the period.")
    )
    rows_by_table = models.JSONField(
        default=list, blank=True, help_text=_("Per table: what was done (or would be) and to how many rows.")
    )
    samples = models.JSONField(
        default=list, blank=True, help_text=_("Up to ten expired rows, personal data masked.")
    )
    statements = models.JSONField(
        default=list, blank=True, help_text=_("The SQL that ran, with its parameters as %s.")
    )
    timings = models.JSONField(default=dict, blank=True, help_text=_("Seconds per phase."))

    objects = RecordQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        default_permissions = ("view",)
        permissions = [
            ("execute_retention", "Can enforce retention policies (delete, anonymize, archive rows)")
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["policy"],
                condition=Q(status__in=[ExecutionStatus.QUEUED, ExecutionStatus.RUNNING], dry_run=False),
                name="compliance_one_active_execution",
                violation_error_message=_("This policy already has an execution queued or running."),
            )
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="compliance_exec_status")]

    def __str__(self) -> str:
        kind = "dry run" if self.dry_run else "execution"
        return (
            f"{kind} #{self.pk} of '{self.policy_name}' on {self.entity_name} ({self.get_status_display()})"
        )

    @property
    def rows_changed(self) -> int:
        """Rows deleted, anonymized, archived or updated across every table (0 for dry runs)."""
        if self.dry_run:
            return 0
        return sum(entry["rows"] for entry in self.rows_by_table if entry["action"] != "hold")


class SubjectRequest(RunRecord):
    """A data subject's request (GDPR Art. 15 access, Art. 17 erasure, CCPA): whose data, where it was
    looked for, what was found and what was done. Found rows are kept here only masked: the record
    outlives the data, so it must not bring an erased subject back.

    Its "worker" is the process that runs the service (a web request): received (queued) -> running ->
    awaiting confirmation (after an erasure's dry run) -> running -> completed, refused or failed."""

    record_name = "Subject request"
    run_kind = RunKind(
        queued=RequestStatus.RECEIVED,
        succeeded=RequestStatus.COMPLETED,
        finished=FINISHED_REQUEST,
        claimable=(RequestStatus.RECEIVED, RequestStatus.AWAITING_CONFIRMATION),
        lost_note="Its transaction on the data store was rolled back: nothing was changed. Start a new "
        "request.",
        # Requests left running by a killed process before they had a heartbeat (they stayed so forever).
        running_without_heartbeat_after=timedelta(hours=6),
    )

    datastore = models.ForeignKey(
        "catalog.DataStore",
        on_delete=models.PROTECT,
        related_name="subject_requests",
        verbose_name=_("data store"),
    )
    # The identifier is itself personal data (an e-mail address, a customer number). It is kept as given
    # because the record must show whose request was answered (GDPR Art. 5(2) accountability); only people
    # allowed to view subject requests (compliance officers) see it.
    identifier = models.CharField(
        max_length=500, help_text=_("E-mail address, customer number ... exactly as the subject gave it.")
    )
    entity = models.ForeignKey(
        "catalog.Entity",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Look only in this entity (empty: every identifying column)."),
    )
    column = models.ForeignKey(
        "catalog.Column",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Look only in this column of the entity."),
    )
    kind = models.CharField(max_length=20, choices=RequestKind.choices, default=RequestKind.FIND)
    regulation = models.ForeignKey(
        "catalog.Regulation", null=True, blank=True, on_delete=models.PROTECT, related_name="subject_requests"
    )
    basis = models.TextField(
        blank=True,
        max_length=DESCRIPTION_MAX_LENGTH,
        validators=[text_limit(DESCRIPTION_MAX_LENGTH)],
        help_text=_("e.g. 'Art. 17(1)(b): consent withdrawn on 2025-03-02'."),
    )
    status = models.CharField(max_length=30, choices=RequestStatus.choices, default=RequestStatus.RECEIVED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    outcome = models.TextField(blank=True, help_text=_("What happened, in one or two sentences."))
    found = models.JSONField(
        default=list, blank=True, help_text=_("Per entity: rows found, matched on or reached via.")
    )
    plan = models.JSONField(
        default=list, blank=True, help_text=_("Erasure dry run: per table what would happen.")
    )
    touched = models.JSONField(
        default=list, blank=True, help_text=_("Per table: rows deleted, anonymized or held.")
    )
    report = models.JSONField(
        default=dict, blank=True, help_text=_("The downloadable report (personal data masked).")
    )

    objects = RecordQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        default_permissions = ("view", "add")
        permissions = [
            ("erase_subject", "Can erase a data subject's rows (after a dry run and confirmation)"),
        ]
        indexes = [models.Index(fields=["datastore", "-created_at"], name="compliance_request_store")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} request #{self.pk} ({self.get_status_display()})"

    def clean(self):
        super().clean()
        # The entity (and column) looked in belong to the request's data store
        if self.entity_id and self.datastore_id and self.entity.datastore_id != self.datastore_id:
            raise ValidationError({"entity": _("Choose an entity of %(store)s.") % {"store": self.datastore}})
        # A column needs its entity, so the request reads "customers.email"
        if self.column_id and not self.entity_id:
            raise ValidationError({"entity": _("Choose the entity of the column.")})
        if self.column_id and self.column.entity_id != self.entity_id:
            raise ValidationError({"column": _("Choose a column of %(entity)s.") % {"entity": self.entity}})
        # Finding rows runs SQL on the data store, which Custodian does on PostgreSQL
        if self.datastore_id and self.datastore.engine != "postgresql":
            raise ValidationError(
                {
                    "datastore": _("Subject requests need a PostgreSQL data store; %(store)s is %(engine)s.")
                    % {"store": self.datastore, "engine": self.datastore.get_engine_display()}
                }
            )
        if not self.identifier.strip():
            raise ValidationError({"identifier": _("Give the subject's identifier.")})


class ComplianceReport(models.Model):
    """Holds the permission for the PII overview and the compliance report; they are read from the catalog
    and the records above."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_compliance_report", "Can view the PII overview and the compliance report")]

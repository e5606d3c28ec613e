"""Whether data is right: rules, check runs, their results and scores, incidents and alert settings.

Rules and their schedules and alert settings are configuration, versioned and audited like the catalog.
Check runs, results, scores and incidents are records: written by the runner, never edited afterwards.
A rule names its columns (not foreign keys), so a rule whose column disappears from the catalog stays and
its next result says so.
"""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from catalog.models.base import VersionedModel
from catalog.validators import DESCRIPTION_MAX_LENGTH, text_limit
from core.models import RunKind, RunRecord
from core.outbound import url_problem
from quality.choices import (
    KIND_DIMENSIONS,
    CheckTrigger,
    Dimension,
    ResultStatus,
    RuleKind,
    RuleOrigin,
    Severity,
)
from quality.kinds import rule_definition_errors

__all__ = ["Rule", "CheckRun", "RuleResult", "EntityScore", "Incident", "QualityAlerting", "QualitySchedule"]


class Rule(VersionedModel):
    """One expectation about an entity's rows, with how much failure it tolerates and how bad failing is."""

    entity = models.ForeignKey("catalog.Entity", on_delete=models.CASCADE, related_name="quality_rules")
    name = models.CharField(max_length=150, help_text=_("Unique within the entity, e.g. email_not_null."))
    kind = models.CharField(max_length=20, choices=RuleKind.choices)
    columns = models.JSONField(default=list, blank=True, help_text=_("Column names the rule checks."))
    params = models.JSONField(
        default=dict,
        blank=True,
        help_text=_(
            "pattern; min/max; values; ref_entity + ref_columns; max_age_hours; min_rows/max_rows/"
            "max_change_percent; sql."
        ),
    )
    threshold_percent = models.DecimalField(
        max_digits=6,
        decimal_places=3,
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text=_("Failing rows tolerated, as a share of all rows (0: none)."),
    )
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.ERROR)
    dimension = models.CharField(max_length=20, choices=Dimension.choices, blank=True)
    enabled = models.BooleanField(default=True)
    description = models.TextField(
        blank=True, max_length=DESCRIPTION_MAX_LENGTH, validators=[text_limit(DESCRIPTION_MAX_LENGTH)]
    )
    origin = models.CharField(
        max_length=10, choices=RuleOrigin.choices, default=RuleOrigin.MANUAL, editable=False
    )
    implied_key = models.CharField(
        max_length=200,
        blank=True,
        editable=False,
        help_text=_("For rules implied by the catalog: what implies it."),
    )

    class Meta:
        ordering = ["entity", "name"]
        constraints = [
            models.UniqueConstraint(fields=["entity", "name"], name="quality_rule_unique_name"),
            models.UniqueConstraint(
                fields=["entity", "implied_key"],
                condition=~Q(implied_key=""),
                name="quality_rule_unique_implied",
            ),
        ]
        permissions = [
            ("write_custom_sql", "Can write custom SQL quality rules"),
            ("run_quality", "Can run quality checks"),
        ]

    def __str__(self) -> str:
        return f"{self.entity.name}.{self.name}" if self.entity_id else self.name

    @classmethod
    def from_db(cls, db, field_names, values):
        rule = super().from_db(db, field_names, values)
        rule._loaded_kind = rule.__dict__.get("kind")
        return rule

    def save(self, *args, **kwargs):
        loaded_kind = getattr(self, "_loaded_kind", None)
        derived_before = KIND_DIMENSIONS.get(loaded_kind, Dimension.VALIDITY) if loaded_kind else None
        if not self.dimension or (loaded_kind != self.kind and self.dimension == derived_before):
            # Blank, or derived from the kind this rule had: follow the new kind. One chosen on purpose stays.
            self.dimension = KIND_DIMENSIONS.get(self.kind, Dimension.VALIDITY)
        super().save(*args, **kwargs)
        self._loaded_kind = self.kind

    def clean(self):
        super().clean()
        errors = rule_definition_errors(self)
        if errors:
            raise ValidationError(errors)


class QualitySchedule(VersionedModel):
    """When an entity's (or a whole data store's) rules run on their own: a cron expression in UTC."""

    datastore = models.ForeignKey(
        "catalog.DataStore", on_delete=models.CASCADE, related_name="quality_schedules"
    )
    entity = models.ForeignKey(
        "catalog.Entity",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="quality_schedules",
        help_text=_("Empty: every entity of the data store."),
    )
    cron = models.CharField(max_length=100, help_text=_("e.g. '0 * * * *' (hourly, UTC)."))
    enabled = models.BooleanField(default=True)
    next_run_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["datastore", "entity"]

    def __str__(self) -> str:
        return f"{self.entity or self.datastore}: {self.cron}"

    def clean(self):
        super().clean()
        from croniter import croniter

        if self.cron and not croniter.is_valid(self.cron):
            raise ValidationError({"cron": _("Not a cron expression (minute hour day month weekday).")})
        # Each run scans the data store: a schedule may not fire more often than the platform allows.
        if self.cron:
            from quality.limits import min_schedule_minutes
            from quality.schedules import cron_shortest_gap_minutes

            shortest, least = cron_shortest_gap_minutes(self.cron), min_schedule_minutes()
            if shortest is not None and shortest < least:
                raise ValidationError(
                    {
                        "cron": _(
                            "This schedule fires as often as every %(gap)s min; quality checks may run at "
                            "most every %(least)s min (e.g. '*/%(least)s * * * *')."
                        )
                        % {"gap": f"{shortest:g}", "least": least}
                    }
                )
        if self.entity_id and self.datastore_id and self.entity.datastore_id != self.datastore_id:
            raise ValidationError({"entity": _("The entity belongs to another data store.")})


class QualityAlerting(VersionedModel):
    """Where a data store's quality incidents are announced: e-mail addresses and/or a webhook."""

    datastore = models.OneToOneField(
        "catalog.DataStore", on_delete=models.CASCADE, related_name="quality_alerting"
    )
    emails = models.TextField(blank=True, help_text=_("Comma-separated addresses."))
    webhook_url = models.URLField(blank=True, help_text=_("Receives a JSON POST per incident."))
    score_drop_points = models.FloatField(
        default=10,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text=_("Alert when an entity's score falls by this many points since the previous check."),
    )

    class Meta:
        verbose_name = _("quality alerting")
        verbose_name_plural = _("quality alerting")

    def __str__(self) -> str:
        return f"alerts of {self.datastore}"

    @property
    def email_list(self) -> list[str]:
        return [address.strip() for address in self.emails.split(",") if address.strip()]

    def clean(self):
        super().clean()
        from django.core.validators import validate_email

        for address in self.email_list:
            try:
                validate_email(address)
            except ValidationError:
                raise ValidationError(
                    {"emails": _("'%(a)s' is not an e-mail address.") % {"a": address}}
                ) from None
        # Webhooks go to public http(s) addresses only (checked again, resolved, when an alert is sent)
        problem = url_problem(self.webhook_url) if self.webhook_url else None
        if problem:
            raise ValidationError({"webhook_url": problem})


class CheckRun(RunRecord):
    """One evaluation of the rules of an entity or of a whole data store; kept as it ended."""

    record_name = "Check run"
    run_kind = RunKind(
        job="quality.jobs.check_run_job",
        queue="quality",
        lost_note="No results were recorded; run the checks again.",
        unclaimed_note="No worker took this check within 6 hours (is an rqworker for the quality queue "
        "running?).",
        unclaimed_after=timedelta(hours=6),
    )

    datastore = models.ForeignKey("catalog.DataStore", on_delete=models.PROTECT, related_name="check_runs")
    entity = models.ForeignKey(
        "catalog.Entity", null=True, blank=True, on_delete=models.SET_NULL, related_name="check_runs"
    )
    trigger = models.CharField(max_length=20, choices=CheckTrigger.choices, default=CheckTrigger.MANUAL)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    pipeline_run_id = models.BigIntegerField(
        null=True, blank=True, help_text=_("The load that triggered it.")
    )
    rules_total = models.PositiveIntegerField(default=0)
    rules_passed = models.PositiveIntegerField(default=0)
    rules_warned = models.PositiveIntegerField(default=0)
    rules_failed = models.PositiveIntegerField(default=0)
    rules_errored = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["datastore", "-created_at"], name="quality_run_store_created")]

    def __str__(self) -> str:
        return f"check #{self.pk} of {self.entity or self.datastore} ({self.get_status_display()})"

    @property
    def has_error_failures(self) -> bool:
        return self.rules_failed > 0


class RuleResult(models.Model):
    """What one rule found in one check run: counts, a few failing rows (masked) and the SQL that ran."""

    check_run = models.ForeignKey(CheckRun, on_delete=models.CASCADE, related_name="results")
    rule = models.ForeignKey(Rule, null=True, blank=True, on_delete=models.SET_NULL, related_name="results")
    entity = models.ForeignKey("catalog.Entity", null=True, on_delete=models.SET_NULL, related_name="+")
    rule_name = models.CharField(max_length=150)
    kind = models.CharField(max_length=20, choices=RuleKind.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    dimension = models.CharField(max_length=20, choices=Dimension.choices)
    status = models.CharField(max_length=10, choices=ResultStatus.choices)
    total_rows = models.BigIntegerField(null=True, blank=True)
    failing_rows = models.BigIntegerField(null=True, blank=True)
    failing_percent = models.FloatField(null=True, blank=True)
    measured = models.CharField(
        max_length=300, blank=True, help_text=_("e.g. newest value's age, row count.")
    )
    samples = models.JSONField(
        default=list, blank=True, help_text=_("Failing rows as everyone sees them: personal data masked.")
    )
    samples_pii = models.JSONField(
        default=list,
        blank=True,
        help_text=_("The same rows as users allowed to see personal data see them (when samples mask any)."),
    )
    samples_masked = models.BooleanField(
        default=True, help_text=_("Whether samples hide values (personal or of unknown origin).")
    )
    duration_ms = models.FloatField(default=0)
    sql = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["check_run", "rule_name"]
        indexes = [
            models.Index(fields=["rule", "-created_at"], name="quality_result_rule_created"),
            models.Index(fields=["entity", "-created_at"], name="quality_result_entity_created"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_name}: {self.get_status_display()}"


class EntityScore(models.Model):
    """An entity's quality score after a check run, overall (dimension '') and per dimension, 0–100."""

    check_run = models.ForeignKey(CheckRun, on_delete=models.CASCADE, related_name="scores")
    entity = models.ForeignKey("catalog.Entity", on_delete=models.CASCADE, related_name="quality_scores")
    dimension = models.CharField(max_length=20, choices=Dimension.choices, blank=True)
    score = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["entity", "-created_at"]
        indexes = [models.Index(fields=["entity", "dimension", "-created_at"], name="quality_score_entity")]


class Incident(models.Model):
    """A quality problem from when it starts failing until it passes again; announced once."""

    datastore = models.ForeignKey(
        "catalog.DataStore", on_delete=models.CASCADE, related_name="quality_incidents"
    )
    entity = models.ForeignKey("catalog.Entity", null=True, on_delete=models.SET_NULL, related_name="+")
    rule = models.ForeignKey(Rule, null=True, blank=True, on_delete=models.SET_NULL, related_name="incidents")
    kind = models.CharField(
        max_length=20, choices=[("rule", "Error rule failing"), ("score_drop", "Score drop")]
    )
    summary = models.TextField()
    baseline_score = models.FloatField(
        null=True, blank=True, help_text=_("Score drops: the score before it.")
    )
    opened_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    first_result = models.ForeignKey(
        RuleResult, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    notified_at = models.DateTimeField(null=True, blank=True)
    notify_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule"],
                condition=Q(closed_at__isnull=True) & Q(kind="rule"),
                name="quality_one_open_incident",
            )
        ]

    def __str__(self) -> str:
        return self.summary[:80]


__all__ += ["ResultStatus", "CheckTrigger"]


def _schedule_saved(sender, instance, **kwargs) -> None:
    """A quality schedule needs the scheduler's tick job: make sure it exists once this save commits."""
    if not instance.enabled or settings.CUSTODIAN_JOBS_SYNC:
        return
    from django.db import transaction

    def ensure():
        from core.scheduler import scheduler_tick_ensure

        try:
            scheduler_tick_ensure()
        except Exception:  # Redis down: the next save or `manage.py scheduler_tick` starts it
            import logging

            logging.getLogger(__name__).warning("Could not schedule the scheduler tick", exc_info=True)

    transaction.on_commit(ensure)


models.signals.post_save.connect(
    _schedule_saved, sender=QualitySchedule, dispatch_uid="quality_schedule_tick"
)

"""Compliance: regulations and retention policies."""

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from catalog.choices import PeriodUnit, RetentionAction
from catalog.models.base import VersionedModel
from catalog.validators import DESCRIPTION_MAX_LENGTH, text_limit

__all__ = ["Regulation", "RetentionPolicy", "AuditTrail"]

RETENTION_ANCHOR_FAMILIES = {"date", "timestamp"}
PERIOD_UNIT_SINGULAR = {PeriodUnit.DAYS: _("day"), PeriodUnit.MONTHS: _("month"), PeriodUnit.YEARS: _("year")}


class Regulation(VersionedModel):
    """A law or standard personal data is kept under (GDPR, HIPAA, PCI DSS, SOX, CCPA)."""

    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(
        blank=True, max_length=DESCRIPTION_MAX_LENGTH, validators=[text_limit(DESCRIPTION_MAX_LENGTH)]
    )

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class RetentionPolicy(VersionedModel):
    """How long an entity's rows are kept after an anchor date, and what happens to them then."""

    entity = models.ForeignKey("catalog.Entity", on_delete=models.CASCADE, related_name="retention_policies")
    name = models.CharField(max_length=100)
    anchor_column = models.ForeignKey(
        "catalog.Column",
        on_delete=models.RESTRICT,
        related_name="anchored_policies",
        help_text=_("The date or timestamp the period counts from, e.g. closed_at."),
    )
    keep_for = models.PositiveIntegerField(help_text=_("How many units to keep a row after its anchor date."))
    keep_unit = models.CharField(max_length=10, choices=PeriodUnit.choices, default=PeriodUnit.YEARS)
    action = models.CharField(max_length=20, choices=RetentionAction.choices, default=RetentionAction.DELETE)
    regulation = models.ForeignKey(
        "catalog.Regulation",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="retention_policies",
    )
    legal_basis = models.TextField(
        blank=True,
        max_length=DESCRIPTION_MAX_LENGTH,
        validators=[text_limit(DESCRIPTION_MAX_LENGTH)],
        help_text=_("Why the data is kept this long, e.g. Art. 6(1)(c)."),
    )
    legal_hold = models.BooleanField(default=False, help_text=_("While on hold, the policy is not enforced."))
    description = models.TextField(
        blank=True, max_length=DESCRIPTION_MAX_LENGTH, validators=[text_limit(DESCRIPTION_MAX_LENGTH)]
    )

    class Meta:
        ordering = ["entity_id", "name"]
        verbose_name_plural = _("retention policies")
        constraints = [
            models.UniqueConstraint(
                fields=["entity", "name"], name="catalog_retention_unique_name_per_entity"
            ),
            models.CheckConstraint(
                condition=models.Q(keep_for__gt=0),
                name="catalog_retention_keep_positive",
                violation_error_message=_("Keep for must be at least 1 day, month or year."),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def period_label(self) -> str:
        return f"{self.keep_for} {self.get_keep_unit_display()}"

    def clean(self):
        super().clean()
        # A period of nothing would delete rows as soon as they are written
        if self.keep_for is not None and self.keep_for < 1:
            unit = PERIOD_UNIT_SINGULAR.get(self.keep_unit, self.keep_unit)
            raise ValidationError({"keep_for": _("Keep for must be at least 1 %(unit)s.") % {"unit": unit}})
        if not (self.entity_id and self.anchor_column_id):
            return
        # The anchor is a date or timestamp column of the same entity
        if self.anchor_column.entity_id != self.entity_id:
            raise ValidationError(
                {"anchor_column": _("Choose a column of %(entity)s.") % {"entity": self.entity}}
            )
        if self.anchor_column.type_family not in RETENTION_ANCHOR_FAMILIES:
            raise ValidationError(
                {
                    "anchor_column": _("%(col)s is %(type)s; the anchor must be a date or timestamp.")
                    % {"col": self.anchor_column, "type": self.anchor_column.sql_type}
                }
            )
        # Anonymizing needs personal data to anonymize
        if self.action == RetentionAction.ANONYMIZE and not any(c.is_pii for c in self.entity.columns.all()):
            raise ValidationError(
                {
                    "action": _("%(entity)s has no PII columns to anonymize; choose delete or archive.")
                    % {"entity": self.entity}
                }
            )


class AuditTrail(models.Model):
    """Holds the audit-trail permissions; the trail itself is read from the history tables."""

    class Meta:
        managed = False
        verbose_name = "audit trail"
        verbose_name_plural = "audit trail"
        default_permissions = ()
        permissions = [
            ("view_audit_trail", "Can view the cross-model audit trail"),
            ("export_audit_trail", "Can export the audit trail as CSV"),
        ]

"""Schema releases (immutable, checksummed snapshots with migrations) and schema applies (run records)."""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from catalog.exceptions import CatalogError
from core.models import RunKind, RunRecord

__all__ = ["SchemaRelease", "SchemaApply"]


class SchemaRelease(models.Model):
    """Version N of a data store's schema: its snapshot, the migration from N-1 (up) and back (down), lint.

    Never changed after it is written: a release is evidence of what was decided, by whom, and when.
    """

    datastore = models.ForeignKey(
        "catalog.DataStore", on_delete=models.PROTECT, related_name="releases", verbose_name=_("data store")
    )
    version = models.PositiveIntegerField()
    message = models.CharField(max_length=200)
    dialect = models.CharField(max_length=20)
    snapshot = models.JSONField()
    checksum = models.CharField(max_length=64, help_text=_("SHA-256 of the canonical snapshot."))
    changes = models.JSONField(default=list, help_text=_("What changed since the previous release."))
    up_sql = models.TextField()
    down_sql = models.TextField()
    # The statements exactly as reviewed in up_sql/down_sql, executed one by one by an apply.
    up_statements = models.JSONField(default=list)
    down_statements = models.JSONField(default=list)
    lint_findings = models.JSONField(default=list)
    has_lint_errors = models.BooleanField(default=False)
    destructive_confirmed = models.BooleanField(
        default=False, help_text=_("The releaser confirmed the error-level findings (e.g. data loss).")
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["datastore_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["datastore", "version"], name="catalog_release_unique_version"),
        ]
        permissions = [("apply_schemarelease", "Can apply or roll back schema releases to data stores")]

    def __str__(self) -> str:
        return f"{self.datastore.name} v{self.version}"

    @property
    def slug(self) -> str:
        """The message as a Flyway-style file name part: V3__add_orders.sql."""
        words = "".join(ch if ch.isalnum() else "_" for ch in self.message.lower()).strip("_")
        return "_".join(part for part in words.split("_") if part)[:60].rstrip("_") or "release"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise CatalogError(f"Release {self} is immutable; publish a new release instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise CatalogError(f"Release {self} is part of the schema's history and cannot be deleted.")


ROLLED_BACK = "The target's transaction was rolled back by the database; check the target and apply again."


class SchemaApply(RunRecord):
    """One run of applying (or rolling back) a data store to a release; kept as it ended."""

    record_name = "Apply"
    run_kind = RunKind(
        job="catalog.jobs.schema_apply_job",
        lost_note=ROLLED_BACK,
        unclaimed_note="No worker took this apply within a day (is an rqworker for the default queue "
        f"running?). {ROLLED_BACK}",
        unclaimed_after=timedelta(hours=24),
        # Applies recorded before they had a heartbeat: the job timeout is an hour; running after two is lost.
        running_without_heartbeat_after=timedelta(hours=2),
    )

    datastore = models.ForeignKey(
        "catalog.DataStore", on_delete=models.PROTECT, related_name="applies", verbose_name=_("data store")
    )
    release = models.ForeignKey(
        SchemaRelease,
        on_delete=models.PROTECT,
        related_name="applies",
        help_text=_("The release the data store is brought to."),
    )
    from_version = models.PositiveIntegerField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Empty for an apply from the command line without --user."),
    )
    statements_run = models.PositiveIntegerField(default=0)
    log = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("schema apply")
        verbose_name_plural = _("schema applies")

    def __str__(self) -> str:
        return f"{self.datastore.name} → v{self.release.version} ({self.get_status_display()})"

"""How much room entities take: relation sizes sampled from their data stores by a scheduled job."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = ["StorageSample"]


class StorageSample(models.Model):
    """An entity's table as measured at one moment: bytes on disk (table, indexes, TOAST and every partition)
    and the planner's row estimate. A measurement, written by catalog.storage and never edited."""

    entity = models.ForeignKey("catalog.Entity", on_delete=models.CASCADE, related_name="storage_samples")
    bytes = models.BigIntegerField(help_text=_("pg_total_relation_size, summed over partitions."))
    rows_estimate = models.BigIntegerField(
        null=True, blank=True, help_text=_("pg_class.reltuples; empty until the table has been analyzed.")
    )
    sampled_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["entity", "-sampled_at"]
        get_latest_by = "sampled_at"
        default_permissions = ("view",)
        indexes = [models.Index(fields=["entity", "-sampled_at"], name="catalog_storage_entity_time")]

    def __str__(self) -> str:
        when = f"{self.sampled_at:%Y-%m-%d %H:%M}"
        return f"{self.entity_id and self.entity.name}: {self.bytes} bytes at {when}"

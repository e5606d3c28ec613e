"""Models of the kernel: the base of every record of work that ran."""

from django.db import models

from core.choices import RunStatus
from core.errors import RecordError

__all__ = ["RunRecord"]


class RunRecord(models.Model):
    """A record of work that ran (an apply, a pipeline run, a check run ...): written while it runs, then
    kept as it ended. Once finished it can be neither changed nor deleted; `status` uses RunStatus."""

    FINISHED = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)
    record_name = "Run"

    class Meta:
        abstract = True

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    def save(self, *args, **kwargs):
        if not self._state.adding:
            stored = type(self)._base_manager.filter(pk=self.pk).values_list("status", flat=True).first()
            if stored in self.FINISHED:
                raise RecordError(f"{self.record_name} #{self.pk} has finished; its record cannot change.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RecordError(
            f"{self.record_name} #{self.pk} is a record of what happened and cannot be deleted."
        )

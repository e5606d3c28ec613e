"""Behaviour shared by every catalog configuration model: timestamps, history and optimistic locking."""

from django.db import models, transaction
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from catalog.exceptions import ConcurrentEditError

__all__ = ["VersionedModel"]


class VersionedModel(models.Model):
    """A catalog object whose every change is audited and whose saves cannot silently overwrite each other.

    `version` counts saves. A save of a changed object succeeds only if the row still has the version the
    editor loaded (compare-and-set in one UPDATE), so two stewards editing the same object cannot both win.
    """

    version = models.PositiveIntegerField(
        default=1, editable=False, help_text=_("Incremented on every save; used to refuse stale edits.")
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(inherit=True, excluded_fields=["updated_at"])

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self._state.adding or kwargs.get("force_insert"):
            super().save(*args, **kwargs)
            return
        expected = self.version
        with transaction.atomic(using=kwargs.get("using")):
            claimed = (
                type(self)._base_manager.filter(pk=self.pk, version=expected).update(version=expected + 1)
            )
            if not claimed:
                raise ConcurrentEditError(self.concurrent_edit_message())
            self.version = expected + 1
            super().save(*args, **kwargs)

    def concurrent_edit_message(self) -> str:
        """Who changed this object since it was loaded, in words a steward can act on."""
        latest = self.history.select_related("history_user").order_by("-history_date", "-history_id").first()
        who = latest.history_user.get_username() if latest and latest.history_user else "another user"
        when = latest.history_date.strftime("%Y-%m-%d %H:%M:%S %Z") if latest else "meanwhile"
        return str(
            _(
                "%(model)s '%(name)s' was changed by %(who)s at %(when)s after you opened it. Your changes "
                "were not saved, so nothing was overwritten: reload the page, then apply your edits again."
            )
            % {"model": self._meta.verbose_name.capitalize(), "name": self, "who": who, "when": when}
        )

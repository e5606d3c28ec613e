"""Accounts on the audit trail: the history of users and groups (with their memberships and permissions)
and an append-only record of sign-ins, failed sign-ins, sign-outs and lock-outs."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import models
from django.utils import timezone
from simple_history import register
from simple_history.models import HistoricalRecords

from catalog.choices import SignInKind

__all__ = ["PasswordChangeRecord", "MembershipHistoricalRecords", "HISTORY_RECORDS", "SignInEvent"]

# {model: its MembershipHistoricalRecords}, to write a history row outside a save (account_history_sync).
HISTORY_RECORDS = {}


class PasswordChangeRecord(models.Model):
    """Added to each user history row: *that* the password changed, never the hash (which is not kept)."""

    password_changed = models.BooleanField(default=False)

    class Meta:
        abstract = True


class MembershipHistoricalRecords(HistoricalRecords):
    """History of a model with many-to-many fields that writes a row only when a membership changed, and
    on the right object when it changed from the other side (`group.user_set.add(user)` is the user's)."""

    def finalize(self, sender, **kwargs):
        super().finalize(sender, **kwargs)
        HISTORY_RECORDS[sender] = self

    def m2m_changed(self, instance, action, attr, pk_set, reverse, **kwargs):
        model = kwargs.get("model")
        if action == "pre_clear" and reverse:
            # The members a clear from the other side is about to remove, to record each of them after.
            field = model._meta.get_field(attr)
            instance._history_cleared_pks = set(
                model._default_manager.filter(**{field.name: instance}).values_list("pk", flat=True)
            )
            return
        if action in ("post_add", "post_remove") and not pk_set:
            return  # adding a group the user is already in, or removing one they are not in
        if not reverse:
            return super().m2m_changed(instance, action, attr, pk_set, reverse, **kwargs)
        if action == "post_clear":
            pk_set = getattr(instance, "_history_cleared_pks", set())
        for changed in model._default_manager.filter(pk__in=pk_set or ()):
            super().m2m_changed(changed, action, attr, pk_set, False, **kwargs)


# The hash and the last sign-in time are not history: the first is a secret, the second changes on every
# sign-in (the sign-in events below say when). Memberships and permissions are tracked with their names.
register(
    get_user_model(),
    app="catalog",
    m2m_fields=["groups", "user_permissions"],
    excluded_fields=["password", "last_login"],
    bases=[PasswordChangeRecord],
    records_class=MembershipHistoricalRecords,
)
register(Group, app="catalog", m2m_fields=["permissions"], records_class=MembershipHistoricalRecords)


class SignInEvent(models.Model):
    """One sign-in, failed sign-in, sign-out or lock-out at the sign-in page. Rows are never changed: the
    database refuses UPDATE and DELETE on this table as on the history tables."""

    # The trigger that keeps history tables append-only protects this table too (catalog/history.py).
    append_only = True

    kind = models.CharField(max_length=20, choices=SignInKind.choices)
    username = models.CharField(max_length=150, help_text="The user name as typed, or the user's.")
    # No database constraint and nothing done on delete: deleting a user must not touch these rows.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        default_permissions = ()
        indexes = [
            models.Index(fields=["username", "at"], name="catalog_signin_username_at"),
            models.Index(fields=["ip_address", "at"], name="catalog_signin_ip_at"),
            models.Index(fields=["at"], name="catalog_signin_at"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.username}"

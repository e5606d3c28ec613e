"""Accounts on the audit trail: the history of users and groups (with their memberships and permissions)
and an append-only record of sign-ins, failed sign-ins, sign-outs and lock-outs."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import models
from django.utils import timezone
from simple_history import register

from catalog.choices import SignInKind

__all__ = ["PasswordChangeRecord", "SignInEvent"]


class PasswordChangeRecord(models.Model):
    """Added to each user history row: *that* the password changed, never the hash (which is not kept)."""

    password_changed = models.BooleanField(default=False)

    class Meta:
        abstract = True


# The hash and the last sign-in time are not history: the first is a secret, the second changes on every
# sign-in (the sign-in events below say when). Memberships and permissions are tracked with their names.
register(
    get_user_model(),
    app="catalog",
    m2m_fields=["groups", "user_permissions"],
    excluded_fields=["password", "last_login"],
    bases=[PasswordChangeRecord],
)
register(Group, app="catalog", m2m_fields=["permissions"])


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

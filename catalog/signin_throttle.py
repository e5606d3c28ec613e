"""Brute-force protection for signing in: after `CUSTODIAN_SIGNIN_FAILURE_LIMIT` failures for one user name
(or `CUSTODIAN_SIGNIN_IP_FAILURE_LIMIT` from one address) within `CUSTODIAN_SIGNIN_COOLOFF_MINUTES`, every
further attempt is refused, the right password included, until the cool-off has passed.

The failures are counted from the append-only sign-in events (catalog/signin_events.py), so the lock is the
same for every web process and every refusal is on the audit trail. A successful sign-in clears the count
for its user name, not for its address; so does an administrator lifting the lock-out (`signin_lockout_lift`,
the Users page's action and `manage.py signin_unlock`), itself an event on the trail.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from catalog.choices import SignInKind
from catalog.models import SignInEvent
from catalog.signin_events import client_ip_address, signin_event_record

__all__ = [
    "SignInLock",
    "SignInLockedOut",
    "signin_lock",
    "signin_refuse_if_locked",
    "signin_lockout_lift",
    "on_user_login_failed",
    "ThrottledModelBackend",
    "ThrottledAdminAuthenticationForm",
]


@dataclass(frozen=True)
class SignInLock:
    """Why sign-ins are refused (for this account or from this address) and until when."""

    scope: str
    until: datetime

    @property
    def message(self) -> str:
        minutes = max(1, round((self.until - timezone.now()).total_seconds() / 60))
        where = "for this account" if self.scope == "account" else "from this address"
        return (
            f"Too many failed sign-ins {where}. Signing in is locked for about {minutes} more "
            f"minute{'s' if minutes != 1 else ''}; ask an administrator if you cannot wait."
        )


class SignInLockedOut(PermissionDenied):
    """Raised by the backend: the account or address is locked out; carries the lock."""

    def __init__(self, lock: SignInLock):
        super().__init__(lock.message)
        self.lock = lock


_COUNT_RESETS = [SignInKind.SIGNED_IN, SignInKind.LOCKOUT_LIFTED]


def _cooloff() -> timedelta:
    return timedelta(minutes=settings.CUSTODIAN_SIGNIN_COOLOFF_MINUTES)


def _failure_times(*, username: str | None, ip_address: str | None, now: datetime) -> dict[str, list]:
    """The newest failures that still count, per scope, newest first (at most one more than the limit)."""
    window = SignInEvent.objects.filter(kind=SignInKind.FAILED, at__gt=now - _cooloff(), at__lte=now)
    times = {}
    if username:
        # A sign-in or a lifted lock-out starts the user name's count afresh
        last_success = (
            SignInEvent.objects.filter(kind__in=_COUNT_RESETS, username=username, at__lte=now)
            .order_by("-at")
            .values_list("at", flat=True)
            .first()
        )
        failures = window.filter(username=username)
        if last_success:
            failures = failures.filter(at__gt=last_success)
        times["account"] = _newest(failures, _limit("account") + 1)
    if ip_address:
        times["address"] = _newest(window.filter(ip_address=ip_address), _limit("address") + 1)
    return times


def _newest(failures, count: int) -> list:
    return list(failures.order_by("-at").values_list("at", flat=True)[:count])


def _limit(scope: str) -> int:
    if scope == "account":
        return settings.CUSTODIAN_SIGNIN_FAILURE_LIMIT
    return settings.CUSTODIAN_SIGNIN_IP_FAILURE_LIMIT


def signin_lock(*, username: str | None, ip_address: str | None, now: datetime | None = None):
    """The lock in force for this user name or address, or None. A lock holds while the cool-off window
    holds `limit` failures: until the limit-th newest of them is older than the cool-off."""
    now = now or timezone.now()
    locks = [
        SignInLock(scope=scope, until=times[_limit(scope) - 1] + _cooloff())
        for scope, times in _failure_times(username=username, ip_address=ip_address, now=now).items()
        if len(times) >= _limit(scope)
    ]
    return max(locks, key=lambda lock: lock.until) if locks else None


def signin_refuse_if_locked(*, request, username: str | None) -> None:
    """Refuse (and record the refusal) when the user name or the request's address is locked out."""
    lock = signin_lock(username=username, ip_address=client_ip_address(request))
    if lock is None:
        return
    signin_event_record(
        kind=SignInKind.REFUSED, username=username or "", request=request, user=_user(username)
    )
    raise SignInLockedOut(lock)


def signin_lockout_lift(*, username: str, request=None) -> SignInEvent | None:
    """Let this user name sign in again now: record the lifted lock-out, which restarts its failure count.
    None when the user name is not locked out (nothing is recorded). A lock on an address stays."""
    if signin_lock(username=username, ip_address=None) is None:
        return None
    return signin_event_record(
        kind=SignInKind.LOCKOUT_LIFTED, username=username, request=request, user=_user(username)
    )


def _user(username: str | None):
    if not username:
        return None
    user_model = get_user_model()
    return user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).first()


def on_user_login_failed(sender, credentials, request=None, **kwargs) -> None:
    """user_login_failed: record the failure (the password is never read: Django has already blanked it),
    and the lock-out when this failure reaches a limit. A refusal because of a lock-out is not a new
    failure: `signin_refuse_if_locked` recorded it as a refusal."""
    username = credentials.get(get_user_model().USERNAME_FIELD) or credentials.get("username") or ""
    ip_address = client_ip_address(request)
    # One reading of the failures serves both questions: locked already, and does this one start a lock
    times = _failure_times(username=username, ip_address=ip_address, now=timezone.now())
    if any(len(found) >= _limit(scope) for scope, found in times.items()):
        return
    user = _user(username)
    signin_event_record(kind=SignInKind.FAILED, username=username, request=request, user=user)
    if any(len(found) == _limit(scope) - 1 for scope, found in times.items()):
        signin_event_record(kind=SignInKind.LOCKED_OUT, username=username, request=request, user=user)


class ThrottledModelBackend(ModelBackend):
    """Django's model backend behind the lock-out: a locked user name or address cannot sign in by any
    path (the admin's page, the test client, a future API), whatever the password."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        signin_refuse_if_locked(request=request, username=username)
        return super().authenticate(request, username=username, password=password, **kwargs)


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin's sign-in form, saying in words that sign-in is locked instead of 'wrong password'."""

    error_messages = {**AdminAuthenticationForm.error_messages, "locked_out": "%(message)s"}

    def clean(self):
        try:
            signin_refuse_if_locked(request=self.request, username=self.cleaned_data.get("username"))
        except SignInLockedOut as refused:
            raise forms.ValidationError(
                self.error_messages["locked_out"], code="locked_out", params={"message": refused.lock.message}
            ) from None
        return super().clean()

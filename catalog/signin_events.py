"""Sign-in events for the audit trail: who signed in, failed to, signed out or was locked out, from where.

Written from Django's `user_logged_in` and `user_logged_out` signals here and `user_login_failed` in
catalog/signin_throttle.py (infrastructure, like the history middleware), so every way of signing in is
recorded, not only the admin's page.
"""

from django.conf import settings

from catalog.choices import SignInKind
from catalog.models import SignInEvent

__all__ = [
    "client_ip_address",
    "signin_event_record",
    "on_user_logged_in",
    "on_user_logged_out",
]


def client_ip_address(request) -> str | None:
    """The address the request came from. Behind `CUSTODIAN_PROXY_COUNT` trusted proxies, the address the
    outermost of them saw (from X-Forwarded-For, counted from the right so a client cannot forge it)."""
    if request is None:
        return None
    proxies = settings.CUSTODIAN_PROXY_COUNT
    if proxies:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR") or None


def signin_event_record(*, kind: str, username: str, request=None, user=None) -> SignInEvent:
    """Append one sign-in event; the user name is kept as typed (cut to the column's length)."""
    return SignInEvent.objects.create(
        kind=kind,
        username=(username or "")[:150],
        user=user,
        ip_address=client_ip_address(request),
    )


def on_user_logged_in(sender, request, user, **kwargs) -> None:
    signin_event_record(kind=SignInKind.SIGNED_IN, username=user.get_username(), request=request, user=user)


def on_user_logged_out(sender, request, user, **kwargs) -> None:
    if user is None:
        return
    signin_event_record(kind=SignInKind.SIGNED_OUT, username=user.get_username(), request=request, user=user)

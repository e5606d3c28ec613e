"""What management commands share: finding the objects their arguments name, in the operator's words."""

import difflib

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

__all__ = ["object_named", "user_named", "user_may"]


def object_named(queryset, name: str, *, missing: str, field: str = "name", known_limit: int = 50):
    """The object of `queryset` whose `field` is `name`; a CommandError saying `missing`, the closest name
    and the known ones otherwise ("No data store named 'shpo'. Did you mean 'shop'? Known: shop, dq.")."""
    found = queryset.filter(**{field: name}).first()
    if found is None:
        known = list(queryset.order_by(field).values_list(field, flat=True)[:known_limit])
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise CommandError(f"{missing}.{hint} Known: {', '.join(known) or 'none yet'}.")
    return found


def user_named(username: str | None):
    """The user the records name as requester (None: the operator running the command)."""
    if not username:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"No user named '{username}'.")
    return user


def user_may(user, permission: str, doing: str) -> None:
    """A named user must hold the permission the admin would ask of them."""
    if user is not None and not user.has_perm(permission):
        raise CommandError(f"User '{user.get_username()}' may not {doing} (needs {permission}).")

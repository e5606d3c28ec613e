"""Who may own a catalog object (a data store, domain or entity): the staff, known by name only."""

import re

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

__all__ = ["owner_candidates", "owner_label"]


def owner_candidates(*, term: str = "") -> QuerySet:
    """Active staff users whose username, first or last name contains each word of `term` (punctuation
    aside, so a label such as "ada (Ada Lovelace)" finds its user), by username.

    Stewards pick owners without being allowed to see the user admin, so callers show only what
    owner_label gives (username and full name), never e-mail addresses, groups or permissions."""
    users = get_user_model().objects.filter(is_staff=True, is_active=True)
    for word in re.findall(r"\w+", term):
        users = users.filter(
            Q(username__icontains=word) | Q(first_name__icontains=word) | Q(last_name__icontains=word)
        )
    return users.order_by("username")


def owner_label(user) -> str:
    """'ada (Ada Lovelace)', or the username alone when the user has no name."""
    full_name = user.get_full_name().strip()
    return f"{user.get_username()} ({full_name})" if full_name else user.get_username()

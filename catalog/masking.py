"""Masking of personal data, one definition for every place Custodian writes or shows values: pipeline
loads, quarantined rows, quality samples and subject-request results."""

import hashlib
import hmac

from django.conf import settings

__all__ = ["CATEGORY_MASKING", "mask_value", "column_masking", "may_see_pii"]

# Personal data that must never land in clear, even when the steward chose no strategy: credentials are
# hashed, payment data partially masked, health data redacted. Identifiers follow their column's strategy.
CATEGORY_MASKING = {"credential": "hash", "financial": "partial", "health": "redact"}


def _secret(purpose: str) -> bytes:
    pepper = getattr(settings, "CUSTODIAN_PEPPER", "") or settings.SECRET_KEY
    return hashlib.sha256(f"{purpose}:{pepper}".encode()).digest()


def mask_value(value, strategy: str, keep: int = 4):
    """One value masked per a catalog masking strategy: hash, tokenize, partial, nullify or redact."""
    if value is None:
        return None
    text = str(value)
    if strategy == "hash":
        return hmac.new(_secret("hash"), text.encode(), hashlib.sha256).hexdigest()
    if strategy == "tokenize":
        return "tok_" + hmac.new(_secret("token"), text.encode(), hashlib.sha256).hexdigest()[:24]
    if strategy == "partial":
        shown = text[-keep:] if keep else ""
        return "*" * (len(text) - len(shown)) + shown
    if strategy == "nullify":
        return None
    return "[redacted]"


def column_masking(column) -> str:
    """The strategy applied to a catalog column's values by default ('none' for clear values)."""
    if column.masking_strategy and column.masking_strategy != "none":
        return column.masking_strategy
    return CATEGORY_MASKING.get(column.pii_category, "none")


def may_see_pii(user) -> bool:
    """Whether the user sees stored personal data unmasked."""
    return bool(user and user.has_perm("catalog.view_pii"))

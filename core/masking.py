"""Masking of personal data, one definition for every place Custodian writes or shows values: pipeline
loads, quarantined rows, quality samples and subject-request results."""

import hashlib
import hmac

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = [
    "CATEGORY_MASKING",
    "mask_value",
    "column_masking",
    "load_masking",
    "masking_conflict",
    "may_see_pii",
    "value_shape",
]

# Personal data that must never land in clear, even when the steward chose no strategy: credentials are
# hashed, payment data partially masked, health data redacted. Identifiers follow their column's strategy.
CATEGORY_MASKING = {"credential": "hash", "financial": "partial", "health": "redact"}


def _secret(purpose: str) -> bytes:
    # Never SECRET_KEY: settings generate a pepper of its own in development and require one in production.
    pepper = getattr(settings, "CUSTODIAN_PEPPER", "")
    if not pepper:
        raise ImproperlyConfigured("CUSTODIAN_PEPPER is empty: masking by hash or token needs a pepper.")
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
        # Never show more than half: "Ada" must not come back whole because it is short.
        shown = text[-min(keep, len(text) // 2) :] if keep and len(text) > 1 else ""
        return "*" * (len(text) - len(shown)) + shown
    if strategy == "nullify":
        return None
    return "[redacted]"


def column_masking(column) -> str:
    """The strategy applied to a catalog column's values by default ('none' for clear values)."""
    if column.masking_strategy and column.masking_strategy != "none":
        return column.masking_strategy
    return CATEGORY_MASKING.get(column.pii_category, "none")


def load_masking(column) -> str:
    """The strategy a pipeline applies when it loads the column: only categories that must never be stored
    in clear (credentials, payment and health data) are masked on the way in, with the column's strategy
    or the category's default. Identifiers are stored as they are (an e-mail column holds e-mails); their
    strategy governs how Custodian shows them."""
    if column.pii_category not in CATEGORY_MASKING:
        return "none"
    return column_masking(column)


MASK_OUTPUT_LENGTH = {"hash": 64, "tokenize": 28, "redact": len("[redacted]")}
TEXT_TYPES = {"varchar", "char", "text"}


def masking_conflict(column, strategy: str) -> str | None:
    """Why values masked with `strategy` cannot be stored in the column (its type, length, pattern,
    allowed values or NOT NULL would refuse them), or None."""
    if strategy == "none":
        return None
    if strategy == "nullify":
        return None if column.nullable else f"nullify writes NULL but {column.name} is NOT NULL"
    if column.data_type not in TEXT_TYPES:
        return f"{strategy} writes text but {column.name} is {column.data_type}; use nullify or a text column"
    needed = MASK_OUTPUT_LENGTH.get(strategy)
    if needed and column.length and column.length < needed:
        return f"{strategy} writes {needed} characters but {column.name} holds at most {column.length}"
    if column.pattern:
        return f"{strategy}ed values cannot be expected to match {column.name}'s pattern {column.pattern!r}"
    if column.allowed_values:
        return f"{strategy}ed values are not among {column.name}'s allowed values"
    return None


def may_see_pii(user) -> bool:
    """Whether the user sees stored personal data unmasked."""
    return bool(user and user.has_perm("catalog.view_pii"))


SHAPE_LENGTH = 40


def value_shape(value, limit: int = SHAPE_LENGTH) -> str | None:
    """A value's shape without the value: letters as a/A, digits as 9, punctuation and spaces kept, cut after
    `limit` characters, with the length: "ada@example.com" -> "aaa@aaaaaaa.aaa (15)". Shows why a value
    fails a pattern to someone who may not see it."""
    if value is None:
        return None
    text = str(value)

    def shape(char: str) -> str:
        if char.isalpha():
            return "A" if char.isupper() else "a"
        if char.isdigit():
            return "9"
        return char if char.isprintable() else "?"

    cut = "…" if len(text) > limit else ""
    return "".join(shape(char) for char in text[:limit]) + cut + f" ({len(text)})"

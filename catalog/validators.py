"""Validation of names and values that end up in generated SQL."""

import re

from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.utils.translation import gettext_lazy as _

__all__ = [
    "DESCRIPTION_MAX_LENGTH",
    "CONDITION_MAX_LENGTH",
    "text_limit",
    "IDENTIFIER_MAX_BYTES",
    "POSTGRESQL_RESERVED_WORDS",
    "validate_identifier",
    "validate_env_var_name",
    "validate_regex",
]

IDENTIFIER_MAX_BYTES = 63
IDENTIFIER_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
ENV_VAR_PATTERN = re.compile(r"^[A-Z_][A-Z0-9_]*\Z")

# PostgreSQL 15 key words marked "reserved" (also those reserved but allowed as function or type names),
# Appendix C of its manual. A name from this list would need quoting in every hand-written query.
POSTGRESQL_RESERVED_WORDS = frozenset(
    """
    all analyse analyze and any array as asc asymmetric authorization binary both case cast check collate
    collation column concurrently constraint create cross current_catalog current_date current_role
    current_schema current_time current_timestamp current_user default deferrable desc distinct do else end
    except false fetch for foreign freeze from full grant group having ilike in initially inner intersect
    into is isnull join lateral leading left like limit localtime localtimestamp natural not notnull null
    offset on only or order outer overlaps placing primary references returning right select session_user
    similar some symmetric system_user table tablesample then to trailing true union unique user using
    variadic verbose when where window with
    """.split()
)


def validate_identifier(value: str) -> None:
    """A name Custodian may use for a table, column, index or schema in every supported dialect."""
    if not isinstance(value, str) or not value:
        raise ValidationError(_("A name is required."), code="required")
    if len(value.encode("utf-8")) > IDENTIFIER_MAX_BYTES:
        raise ValidationError(
            _("'%(name)s…' is %(size)d bytes long; SQL names may have at most %(max)d bytes."),
            params={"name": value[:20], "size": len(value.encode("utf-8")), "max": IDENTIFIER_MAX_BYTES},
            code="too_long",
        )
    if not IDENTIFIER_PATTERN.match(value):
        raise ValidationError(
            _(
                "'%(name)s' is not a valid SQL name: use letters, digits and underscores, "
                "starting with a letter or underscore."
            ),
            params={"name": value},
            code="invalid_identifier",
        )
    if value.lower() in POSTGRESQL_RESERVED_WORDS:
        raise ValidationError(
            _("'%(name)s' is a reserved word in SQL; choose another name (for example '%(name)s_value')."),
            params={"name": value},
            code="reserved_word",
        )


def validate_env_var_name(value: str) -> None:
    """An environment variable name such as CUSTODIAN_WAREHOUSE_URL."""
    if not ENV_VAR_PATTERN.match(value or ""):
        raise ValidationError(
            _("'%(name)s' is not an environment variable name: use A-Z, 0-9 and underscores."),
            params={"name": value},
            code="invalid_env_var",
        )


def validate_regex(value: str) -> None:
    """A regular expression PostgreSQL accepts: PostgreSQL runs it, so it is asked (catalog.patterns)."""
    from catalog.patterns import pattern_problem

    reason = pattern_problem(value)
    if reason:
        raise ValidationError(
            _("'%(pattern)s' is not a valid regular expression for PostgreSQL: %(reason)s."),
            params={"pattern": value, "reason": reason},
            code="invalid_regex",
        )


# Free text is for people to read: a description longer than this is a document, and would make every page
# that shows it (and the audit trail) slow for everyone.
DESCRIPTION_MAX_LENGTH = 10_000
CONDITION_MAX_LENGTH = 2_000


def text_limit(limit: int) -> MaxLengthValidator:
    """A length limit for a free-text field that says the limit, checked by the model (so the admin, imports
    and the API all get it; a TextField's max_length alone is only enforced by forms)."""
    return MaxLengthValidator(
        limit, message=_("At most %(limit_value)s characters, please; this text has %(show_value)s.")
    )

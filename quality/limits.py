"""How long a check's statements may run and how often a schedule may fire, from the settings.

A steward chooses a custom SQL rule's timeout and a schedule's cron; these bounds are the platform's, so a
steward cannot raise them (issue 15, finding 15: a backtracking regex held the data store's CPU for 20 min).
"""

from django.conf import settings

__all__ = ["max_timeout_seconds", "scan_timeout_seconds", "rule_timeout_seconds", "min_schedule_minutes"]

DEFAULT_MAX_TIMEOUT_SECONDS = 300.0
DEFAULT_MIN_SCHEDULE_MINUTES = 15
DEFAULT_CUSTOM_SQL_TIMEOUT_SECONDS = 30.0


def max_timeout_seconds() -> float:
    """The longest any statement of a check may run (CUSTODIAN_QUALITY_MAX_TIMEOUT_SECONDS)."""
    return float(getattr(settings, "CUSTODIAN_QUALITY_MAX_TIMEOUT_SECONDS", DEFAULT_MAX_TIMEOUT_SECONDS))


def scan_timeout_seconds() -> float:
    """The timeout of the shared scan and the set-based rules: the setting, never above the maximum."""
    wanted = float(getattr(settings, "CUSTODIAN_QUALITY_TIMEOUT_SECONDS", DEFAULT_MAX_TIMEOUT_SECONDS))
    return min(wanted, max_timeout_seconds())


def rule_timeout_seconds(rule) -> float:
    """A custom SQL rule's own timeout (default 30 s), never above the maximum, whatever is stored."""
    try:
        wanted = float((rule.params or {}).get("timeout_seconds") or DEFAULT_CUSTOM_SQL_TIMEOUT_SECONDS)
    except (TypeError, ValueError):
        wanted = DEFAULT_CUSTOM_SQL_TIMEOUT_SECONDS
    return min(max(wanted, 0.001), max_timeout_seconds())


def min_schedule_minutes() -> int:
    """The least time between two runs of a schedule (CUSTODIAN_QUALITY_MIN_SCHEDULE_MINUTES)."""
    return int(getattr(settings, "CUSTODIAN_QUALITY_MIN_SCHEDULE_MINUTES", DEFAULT_MIN_SCHEDULE_MINUTES))

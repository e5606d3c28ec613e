"""Users on the audit trail without their secrets: a history row says *that* the password changed (never
the hash, which is not tracked), and signing in does not write a user history row for `last_login`. After
each migrate, users and groups whose state their history does not hold get a row saying so."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Max
from django.utils import timezone

__all__ = [
    "password_change_note",
    "password_change_mark",
    "last_login_update_quietly",
    "account_history_sync",
]

BASELINE_REASON = "accounts audited from here"
OUTSIDE_REASON = "changed outside Custodian (a migration or the database)"


def password_change_note(sender, instance, **kwargs) -> None:
    """pre_save of a user: note whether the stored hash is about to change (new users: whether one is set)."""
    if instance._state.adding or instance.pk is None:
        instance._custodian_password_changed = bool(instance.password)
        return
    stored = type(instance)._default_manager.filter(pk=instance.pk).values_list("password", flat=True).first()
    instance._custodian_password_changed = stored != instance.password


def password_change_mark(sender, instance, history_instance, **kwargs) -> None:
    """pre_create_historical_record of a user: carry the note onto the history row, then forget it, so a
    later save of groups (which writes history too) does not repeat it."""
    history_instance.password_changed = getattr(instance, "_custodian_password_changed", False)
    instance._custodian_password_changed = False


def last_login_update_quietly(sender, user, **kwargs) -> None:
    """Replaces Django's `update_last_login`: the same column set by an UPDATE rather than `save()`, so a
    sign-in is one sign-in event rather than a history row of the user with nothing in it."""
    user.last_login = timezone.now()
    get_user_model()._default_manager.filter(pk=user.pk).update(last_login=user.last_login)


def account_history_sync(sender, using: str = "default", **kwargs) -> None:
    """post_migrate: a first history row for each user and group that has none (accounts created before
    they were audited), and a row for each whose fields or memberships changed without one (permissions
    granted by data migrations), so the next change on the trail is compared with the true state."""
    from catalog.models.accounts import HISTORY_RECORDS

    if sender.name != "catalog":
        return
    for model in (get_user_model(), Group):
        records = HISTORY_RECORDS[model]
        # Only the newest row of each account (the highest history_id), not its whole history
        history = model.history.using(using)
        newest = history.values("id").annotate(newest=Max("history_id")).values("newest")
        latest_by_id = {record.id: record for record in history.filter(history_id__in=newest)}
        for obj in model._default_manager.using(using).order_by("pk"):
            latest = latest_by_id.get(obj.pk)
            if latest is not None and not _differs(latest, obj):
                continue
            obj._change_reason = BASELINE_REASON if latest is None else OUTSIDE_REASON
            # Whole seconds: a serialized copy of the database (tests' serialized rollback) keeps only
            # milliseconds, and writing the row back must change nothing in an append-only table.
            obj._history_date = timezone.now().replace(microsecond=0)
            records.create_historical_record(obj, "+" if latest is None else "~", using=using)


def _differs(record, obj) -> bool:
    """Whether the object's tracked fields or memberships differ from its latest history row."""
    for field in obj._meta.concrete_fields:
        if hasattr(record, field.attname) and getattr(record, field.attname) != getattr(obj, field.attname):
            return True
    for m2m_field in record._history_m2m_fields:
        other = m2m_field.m2m_reverse_field_name()
        recorded = set(getattr(record, m2m_field.name).values_list(f"{other}_id", flat=True))
        if recorded != set(getattr(obj, m2m_field.name).values_list("pk", flat=True)):
            return True
    return False

"""Users on the audit trail without their secrets: a history row says *that* the password changed (never
the hash, which is not tracked), and signing in does not write a user history row for `last_login`."""

from django.contrib.auth import get_user_model
from django.utils import timezone

__all__ = ["password_change_note", "password_change_mark", "last_login_update_quietly"]


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

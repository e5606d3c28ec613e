from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CatalogConfig(AppConfig):
    """The catalog: what the data is. Every other app reads it; it imports none of them."""

    name = "catalog"
    verbose_name = "Catalog"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.contrib.auth import get_user_model
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
        from django.db.models.signals import pre_save
        from simple_history.signals import pre_create_historical_record

        from catalog import account_history, signin_events, signin_throttle
        from catalog.history import history_protect

        # Infrastructure, not domain logic: keep every history table append-only after each migrate.
        post_migrate.connect(history_protect, dispatch_uid="catalog.history_protect")
        post_migrate.connect(
            account_history.account_history_sync, dispatch_uid="catalog.account_history_sync"
        )
        # Accounts on the audit trail: sign-in events, and password changes noted without the hash.
        user_model = get_user_model()
        user_logged_in.disconnect(dispatch_uid="update_last_login")
        user_logged_in.connect(account_history.last_login_update_quietly, dispatch_uid="update_last_login")
        user_logged_in.connect(signin_events.on_user_logged_in, dispatch_uid="catalog.signed_in")
        user_logged_out.connect(signin_events.on_user_logged_out, dispatch_uid="catalog.signed_out")
        user_login_failed.connect(signin_throttle.on_user_login_failed, dispatch_uid="catalog.sign_in_failed")
        pre_save.connect(account_history.password_change_note, sender=user_model, dispatch_uid="catalog.pw")
        pre_create_historical_record.connect(
            account_history.password_change_mark,
            sender=user_model.history.model,
            dispatch_uid="catalog.pw_history",
        )

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CatalogConfig(AppConfig):
    """The catalog: what the data is. Every other app reads it; it imports none of them."""

    name = "catalog"
    verbose_name = "Catalog"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from catalog.history import history_protect

        # Infrastructure, not domain logic: keep every history table append-only after each migrate.
        post_migrate.connect(history_protect, dispatch_uid="catalog.history_protect")

from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "quality"
    verbose_name = "Quality"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from catalog.signals import demo_loaded
        from quality.demo import demo_rules_load

        demo_loaded.connect(demo_rules_load, dispatch_uid="quality.demo_rules_load")

from django.apps import AppConfig


class PipelinesConfig(AppConfig):
    name = "pipelines"
    verbose_name = "Pipelines"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The catalog's entity and column pages show where data comes from without importing this app.
        from catalog.lineage import register_lineage_provider
        from pipelines.admin import pipeline_lineage

        register_lineage_provider(pipeline_lineage)

        # Demo: load_demo's signal adds the sample files and pipelines (the catalog does not import us).
        from catalog.signals import demo_loaded
        from pipelines.demo import demo_pipelines_load

        demo_loaded.connect(demo_pipelines_load, dispatch_uid="pipelines.demo_pipelines_load")

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from catalog.choices import DatabaseEngine
from catalog.models import DataStore
from catalog.services import catalog_object_save


class Command(BaseCommand):
    help = "Register a data store whose connection URL is read from an environment variable at use time."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--engine", required=True, choices=DatabaseEngine.values)
        parser.add_argument(
            "--url-env", required=True, help="Environment variable holding the connection URL."
        )
        parser.add_argument("--schema", default="", help="Database schema of its tables (not for SQLite).")
        parser.add_argument("--user", help="Username recorded in the history.")

    def handle(self, *args, **options):
        user = get_user_model().objects.filter(username=options["user"]).first() if options["user"] else None
        if options["user"] and user is None:
            raise CommandError(f"No user named '{options['user']}'.")
        store = DataStore.objects.filter(name=options["name"]).first() or DataStore(name=options["name"])
        store.engine, store.url_env, store.schema_name = (
            options["engine"],
            options["url_env"],
            options["schema"],
        )
        store.connection_alias = ""
        try:
            catalog_object_save(obj=store, user=user)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Data store '{store.name}' ({store.get_engine_display()}) reads its URL "
                f"from ${store.url_env}."
            )
        )

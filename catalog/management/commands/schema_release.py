from django.core.management.base import BaseCommand, CommandError

from catalog.management.commands._schema import datastore_named, user_named
from catalog.schema.releases import release_publish
from core.errors import SchemaError


class Command(BaseCommand):
    help = "Release a data store's catalog as the next version, with up/down migrations and lint findings."

    def add_arguments(self, parser):
        parser.add_argument("--datastore", required=True)
        parser.add_argument("--message", required=True)
        parser.add_argument("--user", required=True, help="Username the release is recorded under.")
        parser.add_argument(
            "--allow-destructive",
            action="store_true",
            help="Confirm error-level findings such as dropped columns (recorded on the release).",
        )

    def handle(self, *args, **options):
        store = datastore_named(options["datastore"])
        user = user_named(options["user"])
        try:
            release = release_publish(
                datastore=store,
                user=user,
                message=options["message"],
                allow_destructive=options["allow_destructive"],
            )
        except SchemaError as exc:
            raise CommandError(exc.message) from exc
        for finding in release.lint_findings:
            self.stdout.write(f"{finding['severity'].upper():8} {finding['message']}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Released {store.name} v{release.version} "
                f"({len(release.changes)} changes, checksum {release.checksum[:12]})."
            )
        )

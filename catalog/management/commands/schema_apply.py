from django.core.management.base import BaseCommand, CommandError

from catalog.management.commands._schema import datastore_named, user_named
from catalog.schema.apply import schema_apply_execute, schema_apply_recorded
from core.choices import RunStatus
from core.errors import SchemaError


class Command(BaseCommand):
    help = (
        "Bring a data store's database to a release (default: the newest), forward or back, in one "
        "transaction; refuses on drift, checksum mismatch or a concurrent apply."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        # --version is the target release here, not Django's version flag.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("--datastore", required=True)
        parser.add_argument("--version", type=int, help="Target version; 0 removes everything released.")
        parser.add_argument("--user", help="Username recorded in the target's history table.")
        parser.add_argument(
            "--baseline",
            action="store_true",
            help="Record the database as already at --version (it must match it exactly).",
        )

    def handle(self, *args, **options):
        store = datastore_named(options["datastore"])
        version = options["version"]
        if version is None:
            newest = store.releases.order_by("-version").first()
            if newest is None:
                raise CommandError(f"'{store.name}' has no release; run schema_release first.")
            version = newest.version
        user = user_named(options["user"])
        if options["baseline"] or not version:
            try:  # a baseline records a version without applying; version 0 has no release to record
                outcome = schema_apply_execute(
                    datastore=store, target_version=version, user=user, baseline=options["baseline"]
                )
            except SchemaError as exc:
                raise CommandError(exc.message) from exc
            if options["baseline"]:
                self.stdout.write(self.style.SUCCESS(f"'{store.name}' recorded as at version {version}."))
            else:
                self.stdout.write(
                    self.style.SUCCESS(
                        f"'{store.name}' is empty (was at version {outcome.from_version or 0}); "
                        f"{len(outcome.statements)} statements ran."
                    )
                )
            return
        release = store.releases.filter(version=version).first()
        if release is None:
            raise CommandError(f"'{store.name}' has no release {version}.")
        run = schema_apply_recorded(datastore=store, release=release, user=user)
        if run.status != RunStatus.SUCCEEDED:
            raise CommandError(f"{run.error} (apply #{run.pk})")
        self.stdout.write(
            self.style.SUCCESS(
                f"'{store.name}' is at version {version} (was {run.from_version or 0}); "
                f"{run.statements_run} statements ran (apply #{run.pk})."
            )
        )

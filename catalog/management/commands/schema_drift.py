from django.core.management.base import BaseCommand, CommandError

from catalog.management.commands._schema import datastore_named
from catalog.schema.drift import schema_drift
from core.errors import CustodianError


class Command(BaseCommand):
    help = (
        "Compare a data store's live database with the release its history table says is applied; "
        "exit status 1 when they differ."
    )

    def add_arguments(self, parser):
        parser.add_argument("--datastore", required=True, help="Name of the data store to check.")

    def handle(self, *args, **options):
        datastore = datastore_named(options["datastore"])
        try:
            report = schema_drift(datastore=datastore)
        except CustodianError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write("\n".join(report.lines()))
        if report.has_drift:
            raise SystemExit(1)

from django.core.management.base import BaseCommand, CommandError

from catalog.management.commands._schema import datastore_named, user_named
from catalog.schema.introspect import schema_introspect
from core.errors import CustodianError


class Command(BaseCommand):
    help = (
        "Read a data store's live database into the catalog (entities, columns, keys, checks, indexes); "
        "what the catalog cannot express is listed, not guessed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--datastore", required=True, help="Name of the data store to read.")
        parser.add_argument("--user", help="Username the history records the changes under.")
        parser.add_argument(
            "--table", action="append", dest="tables", metavar="TABLE", help="Only this table (repeatable)."
        )

    def handle(self, *args, **options):
        datastore = datastore_named(options["datastore"])
        user = user_named(options["user"])
        try:
            report = schema_introspect(datastore=datastore, user=user, tables=options["tables"])
        except CustodianError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write("\n".join(report.lines()))

from django.core.management.base import BaseCommand, CommandError

from catalog.management.commands._schema import datastore_named, user_named
from catalog.schema.introspect import IntrospectionIncomplete, schema_introspect
from core.errors import CustodianError


class Command(BaseCommand):
    help = (
        "Read a data store's live database into the catalog (entities, columns, keys, checks, indexes). "
        "What the catalog cannot express is listed, never guessed or dropped silently: the command then "
        "writes nothing and exits non-zero, unless --allow-partial is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("--datastore", required=True, help="Name of the data store to read.")
        parser.add_argument("--user", help="Username the history records the changes under.")
        parser.add_argument(
            "--table", action="append", dest="tables", metavar="TABLE", help="Only this table (repeatable)."
        )
        parser.add_argument(
            "--allow-partial",
            action="store_true",
            help="Import what the catalog can hold and list the rest, instead of importing nothing.",
        )

    def handle(self, *args, **options):
        datastore = datastore_named(options["datastore"])
        user = user_named(options["user"])
        try:
            report = schema_introspect(
                datastore=datastore,
                user=user,
                tables=options["tables"],
                allow_partial=options["allow_partial"],
            )
        except IntrospectionIncomplete as exc:
            # The list goes to stdout like a successful report; the refusal is the command's error.
            self.stdout.write("\n".join(exc.report.lines()))
            raise CommandError(exc.message) from exc
        except CustodianError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write("\n".join(report.lines()))

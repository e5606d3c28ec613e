import sys

from django.core.management.base import BaseCommand

from catalog.imports import FORMATS
from catalog.resources import RESOURCES


class Command(BaseCommand):
    help = "Export catalog objects (by natural keys) as CSV, XLSX or JSON to standard output or a file."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=sorted(RESOURCES))
        parser.add_argument("--format", choices=sorted(FORMATS), default="csv")
        parser.add_argument("--datastore", help="Only this data store's objects.")
        parser.add_argument("--output", help="File to write; default standard output.")

    def handle(self, *args, **options):
        resource = RESOURCES[options["kind"]]()
        queryset = resource.get_queryset()
        if options["datastore"]:
            field = (
                "name"
                if options["kind"] == "datastores"
                else (
                    "entity__datastore__name"
                    if options["kind"] in ("columns", "indexes", "retention_policies")
                    else "datastore__name"
                )
            )
            queryset = (
                queryset.filter(**{field: options["datastore"]}) if options["kind"] != "domains" else queryset
            )
        exported = FORMATS[options["format"]]().export_data(resource.export(queryset))
        if options["output"]:
            mode = "wb" if isinstance(exported, bytes) else "w"
            with open(options["output"], mode) as handle:
                handle.write(exported)
        elif isinstance(exported, bytes):
            sys.stdout.buffer.write(exported)
        else:
            self.stdout.write(exported, ending="")

from pathlib import Path

from django.core.management.base import BaseCommand

from catalog.management.commands._schema import datastore_named
from quality.as_code import quality_yaml_dump


class Command(BaseCommand):
    help = (
        "Write a data store's quality rules, implied-rule tuning, schedules and alerting as YAML (to stdout "
        "or -o FILE); quality_apply reads it back unchanged."
    )

    def add_arguments(self, parser):
        parser.add_argument("--datastore", required=True, help="The data store's name.")
        parser.add_argument("-o", "--output", help="Write to this file instead of stdout.")

    def handle(self, *args, **options):
        text = quality_yaml_dump(datastore_named(options["datastore"]))
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
            self.stderr.write(f"Wrote {options['output']}.")
        else:
            self.stdout.write(text, ending="")

from pathlib import Path

from django.core.management.base import BaseCommand

from pipelines.as_code import pipeline_yaml_dump
from pipelines.management.commands._pipelines import pipeline_named


class Command(BaseCommand):
    help = "Write a pipeline as YAML (to stdout or -o FILE); pipeline_apply reads it back unchanged."

    def add_arguments(self, parser):
        parser.add_argument("name", help="The pipeline's name.")
        parser.add_argument("-o", "--output", help="Write to this file instead of stdout.")

    def handle(self, *args, **options):
        text = pipeline_yaml_dump(pipeline_named(options["name"]))
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
            self.stderr.write(f"Wrote {options['output']}.")
        else:
            self.stdout.write(text, ending="")

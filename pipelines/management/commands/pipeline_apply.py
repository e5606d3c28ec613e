from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from pipelines.as_code import PipelineConfigError, pipeline_apply_config, pipeline_yaml_load
from pipelines.management.commands._pipelines import user_named


class Command(BaseCommand):
    help = (
        "Create or update a pipeline and its mappings from a YAML file, all or nothing; the history records "
        "the change under --user. Exits 1 listing every problem when the file is wrong."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The pipeline's YAML file (as pipeline_export writes it).")
        parser.add_argument("--user", help="Username the history records the change under.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check and show the changes; save nothing."
        )

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path} does not exist or is not a file.")
        user = user_named(options["user"])
        try:
            config = pipeline_yaml_load(path.read_text(encoding="utf-8"))
            pipeline, created, changes = pipeline_apply_config(config, user=user, dry_run=options["dry_run"])
        except UnicodeDecodeError as exc:
            raise CommandError(f"{path} is not UTF-8 text: {exc}.") from exc
        except PipelineConfigError as exc:
            raise CommandError(f"{path}: {exc.message}") from exc
        prefix = "Dry run, nothing saved: pipeline" if options["dry_run"] else "Pipeline"
        if created:
            verb = "would be created" if options["dry_run"] else "created"
        elif changes:
            verb = "would be updated" if options["dry_run"] else "updated"
        else:
            verb = "unchanged"
        target = f"{pipeline.target.datastore.name}.{pipeline.target.name}"
        self.stdout.write(self.style.SUCCESS(f"{prefix} '{pipeline.name}' ({target}) {verb}."))
        for change in changes:
            self.stdout.write(f"  {change}")

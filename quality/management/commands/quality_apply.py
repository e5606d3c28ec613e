from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from catalog.management.commands._schema import user_named
from core.errors import CustodianError
from quality.as_code import QualityConfigError, quality_apply_config, quality_yaml_load


class Command(BaseCommand):
    help = (
        "Make a data store's quality rules, implied-rule tuning, schedules and alerting match a YAML file, "
        "all or nothing; the history records the change under --user. Exits 1 listing every problem when "
        "the file is wrong."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The YAML file (as quality_export writes it).")
        parser.add_argument(
            "--user", help="Username the history records the change under (custom SQL rules need one)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Check and show the changes; save nothing."
        )

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path} does not exist or is not a file.")
        user = user_named(options["user"])
        dry_run = options["dry_run"]
        try:
            config = quality_yaml_load(path.read_text(encoding="utf-8"))
            applied = quality_apply_config(config, user=user, dry_run=dry_run)
        except UnicodeDecodeError as exc:
            raise CommandError(f"{path} is not UTF-8 text: {exc}.") from exc
        except QualityConfigError as exc:
            raise CommandError(f"{path}: {exc.message}") from exc
        except CustodianError as exc:  # e.g. someone saved one of the rules meanwhile
            raise CommandError(exc.message) from exc
        subject = f"quality configuration of data store '{config['datastore']}'"
        counts = f"{applied.created} created, {applied.updated} updated, {applied.deleted} deleted"
        if not applied.changes:
            line = f"{subject[0].upper()}{subject[1:]} unchanged."
        elif dry_run:
            line = f"Dry run, nothing saved: {subject} would change ({counts})."
        else:
            line = f"{subject[0].upper()}{subject[1:]} applied: {counts}."
        self.stdout.write(self.style.SUCCESS(line))
        for change in applied.changes:
            self.stdout.write(f"  {change}")

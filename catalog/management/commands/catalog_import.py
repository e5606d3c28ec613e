from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from catalog.imports import FORMATS, catalog_import, result_error_lines
from catalog.resources import RESOURCES
from core.errors import CustodianError


class Command(BaseCommand):
    help = "Import catalog objects from a CSV, XLSX or JSON file; all rows or, if any is invalid, none."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=sorted(RESOURCES))
        parser.add_argument("file")
        parser.add_argument("--user", required=True, help="Username the history records the change under.")
        parser.add_argument("--format", choices=sorted(FORMATS), help="Default: from the file's extension.")
        parser.add_argument("--dry-run", action="store_true", help="Check and report; change nothing.")

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path} does not exist or is not a file.")
        file_format = options["format"] or path.suffix.lstrip(".").lower()
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No user named '{options['user']}'.")
        try:
            result = catalog_import(
                resource_name=options["kind"],
                content=path.read_bytes(),
                file_format=file_format,
                user=user,
                dry_run=options["dry_run"],
            )
        except CustodianError as exc:
            raise CommandError(exc.message) from exc
        problems = result_error_lines(result)
        if problems:
            raise CommandError("Nothing was imported:\n" + "\n".join(problems))
        totals = ", ".join(f"{count} {kind.lower()}" for kind, count in result.totals.items() if count)
        prefix = "Dry run, nothing saved" if options["dry_run"] else "Imported"
        self.stdout.write(self.style.SUCCESS(f"{prefix}: {totals or 'no rows'}."))

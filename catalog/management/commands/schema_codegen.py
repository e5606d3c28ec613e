from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from catalog.codegen.base import CodegenError
from catalog.codegen.service import TARGETS, codegen_generate
from catalog.management.commands._schema import datastore_named


class Command(BaseCommand):
    help = "Generate ORM models or validators from a data store's catalog (deterministic output)."

    def add_arguments(self, parser):
        parser.add_argument("--datastore", required=True)
        parser.add_argument("--target", required=True, choices=sorted(TARGETS))
        parser.add_argument("--entity", action="append", help="Only this entity (repeat for more).")
        parser.add_argument("--domain", help="Only the entities of this domain.")
        parser.add_argument("--out", help="Write the files under this folder; default: print them.")
        parser.add_argument("--namespace", help="JPA: jakarta (default) or javax; EF Core: the C# namespace.")
        parser.add_argument("--package", help="JPA: the Java package.")
        parser.add_argument(
            "--generate-keys",
            action="store_true",
            help="Add a surrogate key to entities that have none (JPA, EF Core, ORMs).",
        )

    def handle(self, *args, **options):
        store = datastore_named(options["datastore"])
        settings = {key: options[key] for key in ("namespace", "package") if options[key]}
        settings["generate_keys"] = options["generate_keys"]
        try:
            files = codegen_generate(
                datastore=store,
                target=options["target"],
                entity_names=options["entity"],
                domain=options["domain"],
                options=settings,
            )
        except CodegenError as exc:
            raise CommandError(exc.message) from exc
        if not options["out"]:
            for generated in files:
                self.stdout.write(f"// ===== {generated.path}\n{generated.content}")
            return
        root = Path(options["out"]).resolve()
        for generated in files:
            target = (root / generated.path).resolve()
            if root not in target.parents:
                raise CommandError(f"Refusing to write {generated.path} outside {root}.")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(generated.content, encoding="utf-8")
        self.stdout.write(self.style.SUCCESS(f"Wrote {len(files)} files under {root}."))

from django.core.management.base import BaseCommand, CommandError

from catalog.management.commands._schema import datastore_named
from catalog.schema.ddl import ddl_render, schema_ddl
from catalog.schema.dialects import PROFILES, profile_for
from catalog.schema.snapshot import snapshot_build
from core.errors import SchemaError


class Command(BaseCommand):
    help = "Print the DDL that creates a data store's catalog (or one entity) in a SQL dialect."

    def add_arguments(self, parser):
        parser.add_argument("--datastore", required=True)
        parser.add_argument("--dialect", choices=sorted(PROFILES), help="Default: the data store's engine.")
        parser.add_argument("--entity", help="Only this entity.")

    def handle(self, *args, **options):
        store = datastore_named(options["datastore"])
        entity_ids = None
        if options["entity"]:
            entity = store.entities.filter(name=options["entity"]).first()
            if entity is None:
                raise CommandError(f"Data store '{store.name}' has no entity '{options['entity']}'.")
            entity_ids = {str(entity.pk)}
        profile = profile_for(options["dialect"] or store.engine)
        try:
            statements = schema_ddl(snapshot_build(store), profile, entity_ids)
        except SchemaError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            ddl_render(statements, f"Custodian DDL of '{store.name}' for {profile.label}"), ending=""
        )

from django.core.management.base import BaseCommand

from catalog.demo import demo_load


class Command(BaseCommand):
    help = (
        "Load the demo catalog (shop and warehouse data stores). "
        "Safe to run again: it changes only what differs."
    )

    def handle(self, *args, **options):
        counts = demo_load()
        summary = "{datastores} data stores, {entities} entities, {columns} columns".format(**counts)
        self.stdout.write(self.style.SUCCESS(f"Demo catalog ready: {summary}."))

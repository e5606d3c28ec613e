"""`manage.py load_demo`: the demo catalog, release 1 of each demo store applied, and the shop's demo rows."""

import psycopg
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from catalog.demo import DEMO_USERS, demo_load
from catalog.demo_rows import demo_reader_grant, demo_rows_seed
from catalog.models import DataStore
from catalog.schema.apply import schema_apply_recorded
from catalog.schema.dialects import profile_for
from catalog.schema.history_table import history_current_version, history_rows
from catalog.schema.releases import release_publish
from catalog.signals import demo_loaded
from core.choices import RunStatus
from core.connections import datastore_connect
from core.errors import SchemaError

DEMO_STORES = ["shop", "warehouse"]
# The stores the demo gives rows of their own (the warehouse is filled by the demo pipelines)
SEEDED_STORES = ["shop"]
RELEASE_MESSAGE = "Demo schema"


class Command(BaseCommand):
    help = (
        "Load the demo catalog (shop and warehouse data stores, and what other apps add, such as sample "
        "pipelines), publish release 1 of each demo store that has none and apply it to the store's database "
        "when it is reachable, and give the shop's empty tables a few hundred demo rows. Safe to run again: "
        "it only adds what is missing and never changes what is there."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-apply",
            action="store_true",
            help="Do not touch the demo stores' databases (no release is applied, no rows are added).",
        )
        parser.add_argument(
            "--no-rows",
            action="store_true",
            help="Apply the demo schema but add no demo rows to the shop's tables.",
        )

    def handle(self, *args, **options):
        with transaction.atomic():
            counts = demo_load()
            counts.update(self._other_apps())
        summary = "{datastores} data stores, {entities} entities, {columns} columns".format(**counts)
        extra = {
            name: count for name, count in counts.items() if name not in ("datastores", "entities", "columns")
        }
        summary += "".join(f", {count} {name}" for name, count in extra.items())
        self.stdout.write(self.style.SUCCESS(f"Demo catalog ready: {summary}."))
        user = get_user_model().objects.filter(username="demo_platform").first()
        for store in DataStore.objects.filter(name__in=DEMO_STORES).order_by("name"):
            applied = self._release(store, user, apply=not options["no_apply"])
            if applied:
                self._grant_reader(store)
            if applied and store.name in SEEDED_STORES and not options["no_rows"]:
                self._seed(store)

    def _other_apps(self) -> dict:
        """What other apps add to the demo (their demo_loaded receivers), as counts by kind."""
        users = {
            role: get_user_model().objects.get(username=username) for username, role in DEMO_USERS.items()
        }
        stores = {store.name: store for store in DataStore.objects.filter(name__in=DEMO_STORES)}
        counts = {}
        for _receiver, extra in demo_loaded.send(sender=self.__class__, stores=stores, users=users):
            counts.update(extra or {})
        return counts

    def _release(self, store: DataStore, user, *, apply: bool) -> bool:
        """Release 1 when the store has none; apply the newest release to a database that has none yet.
        Whether the store's database is at a release (so its tables are there)."""
        if not store.releases.exists():
            release = release_publish(datastore=store, user=user, message=RELEASE_MESSAGE)
            self.stdout.write(f"Published release {release.version} of '{store.name}'.")
        if not apply:
            return False
        newest = store.releases.order_by("-version").first()
        try:
            current = self._current_version(store)
        except SchemaError as exc:
            self._not_applied(store, newest, exc.message)
            return False
        if current:
            # Never move a database the user may have taken elsewhere (up or down) on their own.
            self.stdout.write(f"'{store.name}' is at release {current}.")
            return True
        run = schema_apply_recorded(datastore=store, release=newest, user=user)
        if run.status != RunStatus.SUCCEEDED:
            self._not_applied(store, newest, run.error)
            return False
        self.stdout.write(
            f"Applied release {newest.version} of '{store.name}' ({run.statements_run} statements)."
        )
        return True

    def _grant_reader(self, store: DataStore) -> None:
        """The demo stores run user-written SQL as a read-only role, as the README asks of every store."""
        try:
            demo_reader_grant(datastore=store)
        except (SchemaError, psycopg.Error) as exc:
            reason = getattr(exc, "message", None) or str(exc).strip().splitlines()[0]
            self.stdout.write(
                self.style.WARNING(
                    f"Note: the read-only role {store.read_role} of '{store.name}' could not be set up "
                    f"({reason}); custom SQL and SQL sources on it will be refused until it exists."
                )
            )

    def _seed(self, store: DataStore) -> None:
        """The demo rows of the store's empty tables; a refusal is reported, never fatal."""
        try:
            added = demo_rows_seed(datastore=store)
        except SchemaError as exc:
            self.stdout.write(
                self.style.WARNING(f"Note: no demo rows were added to '{store.name}' ({exc.message}).")
            )
            return
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self.stdout.write(
                self.style.WARNING(
                    f"Note: no demo rows were added to '{store.name}': its database refused them ({reason})."
                )
            )
            return
        if not added:
            self.stdout.write(f"'{store.name}' has its rows; no demo rows were added.")
            return
        listed = ", ".join(f"{count} {table}" for table, count in added.items())
        self.stdout.write(f"Added demo rows to '{store.name}': {listed}.")

    def _not_applied(self, store: DataStore, release, reason: str) -> None:
        self.stdout.write(
            self.style.WARNING(
                f"Note: release {release.version} of '{store.name}' was not applied ({reason}). The "
                f"catalog works without it; to run pipelines into '{store.name}', point "
                f"${store.url_env} at a PostgreSQL database and run "
                f"`python manage.py schema_apply --datastore {store.name}`."
            )
        )

    def _current_version(self, store: DataStore) -> int | None:
        """The release the store's database is at; SchemaError when it cannot be reached."""
        profile = profile_for(store.engine)
        with datastore_connect(store) as connection:
            return history_current_version(history_rows(connection, profile, store.schema_name or None))

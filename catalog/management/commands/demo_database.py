"""`manage.py demo_database URL`: the PostgreSQL database the demo's data stores live in, created if missing.

`make run` calls it before `load_demo`. It never fails the set-up: without a reachable server it says
so and the catalog still works (only the demo pipelines need the database).
"""

import psycopg
from django.core.management.base import BaseCommand
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo


class Command(BaseCommand):
    help = "Create the demo's PostgreSQL database (named by URL) when it does not exist."

    def add_arguments(self, parser):
        parser.add_argument("url", help="e.g. postgresql://postgres@127.0.0.1:5432/custodian_demo")

    def handle(self, *args, **options):
        url = options["url"]
        name = conninfo_to_dict(url).get("dbname")
        if not name:
            self.stdout.write(f"No demo database: {url!r} names no database.")
            return
        try:
            with psycopg.connect(
                make_conninfo(url, dbname="postgres"), autocommit=True, connect_timeout=3
            ) as server:
                if server.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                    self.stdout.write(f"The demo database {name} is there.")
                    return
                server.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self.stdout.write(
                f"No demo database ({reason}); the catalog works, the demo pipelines cannot run."
            )
            return
        self.stdout.write(self.style.SUCCESS(f"Created the demo database {name}."))

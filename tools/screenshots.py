"""Screenshots of Custodian for the README, taken by Chromium (headless, through Playwright) at 1280x800.

Everything happens in throwaway PostgreSQL databases, so nothing of yours is touched: a fresh catalog database
(Django's test database for DATABASE_URL, under its own name) and a demo database for the demo data stores.
The script loads the demo (its releases applied), runs the demo pipelines and quality checks in this
process so the pages have data (see demo_prepare), serves the catalog with `manage.py runserver` on a free
port, signs in as the demo superuser and saves into docs/screenshots/ (or --out):

  dashboard.png       the admin's start page
  er-diagram.png      the ER diagram of the demo data store `shop`
  lineage.png         the lineage graph of the demo data store `warehouse`
  pipeline-run.png    the finished run of demo_products, with its quarantined rows
  quality-entity.png  the quality page of the warehouse's fact_sales

Then it stops the server and drops both databases. Needs PostgreSQL, Graphviz's dot (.ci/graphviz.sh) and
Chromium at /usr/bin/chromium (.ci/chromium.sh).
Usage: DATABASE_URL=postgres://... python tools/screenshots.py [--out DIR]
"""

import argparse
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
VIEWPORT = {"width": 1280, "height": 800}
SERVER_START_SECONDS = 60
# What the README shows, in order.
SCREENSHOTS = ("dashboard.png", "er-diagram.png", "lineage.png", "pipeline-run.png", "quality-entity.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit(
            "Set DATABASE_URL to a PostgreSQL server (e.g. postgres://postgres@127.0.0.1:5432/custodian)."
        )
    if not CHROMIUM.exists():
        sys.exit(f"No Chromium at {CHROMIUM}: run .ci/chromium.sh first.")
    if not shutil.which("dot"):
        sys.exit("No Graphviz dot for the diagrams: run .ci/graphviz.sh first.")

    workdir = Path(tempfile.mkdtemp(prefix="custodian-screenshots-"))
    # In-process jobs (no Redis) and files under the work folder, fixed before Django reads its settings.
    os.environ.pop("REDIS_URL", None)
    os.environ["CUSTODIAN_IMPORT_ROOT"] = str(workdir / "imports")
    os.environ["MEDIA_ROOT"] = str(workdir / "media")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    token = secrets.token_hex(4)
    settings_db = connection.settings_dict["NAME"]
    connection.settings_dict.setdefault("TEST", {})["NAME"] = f"custodian_screenshots_{token}"
    demo_url = database_create(f"custodian_screenshots_demo_{token}")
    server = None
    try:
        connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        os.environ["CUSTODIAN_SHOP_URL"] = os.environ["CUSTODIAN_WAREHOUSE_URL"] = demo_url
        password = secrets.token_urlsafe(12)
        pages = demo_prepare(password)
        assert tuple(pages) == SCREENSHOTS, pages
        connection.close()
        server, base_url = server_start(workdir)
        screenshots_take(base_url, password, pages, args.out)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        connection.close()
        if connection.settings_dict["NAME"] != settings_db:
            connection.creation.destroy_test_db(settings_db, verbosity=0)
        database_drop(demo_url)
        shutil.rmtree(workdir, ignore_errors=True)
    for name in pages:
        print(args.out / name)


def admin_conninfo() -> str:
    """The PostgreSQL server of DATABASE_URL, database `postgres` (to create and drop databases)."""
    from django.db import connection

    db = connection.settings_dict
    return (
        f"host={db.get('HOST') or '127.0.0.1'} port={db.get('PORT') or 5432} "
        f"user={db.get('USER') or 'postgres'} dbname=postgres"
        + (f" password={db['PASSWORD']}" if db.get("PASSWORD") else "")
    )


def database_url(name: str) -> str:
    from django.db import connection

    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return (
        f"postgresql://{db.get('USER') or 'postgres'}{password}@{db.get('HOST') or '127.0.0.1'}:"
        f"{db.get('PORT') or 5432}/{name}"
    )


def database_create(name: str) -> str:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_conninfo(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_url(name)


def database_drop(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(admin_conninfo(), autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def demo_prepare(password: str) -> dict[str, str]:
    """Load and apply the demo, then give the pages something to show; returns each screenshot's admin path.

    The demo pipelines run in this process (as without Redis), with storage sampled before and after (the
    tables analyzed). Every demo entity is checked twice; then a steward's stricter rule on fact_sales (warn
    on lines of more than three units) is checked once more, so the pages show a failing rule and a trend.
    """
    import psycopg
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.urls import reverse

    from catalog.models import DataStore, Entity
    from catalog.services import catalog_object_save
    from catalog.storage import storage_sample
    from quality.models import Rule

    call_command("load_demo", stdout=open(os.devnull, "w"))
    call_command("demo_admin", "--password", password, stdout=open(os.devnull, "w"))
    stores = list(DataStore.objects.filter(name__in=["shop", "warehouse"]).order_by("name"))
    for store in stores:
        storage_sample(datastore=store)
    products_run = demo_pipelines_run()
    # Row estimates come from the planner's statistics, as they would after autovacuum's next visit.
    with psycopg.connect(os.environ["CUSTODIAN_SHOP_URL"], autocommit=True) as demo:
        demo.execute("ANALYZE")
    for store in stores:
        storage_sample(datastore=store)
    quality_check(stores)
    quality_check(stores)
    fact_sales = Entity.objects.get(datastore__name="warehouse", name="fact_sales")
    catalog_object_save(
        obj=Rule(
            entity=fact_sales,
            name="quantity_reviewed",
            kind="range",
            columns=["quantity"],
            params={"max": 3},
            severity="warn",
            description="Lines of more than three units are reviewed by hand.",
        ),
        user=get_user_model().objects.get(username="demo_steward"),
    )
    quality_check(stores)
    shop, warehouse = stores
    return {
        "dashboard.png": reverse("admin:index"),
        "er-diagram.png": reverse("admin:catalog_datastore_er_diagram", args=[shop.pk]),
        "lineage.png": reverse("admin:catalog_datastore_lineage", args=[warehouse.pk]),
        "pipeline-run.png": reverse("admin:pipelines_pipelinerun_change", args=[products_run.pk]),
        "quality-entity.png": reverse("admin:quality_entity", args=[fact_sales.pk]),
    }


def demo_pipelines_run():
    """Run the demo chain: without Redis each run happens as it is queued, and each success starts the next
    one (run_after). Exits when one did not succeed; returns the run of demo_products."""
    from pipelines.choices import RunStatus
    from pipelines.demo import DEMO_PIPELINES
    from pipelines.models import Pipeline, PipelineRun
    from pipelines.runner import pipeline_run_execute
    from pipelines.services import pipeline_run_request

    first = Pipeline.objects.get(name=DEMO_PIPELINES[0])
    pipeline_run_request(first, user=first.owner)
    for name in DEMO_PIPELINES:
        queued = PipelineRun.objects.filter(pipeline__name=name, status=RunStatus.QUEUED).first()
        if queued is not None:
            pipeline_run_execute(queued.pk)
    runs = {run.pipeline.name: run for run in PipelineRun.objects.select_related("pipeline")}
    failed = {name: run.error for name, run in runs.items() if run.status != RunStatus.SUCCEEDED}
    if failed or set(runs) != set(DEMO_PIPELINES):
        sys.exit(f"The demo pipelines did not all succeed: {failed or sorted(runs)}")
    return runs[DEMO_PIPELINES[0]]


def quality_check(stores) -> None:
    from quality.runner import check_run_execute
    from quality.services import check_run_request

    for store in stores:
        check_run_execute(check_run_request(datastore=store, enqueue=False).pk)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_start(workdir: Path) -> tuple[subprocess.Popen, str]:
    """`manage.py runserver` on the throwaway databases, once it answers."""
    from django.db import connection

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict["NAME"]), "DEBUG": "true"}
    log = workdir / "runserver.log"
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + SERVER_START_SECONDS
    while True:
        try:
            with urllib.request.urlopen(f"{base_url}/admin/login/", timeout=2) as response:
                if response.status == 200:
                    return server, base_url
        except (urllib.error.URLError, ConnectionError):
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            sys.exit(f"The server did not start:\n{log.read_text()}")
        time.sleep(0.3)


def screenshots_take(base_url: str, password: str, pages: dict[str, str], out: Path) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        page = browser.new_page(base_url=base_url, viewport=VIEWPORT)
        page.goto("/admin/login/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", password)
        page.click("#login-form input[type=submit]")
        page.wait_for_url("**/admin/")
        for name, path in pages.items():
            response = page.goto(path)
            if response is None or not response.ok:
                sys.exit(f"{path} answered {response.status if response else 'nothing'}; no {name}.")
            if name in ("er-diagram.png", "lineage.png"):
                page.wait_for_selector("#diagram svg")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(out / name))
        browser.close()


if __name__ == "__main__":
    main()

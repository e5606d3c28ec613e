"""load_demo adds the sample files and pipelines, applies the demo stores, and the demo chain runs."""

import io

import psycopg
import pytest
from django.core.management import call_command
from psycopg import sql

from catalog.models import SchemaRelease
from catalog.selectors import audit_models
from core.quoting import identifier
from pipelines.as_code import pipeline_yaml_dump
from pipelines.choices import RunStatus
from pipelines.demo import DEMO_DATA, DEMO_PIPELINES
from pipelines.models import Pipeline, PipelineRun
from pipelines.runner import pipeline_run_execute
from pipelines.services import pipeline_run_request


def history_rows() -> int:
    return sum(model.objects.count() for model in audit_models().values())


def load_demo(*args) -> str:
    out = io.StringIO()
    call_command("load_demo", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def demo_database(scratch_database, monkeypatch) -> str:
    """Both demo stores in one new PostgreSQL database, as `make run` sets them up."""
    url = scratch_database()
    monkeypatch.setenv("CUSTODIAN_SHOP_URL", url)
    monkeypatch.setenv("CUSTODIAN_WAREHOUSE_URL", url)
    return url.replace("postgresql+psycopg://", "postgresql://")


def count(url: str, table: str) -> int:
    with psycopg.connect(url) as connection:
        statement = sql.SQL("SELECT count(*) FROM {}").format(identifier(*table.split(".")))
        return connection.execute(statement).fetchone()[0]


@pytest.mark.django_db
def test_load_demo_applies_the_stores_and_adds_the_pipelines_once(import_root, demo_database):
    out = load_demo()
    assert "2 data stores, 11 entities, 72 columns, 5 pipelines," in out  # then what quality adds
    assert "Applied release 1 of 'shop'" in out and "Applied release 1 of 'warehouse'" in out
    # The shop comes with the demo's own rows (12 products of them); the warehouse is the pipelines' to fill
    assert count(demo_database, "shop.products") == 12 and count(demo_database, "analytics.fact_sales") == 0
    assert sorted(p.name for p in Pipeline.objects.all()) == sorted(DEMO_PIPELINES)
    assert {p.owner.username for p in Pipeline.objects.select_related("owner")} == {"demo_platform"}
    assert {h.history_user.username for h in Pipeline.history.select_related("history_user")} == {
        "demo_platform"
    }
    copied = sorted(path.name for path in (import_root / "demo").iterdir())
    assert copied == ["customers.jsonl", "orders.csv", "products.csv"]
    # The pipeline files in the repository are exactly what pipeline_export writes for them.
    for pipeline in Pipeline.objects.all():
        assert pipeline_yaml_dump(pipeline) == (DEMO_DATA / "pipelines" / f"{pipeline.name}.yaml").read_text()

    rows, releases = history_rows(), SchemaRelease.objects.count()
    again = load_demo()
    assert "'shop' is at release 1." in again and "'warehouse' is at release 1." in again
    assert "Published" not in again and "Applied" not in again
    assert history_rows() == rows and SchemaRelease.objects.count() == releases


@pytest.mark.django_db
def test_load_demo_without_a_reachable_store_notes_it_and_goes_on(import_root, monkeypatch):
    monkeypatch.delenv("CUSTODIAN_SHOP_URL", raising=False)
    monkeypatch.setenv("CUSTODIAN_WAREHOUSE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    out = load_demo()
    assert "Published release 1 of 'shop'." in out
    assert (
        "Note: release 1 of 'shop' was not applied (Data store 'shop' reads its URL from $CUSTODIAN_SHOP_URL"
        in out
    )
    assert "Note: release 1 of 'warehouse' was not applied (Cannot reach data store 'warehouse'" in out
    assert Pipeline.objects.count() == 5


@pytest.mark.django_db
def test_load_demo_no_apply_leaves_the_databases_alone(import_root, demo_database):
    out = load_demo("--no-apply")
    assert "Published release 1 of 'shop'." in out and "Applied" not in out and "Note" not in out
    with psycopg.connect(demo_database) as connection:
        assert connection.execute("SELECT to_regclass('shop.products')").fetchone() == (None,)


def run_next(name: str) -> PipelineRun:
    """Run the pipeline's queued run (queued by its predecessor's success), or request one and run it."""
    queued = PipelineRun.objects.filter(pipeline__name=name, status=RunStatus.QUEUED).first()
    run = queued or pipeline_run_request(Pipeline.objects.get(name=name), enqueue=False)
    return pipeline_run_execute(run.pk)


@pytest.mark.django_db
def test_the_demo_chain_loads_and_quarantines_the_dirty_rows(import_root, demo_database):
    load_demo()
    runs = {name: run_next(name) for name in DEMO_PIPELINES}
    summary = {
        name: (run.status, run.rows_extracted, run.rows_loaded, run.rows_rejected)
        for name, run in runs.items()
    }
    assert summary == {
        "demo_products": (RunStatus.SUCCEEDED, 48, 42, 6),
        "demo_dim_product": (RunStatus.SUCCEEDED, 54, 54, 0),  # 42 loaded and the shop's 12
        "demo_dim_date": (RunStatus.SUCCEEDED, 731, 731, 0),
        "demo_dim_customer": (RunStatus.SUCCEEDED, 40, 40, 0),
        "demo_sales": (RunStatus.SUCCEEDED, 122, 113, 9),
    }
    # Each follower was started by its predecessor's success (run_after), not by this test.
    assert [run.trigger for run in runs.values()][1:] == ["dependency"] * 4
    products = {r.row_number: r.errors for r in runs["demo_products"].rejected_rows.all()}
    assert products == {
        5: {"unit_price": "-4.99 is below the minimum 0"},
        13: {"created_at": "'31.02.2024' is not a date written DD.MM.YYYY (e.g. 31.01.2024)"},
        21: {"sku": "'TEE 09' does not match the pattern ^[A-Z0-9-]+$"},
        26: {"id": "duplicate key (id=109) of an earlier row in this batch"},
        32: {"active": "'maybe' is not a boolean (true/false)"},
        40: {"name": "required (the column is NOT NULL)"},
    }
    sales = {r.row_number: r.errors for r in runs["demo_sales"].rejected_rows.all()}
    assert sales[6] == {
        "date_key": "no dim_date with calendar_date = '2024-02-30'",
        "sold_at": "'2024-02-30 10:00' is not a timestamp with time zone",
    }
    assert sales[30] == {"quantity": "-2 is below the minimum 0"}
    assert sales[54] == {"product_key": "no dim_product with sku = 'LAMP-999'"}
    assert sales[66] == {"customer_key": "no dim_customer with customer_id = '9999'"}
    assert sales[78] == {"revenue": "'12,x' is not a number"}
    assert len(sales) == 9
    assert count(demo_database, "shop.products") == 42 + 12
    assert count(demo_database, "analytics.fact_sales") == 113
    with psycopg.connect(demo_database) as connection:
        sku, price, created = connection.execute(
            "SELECT sku, unit_price, created_at::date FROM shop.products WHERE id = 103"
        ).fetchone()
        email_hash, country = connection.execute(
            "SELECT email_hash, country_code FROM analytics.dim_customer WHERE customer_id = 1001"
        ).fetchone()
        category = connection.execute(
            "SELECT category FROM analytics.dim_product WHERE sku = 'MUG-001'"
        ).fetchone()
    assert (sku, str(price), str(created)) == ("BOOK-003", "1019.90", "2024-04-01")
    assert len(email_hash) == 64 and "@" not in email_hash and country == "DE"
    assert category == ("Kitchen",)

    # Running the chain again changes no row: every load is an upsert of the same data.
    again = {name: run_next(name) for name in DEMO_PIPELINES}
    assert {name: (run.rows_inserted, run.rows_updated) for name, run in again.items()} == {
        name: (0, 0) for name in DEMO_PIPELINES
    }

"""A run's bookkeeping costs a fixed number of catalog queries, whatever the number of mapped columns.

An incremental run that moves a few rows is mostly bookkeeping, so per-column queries (configuration checks,
plan building, lineage) would make small runs slow: the benchmark's incremental ratio depends on it."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.services import catalog_object_save
from pipelines.choices import RunStatus, RunTrigger
from pipelines.models import LineageEdge
from pipelines.runner import pipeline_run_execute
from pipelines.services import pipeline_run_request
from tests.pipelines.conftest import CUSTOMER_CSV, CUSTOMER_MAPPINGS, make_pipeline

INCREMENTAL_UPSERT = {"load_mode": "upsert", "extract_mode": "incremental", "watermark_field": "updated"}


def queries_of_a_run(pipeline) -> tuple[int, int]:
    """(queries to request the run, queries to execute and record it) on the catalog's connection."""
    with CaptureQueriesContext(connection) as requested:
        run = pipeline_run_request(pipeline, trigger=RunTrigger.COMMAND, enqueue=False)
    with CaptureQueriesContext(connection) as executed:
        run = pipeline_run_execute(run.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    return len(requested), len(executed)


@pytest.mark.django_db
def test_a_run_costs_the_same_queries_for_three_mapped_columns_as_for_eight(
    shop, import_root, platform_admin
):
    (import_root / "customers.csv").write_text(CUSTOMER_CSV)
    three = CUSTOMER_MAPPINGS[:2] + CUSTOMER_MAPPINGS[-1:]
    few = make_pipeline(shop.customer, platform_admin, name="few", mappings=three, **INCREMENTAL_UPSERT)
    many = make_pipeline(shop.customer, platform_admin, name="many", **INCREMENTAL_UPSERT)
    assert len(three) == 3 and len(CUSTOMER_MAPPINGS) == 8

    first_few, first_many = queries_of_a_run(few), queries_of_a_run(many)
    assert first_few == first_many  # lineage edges created in one statement, not one per column
    again = queries_of_a_run(many)  # nothing new past the watermark: all bookkeeping
    assert again[0] == first_many[0] and again[1] <= first_many[1]
    # 19 + 79 before lineage and checks read once; +1 and +2 since every state change is a RunEvent row
    assert again[0] <= 9 and again[1] <= 20, again


@pytest.mark.django_db
def test_lineage_follows_changed_steps_and_removed_mappings(shop, import_root, platform_admin):
    (import_root / "customers.csv").write_text(CUSTOMER_CSV)
    pipeline = make_pipeline(shop.customer, platform_admin, load_mode="upsert")
    first = pipeline_run_execute(pipeline_run_request(pipeline, enqueue=False).pk)
    email = pipeline.mappings.get(column__name="email")
    email.steps = ["trim"]
    catalog_object_save(obj=email, user=platform_admin)
    pipeline.mappings.get(column__name="score").delete()

    second = pipeline_run_execute(pipeline_run_request(pipeline, enqueue=False).pk)
    assert second.status == RunStatus.SUCCEEDED, second.error
    edges = {e.column.name: e for e in LineageEdge.objects.filter(pipeline=pipeline)}
    assert "score" not in edges and len(edges) == 7
    assert edges["email"].steps == "trim" and edges["full_name"].steps == "collapse_whitespace"
    assert {e.last_run_id for e in edges.values()} == {second.pk} != {first.pk}

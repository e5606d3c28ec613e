"""A schema release goes live and a pipeline runs into it, watched to success: in a real browser, with the
jobs going through Redis to a real `manage.py rqworker`. Stewards publish releases and platform admins apply
them (catalog/migrations/0004_release_permissions.py), so the steward publishes and the admin takes over."""

import re
import time

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from catalog.models import SchemaApply, SchemaRelease
from pipelines.choices import RunStatus
from pipelines.models import PipelineRun
from tests.pipelines.conftest import CUSTOMER_CSV, customer_entity, make_pipeline, query

# The worker starts a Django process and RQ's scheduler before its first job.
WORKER_TIMEOUT_MS = 60_000


def landed_on(page, url_name: str) -> int:
    """Wait until the browser is on the admin page `url_name` of some object; that object's id."""
    pattern = re.escape(reverse(url_name, args=[12345])).replace("12345", r"(\d+)")
    page.wait_for_url(re.compile(pattern + "$"))
    return int(re.search(pattern, page.url).group(1))


def reload_until(page, selector: str, text: str, timeout: float = WORKER_TIMEOUT_MS / 1000) -> None:
    """Reload a page that does not refresh itself until `selector` shows `text`."""
    deadline = time.monotonic() + timeout
    while page.locator(selector).inner_text().strip() != text:
        assert time.monotonic() < deadline, f"{selector} still shows {page.locator(selector).inner_text()!r}"
        time.sleep(0.5)
        page.reload()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_platform_admin_applies_a_release_then_runs_a_pipeline_and_watches_it_succeed(
    open_page,
    rq_worker,
    target_store,
    import_root,
    steward,
    platform_admin,
):
    store = target_store("shop")
    entity = customer_entity(store, steward)
    # The steward publishes release 1 from the data store's page, after its preview.
    page = open_page(steward)
    page.goto(reverse("admin:catalog_datastore_change", args=[store.pk]))
    page.click("#datastore-publish")
    expect(page.locator("#content-main")).to_contain_text("Publishing records version 1 of 'shop'")
    expect(page.locator("#publish-up-sql")).to_contain_text('CREATE TABLE "app"."customer"')
    page.fill("#id_message", "Customers from the CRM")
    page.click("#publish-form input[type=submit]")
    release = SchemaRelease.objects.get(pk=landed_on(page, "admin:catalog_schemarelease_change"))
    assert (release.datastore, release.version) == (store, 1)
    expect(page.locator(".messagelist .success")).to_contain_text("Customers from the CRM")

    # The platform admin applies it: after the confirmation, the job waits in Redis until a worker takes it.
    page = open_page(platform_admin)
    page.goto(reverse("admin:catalog_schemarelease_change", args=[release.pk]))
    page.check("#release-apply-confirm")
    page.click("#release-apply input[type=submit]")
    apply = SchemaApply.objects.get(pk=landed_on(page, "admin:catalog_schemaapply_change"))
    assert apply.release == release
    expect(page.locator(".messagelist")).to_contain_text(
        f"Apply #{apply.pk} of 'shop' to version 1 is queued"
    )
    expect(page.locator(".field-status .readonly")).to_have_text("Queued")
    rq_worker.start()
    reload_until(page, ".field-status .readonly", "Succeeded")
    expect(page.locator("#apply-log")).to_contain_text('CREATE TABLE "app"."customer"')
    assert query(store, "SELECT count(*) FROM app.customer") == [(0,)]

    # Run now queues the run; its page shows it queued, then follows it to success on its own.
    rq_worker.stop()
    (import_root / "customers.csv").write_text(CUSTOMER_CSV)
    pipeline = make_pipeline(entity, platform_admin, load_mode="upsert")
    page.goto(reverse("admin:pipelines_pipeline_change", args=[pipeline.pk]))
    page.click("#pipeline-run")
    run = PipelineRun.objects.get(pk=landed_on(page, "admin:pipelines_pipelinerun_change"))
    assert run.pipeline == pipeline
    expect(page.locator("#run-status")).to_have_text("Queued")
    expect(page.locator("#run-progress")).to_have_attribute("data-active", "1")
    polls = []
    page.on("response", lambda response: "progress" in response.url and polls.append(response.status))
    rq_worker.start()
    expect(page.locator("#run-status")).to_have_text("Succeeded", timeout=WORKER_TIMEOUT_MS)
    assert polls and set(polls) == {200}, polls  # the page asked for its progress, then reloaded itself
    expect(page.locator("#run-progress")).to_have_attribute("data-active", "0")
    expect(page.locator("#run-rows-extracted")).to_have_text("3")
    expect(page.locator("#run-rows-loaded")).to_have_text("3")
    expect(page.locator("#run-rows-rejected")).to_have_text("0")
    expect(page.locator("#run-lineage")).to_contain_text("customer_id")
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert query(store, "SELECT count(*) FROM app.customer") == [(3,)]

"""The dashboard on the admin's landing page: each role sees its own sections, the page costs the same number
of queries however much history there is, jobs show with and without Redis, and storage is sampled hourly
from PostgreSQL data stores."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from catalog.models import Column, DataStore, Entity, SchemaApply, StorageSample
from catalog.schema.releases import release_publish
from catalog.storage import storage_sample, storage_sample_job, storage_tick
from compliance.models import RetentionExecution, SubjectRequest
from pipelines.models import Pipeline, PipelineRun
from quality.models import CheckRun, EntityScore, Rule, RuleResult
from tests.catalog.schema.conftest import run_sql, scratch_database, target_store  # noqa: F401
from tests.conftest import make_user

INDEX = reverse("admin:index")

SECTIONS = {
    "superuser": {
        "dash-runs",
        "dash-durations",
        "dash-jobs",
        "dash-storage",
        "dash-failing-rules",
        "dash-scores",
        "dash-schema",
        "dash-retention",
        "dash-subject-requests",
        "dash-pii",
    },
    "platform": {"dash-runs", "dash-durations", "dash-jobs", "dash-storage", "dash-schema"},
    "steward": {"dash-failing-rules", "dash-scores", "dash-schema"},
    "officer": {"dash-retention", "dash-subject-requests", "dash-pii"},
}
EVERY_SECTION = SECTIONS["superuser"]
STATUSES = ["succeeded", "succeeded", "succeeded", "failed", "cancelled"]


def build_activity(size: int, user) -> None:
    """`size` pipeline runs and `size` rule results over 30 days, with size/5 entities (PII columns,
    storage samples, scores), releases, retention executions and subject requests; written in bulk."""
    now = timezone.now()
    store = DataStore.objects.create(name=f"store_{size}", engine="postgresql")
    entities = Entity.objects.bulk_create(
        Entity(datastore=store, name=f"entity_{i}") for i in range(max(2, size // 5))
    )
    Column.objects.bulk_create(
        Column(entity=e, name="email", position=1, data_type="text", pii_category="direct_identifier")
        for e in entities
    )
    StorageSample.objects.bulk_create(
        StorageSample(entity=e, bytes=bytes_, rows_estimate=10, sampled_at=now - timedelta(days=age))
        for i, e in enumerate(entities)
        for age, bytes_ in ((8, 8192 * (i + 1)), (0, 16384 * (i + 1)))
    )
    pipelines = [Pipeline.objects.create(name=f"p{size}_{i}", target=entities[i]) for i in range(2)]
    runs = PipelineRun.objects.bulk_create(
        PipelineRun(
            pipeline=pipelines[i % 2],
            pipeline_version=1,
            status=STATUSES[i % len(STATUSES)],
            # 29 days, not 30: a run 29 days and 10 minutes ago falls out of the 30-day window between
            # midnight and 00:10 (the window starts at the first day's midnight).
            started_at=now - timedelta(days=i % 29, minutes=10),
            finished_at=now - timedelta(days=i % 29, minutes=10 - i % 7),
        )
        for i in range(size - 2)
    )
    runs += PipelineRun.objects.bulk_create(
        [
            PipelineRun(pipeline=pipelines[0], pipeline_version=1, status="running", progress=0.4),
            PipelineRun(pipeline=pipelines[1], pipeline_version=1, status="queued"),
        ]
    )
    for run in runs:
        run.created_at = run.started_at or now
    PipelineRun.objects.bulk_update(runs, ["created_at"])

    rules = Rule.objects.bulk_create(
        Rule(entity=e, name="email_not_null", kind="not_null", columns=["email"]) for e in entities
    )
    checks = CheckRun.objects.bulk_create(
        CheckRun(datastore=store, entity=rules[i % len(rules)].entity, status="succeeded")
        for i in range(size)
    )
    results = RuleResult.objects.bulk_create(
        RuleResult(
            check_run=check,
            rule=rules[i % len(rules)],
            entity=check.entity,
            rule_name="email_not_null",
            kind="not_null",
            severity="error",
            dimension="completeness",
            status="failed" if i % 3 == 0 else "passed",
            failing_rows=i % 3,
        )
        for i, check in enumerate(checks)
    )
    scores = EntityScore.objects.bulk_create(
        EntityScore(check_run=check, entity=check.entity, score=90 + i % 10) for i, check in enumerate(checks)
    )
    for i, row in enumerate([*results, *scores]):
        row.created_at = now - timedelta(days=i % 30)
    RuleResult.objects.bulk_update(results, ["created_at"])
    EntityScore.objects.bulk_update(scores, ["created_at"])

    for i in range(max(1, size // 20)):
        RetentionExecution.objects.create(
            policy_version=1,
            policy_name=f"keep_{i}",
            datastore_name=store.name,
            entity_name=entities[0].name,
            action="delete",
            status="succeeded",
            rows_expired=i,
        )
        SubjectRequest.objects.create(datastore=store, identifier=f"person{i}@example.com")


def page_sections(response) -> set[str]:
    content = response.content.decode()
    return {section for section in EVERY_SECTION if f'id="{section}"' in content}


def test_anonymous_visitor_is_sent_to_the_login_page(client, db):
    response = client.get(INDEX)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("role", ["platform", "steward", "officer", "superuser"])
def test_each_role_sees_its_sections_and_none_of_the_others(client, superuser, role_client, settings, role):
    settings.CUSTODIAN_JOBS_SYNC = True
    build_activity(10, superuser)
    if role == "superuser":
        client.force_login(superuser)
    else:
        client = role_client(role)
    response = client.get(INDEX)
    assert response.status_code == 200
    assert page_sections(response) == SECTIONS[role]
    # The app list is still there, below the dashboard.
    assert 'class="app-catalog module' in response.content.decode()


def test_officer_does_not_see_the_job_queue_or_pipeline_runs(role_client, superuser, settings):
    settings.CUSTODIAN_JOBS_SYNC = False
    build_activity(10, superuser)
    content = role_client("officer").get(INDEX).content.decode()
    assert "Running and queued jobs" not in content
    assert "p10_0 #" not in content
    assert "Open subject requests" in content


def test_staff_without_a_role_sees_the_app_list_and_a_note(client, db):
    client.force_login(make_user("visitor"))
    response = client.get(INDEX)
    assert response.status_code == 200
    assert page_sections(response) == set()
    assert 'id="dash-none"' in response.content.decode()


def test_query_count_does_not_grow_with_runs_results_and_entities(
    client, superuser, settings, django_assert_num_queries
):
    settings.CUSTODIAN_JOBS_SYNC = True
    client.force_login(superuser)
    build_activity(10, superuser)
    client.get(INDEX)  # the session and content types are cached from here on
    with CaptureQueriesContext(connection) as small:
        response = client.get(INDEX)
    assert page_sections(response) == EVERY_SECTION
    build_activity(200, superuser)
    assert PipelineRun.objects.count() == 210 and RuleResult.objects.count() == 210
    with django_assert_num_queries(len(small)):
        response = client.get(INDEX)
    assert response.status_code == 200
    content = response.content.decode()
    assert "<b>210</b> runs" in content
    print(f"dashboard: {len(small)} queries")  # recorded in the closing note


def test_jobs_run_in_process_without_redis(client, superuser, settings):
    settings.CUSTODIAN_JOBS_SYNC = True
    build_activity(10, superuser)
    client.force_login(superuser)
    content = client.get(INDEX).content.decode()
    assert 'id="dash-in-process"' in content
    assert 'id="dash-queues"' not in content


def test_queues_and_workers_come_from_redis(role_client, superuser, settings):
    settings.CUSTODIAN_JOBS_SYNC = False
    content = role_client("platform").get(INDEX).content.decode()
    assert 'id="dash-queues"' in content
    for queue in ("etl", "quality", "default"):
        assert f"<td>{queue}</td>" in content
    assert 'id="dash-workers"' in content or 'id="dash-no-worker"' in content


def retention_runs(statuses: list[tuple[str, bool]]) -> None:
    """Retention executions of a demo's kind: (status, dry run) each."""
    for i, (status, dry_run) in enumerate(statuses):
        RetentionExecution.objects.create(
            policy_version=1,
            policy_name=f"policy_{i}",
            datastore_name="shop",
            entity_name="customers",
            action="delete",
            status=status,
            dry_run=dry_run,
        )


def test_the_retention_cards_badges_count_what_its_table_lists_executions_and_dry_runs_apart(role_client, db):
    # The demo's card said "0 succeeded 0 failed 0 blocked" over a table of four dry runs of those statuses
    retention_runs([("succeeded", True), ("failed", True), ("blocked", True), ("blocked", True)])
    content = role_client("officer").get(INDEX).content.decode()
    executions = re.search(r'<p class="cu-figures" id="dash-retention-executions">(.*?)</p>', content, re.S)
    dry_runs = re.search(r'<p class="cu-figures" id="dash-retention-dry-runs">(.*?)</p>', content, re.S)
    badges = re.compile(r'<span class="run-badge[^"]*">([^<]*)</span>')
    assert executions.group(1).startswith("Executions: ") and badges.findall(executions.group(1)) == []
    assert "none" in executions.group(1)
    assert dry_runs.group(1).startswith("Dry runs: ")
    assert badges.findall(dry_runs.group(1)) == [
        "1 succeeded",
        "1 failed (nothing changed)",
        "2 blocked by legal hold",
    ]

    retention_runs([("succeeded", False)])
    content = role_client("officer").get(INDEX).content.decode()
    executions = re.search(r'id="dash-retention-executions">(.*?)</p>', content, re.S).group(1)
    assert badges.findall(executions) == ["1 succeeded"]


def test_active_runs_show_their_progress(role_client, superuser, settings):
    settings.CUSTODIAN_JOBS_SYNC = True
    build_activity(10, superuser)
    content = role_client("platform").get(INDEX).content.decode()
    running = PipelineRun.objects.get(status="running")
    assert f"p10_0 #{running.pk}" in content
    assert '<progress max="1" value="0.400">' in content
    assert "40%" in content


def test_a_rule_that_passed_again_is_not_failing(role_client, superuser, customer):
    rule = Rule.objects.create(entity=customer, name="email_not_null", kind="not_null", columns=["email"])
    flaky = Rule.objects.create(entity=customer, name="id_not_null", kind="not_null", columns=["id"])
    check = CheckRun.objects.create(datastore=customer.datastore, entity=customer, status="succeeded")
    fields = {"check_run": check, "entity": customer, "kind": "not_null", "dimension": "completeness"}
    old = timezone.now() - timedelta(days=1)
    for target, status, severity, when in [
        (rule, "passed", "error", old),
        (rule, "failed", "error", timezone.now()),
        (flaky, "failed", "error", old),
        (flaky, "passed", "error", timezone.now()),
    ]:
        result = RuleResult.objects.create(
            rule=target, rule_name=target.name, status=status, severity=severity, **fields
        )
        RuleResult.objects.filter(pk=result.pk).update(created_at=when)
    content = role_client("steward").get(INDEX).content.decode()
    table = content.split('id="dash-failing-table"')[1].split("</table>")[0]
    assert "email_not_null" in table
    assert "id_not_null" not in table


def test_rules_never_checked_are_counted_and_not_said_to_have_passed(role_client, customer):
    for name in ("email_not_null", "id_not_null", "name_not_null"):
        Rule.objects.create(entity=customer, name=name, kind="not_null", columns=[name.split("_")[0]])
    section = role_client("steward").get(INDEX).content.decode().split('id="dash-failing-rules"')[1]
    section = section.split("</section>")[0]
    assert "passed" not in section
    assert "3 enabled rules, none checked yet." in section


def test_only_the_checked_rules_are_said_to_have_passed(role_client, customer):
    checked = Rule.objects.create(entity=customer, name="email_not_null", kind="not_null", columns=["email"])
    Rule.objects.create(entity=customer, name="id_not_null", kind="not_null", columns=["id"])
    Rule.objects.create(entity=customer, name="off", kind="not_null", columns=["id"], enabled=False)
    check = CheckRun.objects.create(datastore=customer.datastore, entity=customer, status="succeeded")
    RuleResult.objects.create(
        rule=checked,
        rule_name=checked.name,
        status="passed",
        severity="error",
        check_run=check,
        entity=customer,
        kind="not_null",
        dimension="completeness",
    )
    section = role_client("steward").get(INDEX).content.decode().split('id="dash-failing-rules"')[1]
    section = section.split("</section>")[0]
    assert "Every checked rule passed its latest check (1 of 2 enabled)." in section
    assert "1 of 2 enabled rules never checked." in section
    assert "Every enabled rule" not in section


def test_releases_not_applied_are_counted_per_data_store(role_client, steward, customer):
    first = release_publish(datastore=customer.datastore, user=steward, message="customers")
    SchemaApply.objects.create(
        datastore=customer.datastore,
        release=first,
        status="succeeded",
        requested_by=steward,
        finished_at=timezone.now(),
    )
    customer.description = "People who buy"
    customer.save()
    release_publish(datastore=customer.datastore, user=steward, message="comment")
    content = role_client("platform").get(INDEX).content.decode()
    row = content.split('id="dash-schema-table"')[1].split("</tr>")[1]
    assert "v2" in row and "v1" in row
    assert "1 to apply" in row
    assert reverse("admin:catalog_datastore_drift", args=[customer.datastore.pk]) in row


def test_storage_shows_size_and_growth_over_a_week(role_client, customer):
    now = timezone.now()
    StorageSample.objects.bulk_create(
        [
            StorageSample(entity=customer, bytes=1024 * 1024, sampled_at=now - timedelta(days=9)),
            StorageSample(
                entity=customer, bytes=2 * 1024 * 1024, sampled_at=now - timedelta(days=7, hours=1)
            ),
            StorageSample(entity=customer, bytes=3 * 1024 * 1024, rows_estimate=5000, sampled_at=now),
        ]
    )
    content = role_client("platform").get(INDEX).content.decode()
    table = content.split('id="dash-storage-table"')[1].split("</table>")[0]
    assert "shop.customer" in table
    assert "3.0\xa0MB" in table
    # Against the newest sample at least 7 days old; the share of growth is in the cell's tooltip.
    assert re.search(r'title="\+50\.0% since [-\d: ]+"><span class="cu-grow">\+1\.0\xa0MB</span>', table)
    assert "5000" in table


def test_storage_cuts_long_entity_names_keeping_them_whole_in_the_tooltip(role_client, customer):
    entity = Entity.objects.create(datastore=customer.datastore, name="customer_lifetime_value_snapshots")
    StorageSample.objects.create(entity=entity, bytes=1024, sampled_at=timezone.now())
    content = role_client("platform").get(INDEX).content.decode()
    table = content.split('id="dash-storage-table"')[1].split("</table>")[0]
    link = reverse("admin:catalog_entity_change", args=[entity.pk])
    assert (
        f'<a href="{link}" title="shop.customer_lifetime_value_snapshots">shop.customer_lifetime_…</a>'
        in table
    )


# Sampling -----------------------------------------------------------------------------------------------

STORE_SQL = """
CREATE SCHEMA app;
CREATE TABLE app.orders (id bigint PRIMARY KEY, note text);
INSERT INTO app.orders SELECT g, repeat('x', 100) FROM generate_series(1, 2000) g;
CREATE TABLE app.events (id bigint, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE app.events_2024 PARTITION OF app.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE app.events_2025 PARTITION OF app.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO app.events SELECT g, date '2024-06-01' + (g % 400) FROM generate_series(1, 3000) g;
ANALYZE app.orders;
ANALYZE app.events;
"""


@pytest.fixture
def warehouse(target_store, steward):  # noqa: F811
    """A PostgreSQL store with a table, a partitioned table and an entity whose table was never created."""
    import os

    store = target_store("warehouse")
    run_sql(os.environ[store.url_env], STORE_SQL)
    for name in ("orders", "events", "not_applied"):
        Entity.objects.create(datastore=store, name=name)
    return store


def sizes(store, *tables) -> list[int]:
    import os

    import psycopg

    url = os.environ[store.url_env].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as db:
        return [db.execute("SELECT pg_total_relation_size(%s)", (t,)).fetchone()[0] for t in tables]


def test_storage_sample_measures_tables_with_indexes_and_partitions(warehouse):
    samples = {s.entity.name: s for s in storage_sample(datastore=warehouse)}
    assert set(samples) == {"orders", "events"}
    assert samples["orders"].bytes == sizes(warehouse, "app.orders")[0]
    assert samples["orders"].rows_estimate == 2000
    assert samples["events"].bytes == sum(sizes(warehouse, "app.events_2024", "app.events_2025"))
    assert samples["events"].rows_estimate == 3000
    assert StorageSample.objects.count() == 2


def test_storage_tick_samples_each_store_once_an_hour(
    warehouse, settings, django_capture_on_commit_callbacks
):
    settings.CUSTODIAN_JOBS_SYNC = True
    now = timezone.now().replace(minute=5)

    def tick(at):
        with django_capture_on_commit_callbacks(execute=True):
            return storage_tick(now=at)

    assert tick(now) == [warehouse]
    assert StorageSample.objects.count() == 2
    assert tick(now + timedelta(minutes=1)) == []
    assert tick(now + timedelta(hours=1, minutes=30)) == []  # too late in that hour: wait for the next
    assert tick(now + timedelta(hours=2)) == [warehouse]
    assert StorageSample.objects.count() == 4


def test_a_second_job_for_the_same_hour_samples_nothing(warehouse):
    slot = timezone.now().replace(minute=0, second=0, microsecond=0).isoformat()
    storage_sample_job(warehouse.pk, slot)
    storage_sample_job(warehouse.pk, slot)
    assert StorageSample.objects.count() == 2


def test_storage_tick_is_a_scheduled_tick(settings):
    assert "catalog.storage.storage_tick" in settings.CUSTODIAN_SCHEDULED_TICKS


def test_catalog_changes_since_the_last_release_are_shown_with_a_link_to_publish(
    role_client, steward, customer
):
    from catalog.services import catalog_object_save

    release_publish(datastore=customer.datastore, user=steward, message="customers")
    publish = reverse("admin:catalog_schemarelease_publish") + f"?datastore={customer.datastore.pk}"

    def waiting(role: str) -> str:
        content = role_client(role).get(INDEX).content.decode()
        row = content.split('id="dash-schema-table"')[1].split("</tr>")[1]
        return row.split('class="dash-waiting">')[1].split("</td>")[0]

    assert "to release" not in waiting("steward")  # released, not applied yet
    # An owner or a legal hold is no schema change: nothing to release
    customer.owner, customer.legal_hold = None, True
    catalog_object_save(obj=customer, user=steward)
    assert "to release" not in waiting("steward")
    customer.description = "People who buy"
    catalog_object_save(obj=customer, user=steward)
    email = customer.columns.get(name="email")
    email.length = 250
    catalog_object_save(obj=email, user=steward)
    email.description = "Where we write to"
    catalog_object_save(obj=email, user=steward)  # one object, however often it changed

    cell = waiting("steward")
    assert f'href="{publish}"' in cell.replace("&amp;", "&") and "2 changes to release" in cell
    # Platform admins see what waits, but publishing is the stewards' work: no link for them
    platform = waiting("platform")
    assert "2 changes to release" in platform and "href" not in platform

    release_publish(datastore=customer.datastore, user=steward, message="description and length")
    assert "to release" not in waiting("steward")

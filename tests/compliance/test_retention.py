"""Retention enforcement against real PostgreSQL: what goes, what stays, what refuses, and the records."""

from datetime import UTC, datetime, timedelta

import pytest

from catalog.exceptions import CatalogError
from catalog.models import Entity
from catalog.services import catalog_object_save
from compliance.choices import ExecutionStatus, ExecutionTrigger
from compliance.exceptions import RetentionBusy
from compliance.models import RetentionExecution, RetentionSweep
from compliance.retention import retention_enforce, retention_execution_request, retention_tick
from core.errors import RecordError
from core.masking import mask_value
from core.scheduler import scheduler_tick
from tests.compliance.conftest import hold, policy, query, run_sql, snapshot, table
from tests.conftest import add_column


def ids(shop, name: str) -> list:
    return [row[0] for row in table(shop, name)]


def effects(execution) -> list[tuple]:
    return [(e["table"], e["action"], e["rows"]) for e in execution.rows_by_table]


@pytest.mark.django_db
class TestDelete:
    def test_deletes_only_expired_rows_and_their_cascade_children_first(self, shop, officer, settings):
        settings.CUSTODIAN_COMPLIANCE_BATCH_ROWS = 1  # one row per statement: batches must add up
        bookkeeping = policy(shop.orders, officer, "bookkeeping", "ordered_at", 10)
        before = snapshot(shop)

        execution = retention_enforce(policy=bookkeeping, user=officer)

        assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
        assert execution.rows_expired == 2
        assert effects(execution) == [("app.order_items", "delete", 3), ("app.orders", "delete", 2)]
        assert ids(shop, "orders") == [11, 21]
        assert table(shop, "order_items", "1, 2") == [r for r in before["order_items"] if r[0] in (11, 21)]
        after = snapshot(shop)
        for untouched in ("customers", "tickets", "newsletter"):
            assert after[untouched] == before[untouched]
        # Children first: the order lines went before the orders they belong to
        deletes = [s for s in execution.statements if s.startswith("DELETE")]
        assert '"app"."order_items"' in deletes[0] and '"app"."orders"' in deletes[1]

    def test_clears_set_null_references_before_deleting(self, shop, officer):
        closed = policy(shop.customers, officer, "closed accounts", "closed_at", 4)
        before = snapshot(shop)

        execution = retention_enforce(policy=closed, user=officer)

        assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
        assert effects(execution) == [
            ("app.tickets", "clear_reference", 1),
            ("app.customers", "delete", 2),
        ]
        assert ids(shop, "customers") == [1, 2]
        assert table(shop, "tickets") == [
            before["tickets"][0],
            before["tickets"][1],
            (102, None, *before["tickets"][2][2:]),
        ]
        assert snapshot(shop)["orders"] == before["orders"]

    def test_restrict_children_refuse_the_execution_and_nothing_changes(self, shop, officer):
        closed = policy(shop.customers, officer, "closed accounts", "closed_at", 2)
        before = snapshot(shop)

        execution = retention_enforce(policy=closed, user=officer)

        assert execution.status == ExecutionStatus.FAILED
        assert "Expired rows of app.customers cannot be deleted: 2 row(s) of app.orders" in execution.error
        assert "ON DELETE RESTRICT" in execution.error and "Nothing was changed." in execution.error
        assert snapshot(shop) == before

    def test_cascade_into_a_held_entity_is_refused(self, shop, officer):
        hold(shop.items, officer)
        bookkeeping = policy(shop.orders, officer, "bookkeeping", "ordered_at", 10)
        before = snapshot(shop)

        execution = retention_enforce(policy=bookkeeping, user=officer)

        assert execution.status == ExecutionStatus.FAILED
        assert "3 row(s) of app.order_items would be deleted with the expired rows" in execution.error
        assert "entity order_items is on legal hold" in execution.error
        assert snapshot(shop) == before

    def test_dry_run_counts_and_samples_but_touches_nothing(self, shop, officer):
        bookkeeping = policy(shop.orders, officer, "bookkeeping", "ordered_at", 10)
        before = snapshot(shop)

        dry = retention_enforce(policy=bookkeeping, dry_run=True, user=officer)

        assert dry.status == ExecutionStatus.SUCCEEDED and dry.dry_run
        assert effects(dry) == [("app.order_items", "delete", 3), ("app.orders", "delete", 2)]
        assert snapshot(shop) == before
        assert "SET TRANSACTION READ ONLY" in dry.statements
        assert not any(s.startswith(("DELETE", 'UPDATE "app"', 'INSERT INTO "app"')) for s in dry.statements)
        # Samples are the expired rows with personal data masked (no strategy: redacted)
        assert sorted(s["id"] for s in dry.samples) == [10, 20]
        assert {s["shipping_name"] for s in dry.samples} == {"[redacted]"}
        assert dry.rows_changed == 0
        # The execution then does exactly what the dry run said
        assert effects(retention_enforce(policy=bookkeeping, user=officer)) == effects(dry)


@pytest.mark.django_db
def test_anonymize_masks_personal_data_of_expired_rows_and_keeps_the_rest(shop, officer, settings):
    settings.CUSTODIAN_COMPLIANCE_BATCH_ROWS = 2
    closed = policy(shop.customers, officer, "closed accounts", "closed_at", 2, action="anonymize")
    before = snapshot(shop)

    execution = retention_enforce(policy=closed, user=officer)

    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
    assert effects(execution) == [("app.customers", "anonymize", 3)]
    assert execution.rows_by_table[0]["note"] == "email: hash, full_name: partial, birth_date: NULL"
    rows = {row[0]: row for row in table(shop, "customers")}
    old = {row[0]: row for row in before["customers"]}
    for customer_id, email, name in (
        (1, "ada@example.com", "Ada Lovelace"),
        (3, "cy@example.com", "Cy Twombly"),
    ):
        assert rows[customer_id][1] == mask_value(email, "hash")
        assert rows[customer_id][2] == mask_value(name, "partial") == "*" * (len(name) - 4) + name[-4:]
        assert rows[customer_id][3] is None
        assert rows[customer_id][4:] == old[customer_id][4:]  # segment, created_at, closed_at kept
    assert rows[2] == old[2]  # bob's account is open
    after = snapshot(shop)
    assert {k: v for k, v in after.items() if k != "customers"} == {
        k: v for k, v in before.items() if k != "customers"
    }


@pytest.mark.django_db
class TestArchive:
    def test_moves_expired_rows_to_an_archive_table_in_one_go(self, shop, officer):
        old_tickets = policy(shop.tickets, officer, "old tickets", "opened_at", 5, action="archive")
        before = table(shop, "tickets")

        execution = retention_enforce(policy=old_tickets, user=officer)

        assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
        assert effects(execution) == [("app.tickets", "archive", 2)]
        assert execution.rows_by_table[0]["note"] == "moved to app.tickets_archive (created)"
        assert table(shop, "tickets") == [before[0]]
        assert table(shop, "tickets_archive") == before[1:]

        # The next run appends to the existing archive
        run_sql(shop.url, "INSERT INTO app.tickets VALUES (103, 2, 'Old', now() - interval '7 years')")
        again = retention_enforce(policy=old_tickets, user=officer)
        assert effects(again) == [("app.tickets", "archive", 1)]
        assert again.rows_by_table[0]["note"] == "moved to app.tickets_archive"
        assert ids(shop, "tickets_archive") == [101, 102, 103]

    def test_refused_while_children_refer_to_the_rows(self, shop, officer):
        bookkeeping = policy(shop.orders, officer, "bookkeeping", "ordered_at", 10, action="archive")
        before = snapshot(shop)

        execution = retention_enforce(policy=bookkeeping, user=officer)

        assert execution.status == ExecutionStatus.FAILED
        assert execution.error == (
            "Expired rows of app.orders cannot be archived: 3 row(s) of app.order_items "
            "(order_items.order_id → orders.id) refer to expiring rows; archive or delete those rows first. "
            "Nothing was changed."
        )
        assert snapshot(shop) == before
        assert query(shop.store, "SELECT to_regclass('app.orders_archive')") == [(None,)]

    def test_refused_when_the_archive_table_no_longer_matches(self, shop, officer):
        run_sql(shop.url, "CREATE TABLE app.tickets_archive (id bigint, note text)")
        old_tickets = policy(shop.tickets, officer, "old tickets", "opened_at", 5, action="archive")

        execution = retention_enforce(policy=old_tickets, user=officer)

        assert execution.status == ExecutionStatus.FAILED
        assert "The archive table app.tickets_archive no longer matches app.tickets" in execution.error
        assert len(table(shop, "tickets")) == 3


@pytest.mark.django_db
@pytest.mark.parametrize("held", ["entity", "policy"])
def test_legal_hold_blocks_enforcement(shop, officer, held):
    bookkeeping = policy(shop.orders, officer, "bookkeeping", "ordered_at", 10)
    hold(shop.orders if held == "entity" else bookkeeping, officer)
    before = snapshot(shop)

    execution = retention_enforce(policy=bookkeeping, user=officer)

    assert execution.status == ExecutionStatus.BLOCKED
    expected = {
        "entity": (
            "Entity orders is on legal hold; policy 'bookkeeping' is not enforced until the hold is lifted."
        ),
        "policy": "Retention policy 'bookkeeping' is on legal hold; nothing is enforced until it is lifted.",
    }
    assert execution.error == expected[held]
    assert execution.policy_snapshot["legal_hold"] is (held == "policy")
    assert snapshot(shop) == before


@pytest.mark.django_db
def test_a_policy_on_a_table_never_applied_fails_clearly(shop, officer, steward):
    visits = catalog_object_save(obj=Entity(datastore=shop.store, name="visits"), user=steward)
    add_column(visits, "seen_at", "timestamptz", steward)
    execution = retention_enforce(
        policy=policy(visits, officer, "visits", "seen_at", 30, unit="days"), user=officer
    )

    assert execution.status == ExecutionStatus.FAILED
    assert execution.error == (
        "Table app.visits does not exist in data store 'shop': the entity was never applied. Apply a schema "
        "release first; nothing was changed."
    )


@pytest.mark.django_db
class TestRecords:
    def test_record_names_policy_version_trigger_user_and_timings(self, shop, officer):
        bookkeeping = policy(
            shop.orders, officer, "bookkeeping", "ordered_at", 10, regulation="SOX", legal_basis="17a"
        )
        bookkeeping.keep_for = 11
        bookkeeping = catalog_object_save(obj=bookkeeping, user=officer)

        execution = retention_enforce(policy=bookkeeping, user=officer, trigger=ExecutionTrigger.COMMAND)

        assert execution.policy == bookkeeping and execution.policy_version == 2
        assert execution.policy_snapshot == {
            "entity": "orders",
            "anchor_column": "ordered_at",
            "keep_for": 11,
            "keep_unit": "years",
            "action": "delete",
            "regulation": "SOX",
            "legal_basis": "17a",
            "legal_hold": False,
            "entity_legal_hold": False,
        }
        assert (execution.trigger, execution.requested_by, execution.rows_expired) == ("command", officer, 2)
        assert execution.started_at <= execution.finished_at and execution.timings["total"] > 0
        assert abs(execution.cutoff - (execution.started_at.replace(year=execution.started_at.year - 11))) < (
            timedelta(seconds=1)
        )

    def test_finished_records_cannot_be_changed_or_deleted(self, shop, officer):
        execution = retention_enforce(
            policy=policy(shop.orders, officer, "bookkeeping", "ordered_at", 10), dry_run=True, user=officer
        )
        execution.error = "rewritten"
        with pytest.raises(RecordError, match="has finished; its record cannot change"):
            execution.save()
        with pytest.raises(RecordError, match="cannot be deleted"):
            execution.delete()
        with pytest.raises(CatalogError, match="are records and cannot be deleted"):
            RetentionExecution.objects.all().delete()
        assert RetentionExecution.objects.get().error == ""

    def test_deleting_the_policy_keeps_the_record_readable(self, shop, officer):
        bookkeeping = policy(shop.orders, officer, "bookkeeping", "ordered_at", 10)
        retention_enforce(policy=bookkeeping, user=officer)
        bookkeeping.delete()
        execution = RetentionExecution.objects.get()
        assert execution.policy is None
        assert (execution.policy_name, execution.entity_name, execution.datastore_name) == (
            "bookkeeping",
            "orders",
            "shop",
        )

    def test_one_execution_at_a_time_per_policy(self, shop, officer):
        bookkeeping = policy(shop.orders, officer, "bookkeeping", "ordered_at", 10)
        retention_execution_request(policy=bookkeeping, enqueue=False)
        with pytest.raises(RetentionBusy, match="already has an execution queued or running"):
            retention_execution_request(policy=bookkeeping, enqueue=False)
        # Dry runs do not wait for each other
        retention_execution_request(policy=bookkeeping, dry_run=True, enqueue=False)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2030, 1, day, hour, minute, 30, tzinfo=UTC)


@pytest.mark.django_db
def test_the_daily_tick_queues_enforcement_once_per_slot(
    shop, officer, django_capture_on_commit_callbacks, settings
):
    settings.CUSTODIAN_JOBS_SYNC = True  # in-process, also when the suite runs with Redis
    bookkeeping = policy(shop.orders, officer, "bookkeeping", "ordered_at", 10)
    old_tickets = policy(shop.tickets, officer, "old tickets", "opened_at", 5, action="archive")

    # Before 02:00 (and the first tick after installing, hours after the slot) nothing runs
    assert retention_tick(now=at(1, 1, 59)) == []
    assert retention_tick(now=at(2, 15)) == []

    with django_capture_on_commit_callbacks(execute=True):
        queued = scheduler_tick(now=at(3, 2))["compliance.retention.retention_tick"]
    assert [e.policy for e in queued] == [bookkeeping, old_tickets]
    executions = RetentionExecution.objects.order_by("pk")
    assert [(e.status, e.trigger, e.sweep.slot) for e in executions] == [
        ("succeeded", "schedule", at(3, 2).replace(second=0)),
        ("succeeded", "schedule", at(3, 2).replace(second=0)),
    ]
    assert ids(shop, "orders") == [11, 21] and ids(shop, "tickets_archive") == [101, 102]

    # Later ticks of the same day, and of the same slot, queue nothing more
    for later in (at(3, 2, 1), at(3, 2, 30), at(3, 7)):
        assert retention_tick(now=later) == []
    assert RetentionExecution.objects.count() == 2 and RetentionSweep.objects.count() == 1
    # The next day's slot runs again
    assert len(retention_tick(now=at(4, 2))) == 2


@pytest.mark.django_db
def test_a_self_reference_cascades_level_by_level_and_ends(shop, folders, officer, settings):
    settings.CUSTODIAN_COMPLIANCE_BATCH_ROWS = 1
    execution = retention_enforce(
        policy=policy(folders, officer, "old folders", "created_at", 1), user=officer
    )

    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
    assert execution.rows_expired == 2
    assert effects(execution) == [("app.folders", "delete", 5)]
    assert table(shop, "folders") == [(6, None, None)]

"""Data subject requests against real PostgreSQL: find across related entities, export, erase after a dry
run and confirmation, and every bad input with a clear outcome and no partial change."""

import json
import threading
import time

import psycopg
import pytest
from django.db import connection as django_connection

from catalog.choices import PIICategory
from catalog.models import Column
from catalog.services import catalog_object_save
from compliance.choices import RequestKind, RequestStatus
from compliance.exceptions import ConfirmationMismatch
from compliance.models import SubjectRequest
from compliance.subjects import (
    subject_lock_key,
    subject_request_create,
    subject_request_erase,
    subject_request_export,
    subject_request_find,
)
from core.errors import RecordError
from core.masking import mask_value
from tests.compliance.conftest import hold, policy, query, run_sql, snapshot, table


def request(shop, identifier, kind=RequestKind.FIND, user=None, entity=None, column=None):
    column_obj = entity.columns.get(name=column) if column else None
    return subject_request_create(
        datastore=shop.store, identifier=identifier, kind=kind, user=user, entity=entity, column=column_obj
    )


def children_first(tables: list[str]) -> bool:
    """Every table came before the tables it references."""
    last = {name: len(tables) - 1 - tables[::-1].index(name) for name in tables}
    first = {name: tables.index(name) for name in tables}
    return (
        last["app.order_items"] < first["app.orders"]
        and max(last["app.orders"], last["app.tickets"]) < first["app.customers"]
    )


def summary(entries) -> list[tuple]:
    return [(e["table"], e["action"], e["rows"]) for e in entries]


@pytest.mark.django_db
class TestFind:
    def test_follows_foreign_keys_from_every_match_to_related_entities(self, shop, officer):
        findings = subject_request_find(request=request(shop, "ada@example.com", user=officer), user=officer)

        found = {e.finding.entity.name: e.finding for e in findings.entities}
        assert {name: f.count for name, f in found.items()} == {
            "customers": 1,
            "newsletter": 1,  # ADA@example.com: the same address in another case
            "order_items": 3,
            "orders": 2,
            "tickets": 1,
        }
        assert found["customers"].matched_on == ["email"] and found["customers"].via == []
        assert found["orders"].via == ["orders.customer_id → customers.id"]
        assert found["order_items"].via == ["order_items.order_id → orders.id"]
        assert found["tickets"].via == ["tickets.customer_id → customers.id"]
        # The officer may see personal data: rows are shown as stored
        rows = {e.finding.entity.name: e.rows for e in findings.entities}
        assert rows["customers"][0]["email"] == "ada@example.com" and not findings.masked
        assert sorted(r["id"] for r in rows["orders"]) == [10, 11]

        record = findings.request
        assert record.status == RequestStatus.COMPLETED
        assert record.outcome == (
            "Found 8 row(s) referring to the subject in 5 entities: customers (1), newsletter (1), "
            "order_items (3), orders (2), tickets (1)."
        )
        # What the record keeps is masked whoever asked
        kept = {e["entity"]: e for e in record.report["entities"]}
        assert kept["customers"]["rows"][0]["email"] == mask_value("ada@example.com", "hash")
        assert kept["tickets"]["rows"][0]["body"] == "[redacted]"
        assert record.report["masked"] is True

    def test_readers_without_view_pii_see_masked_rows(self, shop, steward):
        findings = subject_request_find(request=request(shop, "ada@example.com"), user=steward)
        assert findings.masked
        customers = next(e for e in findings.entities if e.finding.entity.name == "customers")
        assert customers.rows[0]["email"] == mask_value("ada@example.com", "hash")
        assert customers.rows[0]["full_name"] == "********lace"
        assert customers.rows[0]["segment"] == "vip"

    def test_a_number_finds_the_keys_it_fits(self, shop, officer):
        findings = subject_request_find(request=request(shop, "2"), user=officer)
        found = {e.finding.entity.name: e.finding for e in findings.entities}
        # customer 2, newsletter 2 and order... 2 does not exist; bob's orders and tickets follow from him
        assert found["customers"].matched_on == ["id"] and found["newsletter"].matched_on == ["id"]
        assert found["orders"].count == 2 and found["orders"].matched_on == []

    def test_self_references_are_followed_level_by_level_and_loops_end(self, shop, folders, officer):
        record = request(shop, "1", entity=folders)
        findings = subject_request_find(request=record, user=officer)
        [found] = findings.entities
        assert sorted(row["id"] for row in found.rows) == [1, 2, 3]
        assert found.finding.via == ["folders.parent_id → folders.id"]
        looped = subject_request_find(request=request(shop, "5", entity=folders), user=officer)
        assert sorted(row["id"] for row in looped.entities[0].rows) == [4, 5]

    def test_an_identifier_matching_nothing_says_so(self, shop, officer):
        record = subject_request_find(request=request(shop, "nobody@example.com"), user=officer).request
        assert record.status == RequestStatus.COMPLETED
        assert record.found == []
        assert record.outcome == (
            "No rows refer to 'nobody@example.com' in data store 'shop' (looked in: customers.email, "
            "customers.full_name, newsletter.email, orders.shipping_name)."
        )

    def test_a_value_that_cannot_be_in_the_column_asked_for_is_refused(self, shop, officer):
        record = request(shop, "ada@example.com", entity=shop.customers, column="id")
        record = subject_request_find(request=record, user=officer).request
        assert record.status == RequestStatus.REFUSED
        assert (
            record.outcome
            == "'ada@example.com' cannot be a value of customers.id (bigint); nothing was looked up."
        )


@pytest.mark.django_db
def test_export_holds_every_row_found_as_json(shop, officer):
    record = request(shop, "ada@example.com", RequestKind.ACCESS, officer, shop.customers, "email")

    record, document = subject_request_export(request=record, user=officer)

    assert record.status == RequestStatus.COMPLETED
    parsed = json.loads(json.dumps(document))
    assert parsed["masked"] is False and parsed["identifier"] == "ada@example.com"
    assert parsed["looked_in"] == ["customers.email"]
    entities = {e["entity"]: e for e in parsed["entities"]}
    assert sorted(entities) == ["customers", "order_items", "orders", "tickets"]  # not the newsletter
    assert entities["orders"]["rows"][0] == {
        "id": 10,
        "customer_id": 1,
        "ordered_at": entities["orders"]["rows"][0]["ordered_at"],
        "shipping_name": "Ada L.",
        "total": "120.50",
    }
    assert entities["tickets"]["rows"][0]["body"] == "Printer ate my order"
    assert "Printer ate my order" not in json.dumps(record.report)


@pytest.fixture
def ada_erasure(shop, officer):
    """Tickets are on legal hold; orders must be kept ten years by law (HGB), anonymized meanwhile."""
    hold(shop.tickets, officer)
    policy(shop.orders, officer, "bookkeeping", "ordered_at", 10, action="archive", legal_basis="HGB §257")
    return request(shop, "Ada@Example.com", RequestKind.ERASURE, officer, shop.customers, "email")


@pytest.mark.django_db
class TestErasure:
    def test_dry_run_then_confirmation_erases_holds_and_anonymizes(self, shop, officer, ada_erasure):
        before = snapshot(shop)

        planned = subject_request_erase(request=ada_erasure, user=officer)

        assert planned.status == RequestStatus.AWAITING_CONFIRMATION
        assert snapshot(shop) == before
        assert summary(planned.plan) == [
            ("app.customers", "anonymize", 1),
            ("app.newsletter", "delete", 1),  # ADA@example.com there is the same subject
            ("app.order_items", "keep", 1),  # the line of order 11, which stays
            ("app.order_items", "delete", 2),
            ("app.orders", "anonymize", 1),
            ("app.orders", "delete", 1),
            ("app.tickets", "hold", 1),
        ]
        notes = {(e["table"], e["action"]): e["note"] for e in planned.plan}
        assert notes[("app.customers", "anonymize")].startswith(
            "rows that stay still refer to them (email: hash"
        )
        assert notes[("app.orders", "anonymize")].startswith(
            "still required by retention policy 'bookkeeping' (shipping_name: NULL"
        )
        assert notes[("app.tickets", "hold")] == "entity tickets is on legal hold"
        assert planned.outcome == (
            "Dry run, nothing changed: would delete 4 row(s) in 3 table(s), anonymize 2 row(s), "
            "leave 1 row(s) untouched (legal hold), keep 1 row(s) unchanged (they stay and hold no personal "
            "data to anonymize). The identifier was found in customers.email, "
            "newsletter.email; the erasure covers each of them and every row that refers to them. Left as "
            "they are, in clear: the rows of app.tickets (entity tickets is on legal hold). "
            f"To erase, confirm with the request id ({planned.pk}) or the identifier."
        )

        with pytest.raises(ConfirmationMismatch, match="neither the request's id"):
            subject_request_erase(request=planned, user=officer, confirm="yes")
        assert snapshot(shop) == before

        erased = subject_request_erase(request=planned, user=officer, confirm="ada@example.com")

        assert erased.status == RequestStatus.COMPLETED, erased.error
        assert erased.outcome == (
            "Erased: deleted 4 row(s) in 3 table(s), anonymized 2 row(s), "
            "left 1 row(s) untouched (legal hold), kept 1 row(s) unchanged (they stay and hold no personal "
            "data to anonymize). Per table: app.customers: 1 anonymized; app.newsletter: 1 deleted; "
            "app.order_items: 2 deleted, 1 kept unchanged; app.orders: 1 anonymized, 1 deleted; "
            "app.tickets: 1 held."
        )
        after = snapshot(shop)
        ada = after["customers"][0]
        assert ada[:4] == (
            1,
            mask_value("ada@example.com", "hash"),
            mask_value("Ada Lovelace", "partial"),
            None,
        )
        assert ada[4:] == before["customers"][0][4:]
        assert [o[0] for o in after["orders"]] == [11, 20, 21]
        assert after["orders"][0] == (11, 1, before["orders"][1][2], None, before["orders"][1][4])
        # The kept order keeps its line; the deleted order's lines go
        assert [i[:2] for i in after["order_items"]] == [(11, 1), (20, 1), (21, 1), (21, 2)]
        assert after["tickets"] == before["tickets"]  # held, untouched
        assert after["newsletter"] == before["newsletter"][1:]  # the same address in another table
        assert after["customers"][1:] == before["customers"][1:]  # other subjects untouched
        # Children before parents
        assert children_first([e["table"] for e in erased.touched])
        # The record keeps counts, not the erased data
        assert "Ada Lovelace" not in json.dumps(erased.report) and erased.report["touched"] == erased.touched

    def test_the_lines_of_an_order_kept_by_retention_stay_with_it_and_the_dry_run_says_so(
        self, shop, officer, ada_erasure
    ):
        planned = subject_request_erase(request=ada_erasure, user=officer)

        kept = [e for e in planned.plan if e["table"] == "app.order_items" and e["action"] != "delete"]
        assert summary(kept) == [("app.order_items", "keep", 1)]
        assert kept[0]["note"].startswith("they belong to orders rows that stay, so they stay too")
        erased = subject_request_erase(request=planned, user=officer, confirm=str(planned.pk))

        assert erased.status == RequestStatus.COMPLETED, erased.error
        assert table(shop, "order_items", "1, 2")[0] == (11, 1, "paper", 5)
        assert [o[0] for o in table(shop, "orders")] == [11, 20, 21]

    def test_the_record_counts_the_rows_really_anonymized_not_the_rows_kept(self, shop, officer):
        # orders without personal data: a retained order stays as it is, nothing in it is anonymized
        shipping = Column.objects.get(pk=shop.orders.columns.get(name="shipping_name").pk)
        shipping.pii_category = PIICategory.NONE
        catalog_object_save(obj=shipping, user=officer)
        policy(shop.orders, officer, "bookkeeping", "ordered_at", 10, action="archive", legal_basis="HGB")
        ada = request(shop, "ada@example.com", RequestKind.ERASURE, officer, shop.customers, "email")
        subject_request_erase(request=ada, user=officer)

        erased = subject_request_erase(request=ada, user=officer, confirm=str(ada.pk))

        assert erased.status == RequestStatus.COMPLETED, erased.error
        touched = summary(erased.touched)
        assert ("app.orders", "keep", 1) in touched
        assert not [e for e in touched if e[0] == "app.orders" and e[1] == "anonymize"]
        anonymized = sum(e["rows"] for e in erased.touched if e["action"] == "anonymize")
        assert anonymized == 1  # only ada's customer row was changed
        assert "anonymized 1 row(s)" in erased.outcome
        assert "app.orders: 1 deleted, 1 kept unchanged" in erased.outcome

    def test_a_subject_nothing_holds_back_is_deleted_everywhere(self, shop, officer):
        bob = request(shop, "bob@example.com", RequestKind.ERASURE, officer, shop.customers, "email")
        before = snapshot(shop)

        subject_request_erase(request=bob, user=officer)
        erased = subject_request_erase(request=bob, user=officer, confirm=str(bob.pk))

        assert sorted(summary(erased.touched)) == [
            ("app.customers", "delete", 1),
            ("app.order_items", "delete", 3),
            ("app.orders", "delete", 2),
            ("app.tickets", "delete", 1),
        ]
        assert children_first([e["table"] for e in erased.touched])
        after = snapshot(shop)
        assert [c[0] for c in after["customers"]] == [1, 3, 4]
        assert [o[0] for o in after["orders"]] == [10, 11]
        assert [t[0] for t in after["tickets"]] == [100, 102]
        assert after["newsletter"] == before["newsletter"]

    def test_an_erasure_chosen_by_one_column_erases_the_identifier_in_every_table_holding_it(
        self, shop, officer
    ):
        # newsletter.email holds ADA@example.com too: erasing through customers.email must not leave it
        ada = request(shop, "ada@example.com", RequestKind.ERASURE, officer, shop.customers, "email")

        planned = subject_request_erase(request=ada, user=officer)

        assert planned.status == RequestStatus.AWAITING_CONFIRMATION, planned.outcome
        assert ("app.newsletter", "delete", 1) in summary(planned.plan)
        assert (
            "The identifier was found in customers.email, newsletter.email; the erasure covers each of them "
            "and every row that refers to them." in planned.outcome
        )
        erased = subject_request_erase(request=planned, user=officer, confirm=str(planned.pk))

        assert erased.status == RequestStatus.COMPLETED, erased.error
        left = query(
            shop.store,
            "SELECT 'customers' FROM app.customers WHERE lower(email) = 'ada@example.com' "
            "UNION ALL SELECT 'newsletter' FROM app.newsletter WHERE lower(email) = 'ada@example.com'",
        )
        assert left == []
        assert erased.outcome.endswith(
            "Per table: app.customers: 1 deleted; app.newsletter: 1 deleted; app.order_items: 3 deleted; "
            "app.orders: 2 deleted; app.tickets: 1 deleted."
        )

    def test_execution_needs_the_dry_run_first(self, shop, officer):
        bob = request(shop, "bob@example.com", RequestKind.ERASURE, officer, shop.customers, "email")
        with pytest.raises(ConfirmationMismatch, match="runs only after its dry run"):
            subject_request_erase(request=bob, user=officer, confirm=str(bob.pk))

    def test_a_key_matching_several_entities_is_refused_naming_them(self, shop, officer):
        before = snapshot(shop)
        two = request(shop, "2", RequestKind.ERASURE, officer)  # customer 2 and newsletter entry 2

        refused = subject_request_erase(request=two, user=officer)

        assert refused.status == RequestStatus.REFUSED
        assert refused.outcome == (
            "'2' matches rows in 2 entities (customers.id, newsletter.id), and not all of them are the same "
            "person. Choose the entity and the column that identify the subject; nothing was changed."
        )
        assert snapshot(shop) == before

    def test_an_identifier_matching_nothing_erases_nothing(self, shop, officer):
        nobody = request(shop, "nobody@example.com", RequestKind.ERASURE, officer)
        record = subject_request_erase(request=nobody, user=officer)
        assert record.status == RequestStatus.COMPLETED
        assert record.outcome.startswith("No rows refer to 'nobody@example.com' in data store 'shop'")
        assert record.outcome.endswith("Nothing to erase.")

    def test_a_database_error_half_way_erases_nothing(self, shop, officer):
        run_sql(
            shop.url,
            "CREATE FUNCTION app.keep_customers() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'customers are archived by the nightly job'; END $$;"
            "CREATE TRIGGER keep BEFORE DELETE ON app.customers FOR EACH ROW "
            "EXECUTE FUNCTION app.keep_customers();",
        )
        bob = request(shop, "bob@example.com", RequestKind.ERASURE, officer, shop.customers, "email")
        subject_request_erase(request=bob, user=officer)
        before = snapshot(shop)

        failed = subject_request_erase(request=bob, user=officer, confirm=str(bob.pk))

        assert failed.status == RequestStatus.FAILED
        assert failed.outcome == (
            "The data store refused it: customers are archived by the nightly job. "
            "The transaction was rolled back: nothing was erased."
        )
        # Tickets, order lines and orders were deleted before customers failed: all of it came back
        assert snapshot(shop) == before
        assert failed.touched == []

    def test_finished_requests_are_records(self, shop, officer):
        record = subject_request_find(request=request(shop, "bob@example.com"), user=officer).request
        record.identifier = "someone else"
        with pytest.raises(RecordError, match="has finished"):
            record.save()
        with pytest.raises(RecordError, match="cannot be deleted"):
            record.delete()
        with pytest.raises(ConfirmationMismatch, match="not an erasure"):
            subject_request_erase(request=record, confirm=str(record.pk))


@pytest.mark.django_db
def test_a_second_request_while_another_holds_the_subject_is_refused(shop, officer):
    """Another connection (another request's transaction) holds the subject's lock."""
    with psycopg.connect(shop.url) as other:
        other.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [subject_lock_key(datastore=shop.store, identifier=" BOB@example.com")],
        )
        busy = subject_request_find(request=request(shop, "bob@example.com"), user=officer).request
        other.rollback()
    assert busy.status == RequestStatus.REFUSED
    assert busy.outcome == (
        "Another request for this subject in data store 'shop' is running; try again when it has finished. "
        "Nothing was done."
    )
    # Another subject is not held up, and once released the subject can be asked for again
    assert (
        subject_request_find(request=request(shop, "ada@example.com"), user=officer).request.status
        == "completed"
    )
    assert (
        subject_request_find(request=request(shop, "bob@example.com"), user=officer).request.status
        == "completed"
    )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_requests_for_one_subject_at_once_one_is_refused(shop, officer):
    """A real erasure in a thread, slowed by a trigger, while a find for the same subject starts."""
    run_sql(
        shop.url,
        "CREATE FUNCTION app.slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(2); "
        "RETURN OLD; END $$;"
        "CREATE TRIGGER slow BEFORE DELETE ON app.customers FOR EACH ROW EXECUTE FUNCTION app.slow();",
    )
    bob = request(shop, "bob@example.com", RequestKind.ERASURE, officer, shop.customers, "email")
    subject_request_erase(request=bob, user=officer)
    results = {}

    def erase():
        try:
            results["erased"] = subject_request_erase(request=bob, user=officer, confirm=str(bob.pk))
        finally:
            django_connection.close()

    worker = threading.Thread(target=erase)
    worker.start()
    deadline = time.monotonic() + 10
    while not query(shop.store, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")[0][
        0
    ]:
        assert time.monotonic() < deadline, "the erasure never took the subject's lock"
        time.sleep(0.05)
    second = subject_request_find(request=request(shop, "bob@example.com"), user=officer).request
    worker.join(20)

    assert second.status == RequestStatus.REFUSED and "Another request for this subject" in second.outcome
    assert results["erased"].status == RequestStatus.COMPLETED
    assert [c[0] for c in table(shop, "customers")] == [1, 3, 4]
    assert SubjectRequest.objects.get(pk=bob.pk).status == RequestStatus.COMPLETED


@pytest.mark.django_db
def test_an_erasure_by_e_mail_alone_covers_every_table_that_holds_it(shop, officer):
    ada = request(shop, "ada@example.com", RequestKind.ERASURE, officer)

    planned = subject_request_erase(request=ada, user=officer)

    assert planned.status == RequestStatus.AWAITING_CONFIRMATION, planned.outcome
    assert {f["entity"]: f["matched_on"] for f in planned.found if f["matched_on"]} == {
        "customers": ["email"],
        "newsletter": ["email"],
    }

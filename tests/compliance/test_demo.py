"""End to end on the demo data stores (`load_demo` applied to real PostgreSQL): the demo's retention policies
enforced, and one customer found across the shop's related tables, exported and erased."""

import io
import json

import psycopg
import pytest
from django.core.management import call_command
from psycopg import sql

from compliance.models import SubjectRequest
from core.masking import mask_value
from core.quoting import identifier
from tests.catalog.schema.conftest import scratch_database  # noqa: F401
from tests.pipelines.conftest import import_root  # noqa: F401

ROWS = """
INSERT INTO shop.users (id, email, password_hash, last_login_at) VALUES
  (1, 'ada@example.com', 'pbkdf2$ada', now() - interval '2 days'),
  (2, 'gone@example.com', 'pbkdf2$gone', now() - interval '4 years');
INSERT INTO shop.customers (id, user_id, first_name, last_name, email, phone, birth_date, closed_at) VALUES
  (1, 1, 'Ada', 'Lovelace', 'ada@example.com', '+44 20 7946 0000', '1915-12-10', NULL),
  (2, 2, 'Gone', 'Away', 'gone@example.com', '+49 30 1234567', '1970-01-01', now() - interval '3 years');
INSERT INTO shop.addresses (id, customer_id, street, postal_code, city, country_code) VALUES
  (1, 1, '12 St James Square', 'SW1Y 4JH', 'London', 'GB'),
  (2, 2, 'Unter den Linden 1', '10117', 'Berlin', 'DE');
INSERT INTO shop.products (id, sku, name, unit_price) VALUES
  (1, 'PEN-1', 'Pen', 2.50), (2, 'INK-1', 'Ink', 7.00);
INSERT INTO shop.orders (id, customer_id, shipping_address_id, status, total_amount, ordered_at) VALUES
  (1, 1, 1, 'paid', 12.00, now() - interval '3 years'),
  (2, 1, 1, 'shipped', 2.50, now() - interval '1 month'),
  (3, 2, 2, 'paid', 7.00, now() - interval '5 years');
INSERT INTO shop.order_items (order_id, line_no, product_id, quantity, unit_price) VALUES
  (1, 1, 1, 2, 2.50), (1, 2, 2, 1, 7.00), (2, 1, 1, 1, 2.50), (3, 1, 2, 1, 7.00);
INSERT INTO shop.payments (order_id, method, card_last4, iban, amount, paid_at) VALUES
  (1, 'card', '4242', NULL, 12.00, now() - interval '3 years'),
  (2, 'transfer', NULL, 'DE89370400440532013000', 2.50, now() - interval '1 month'),
  (3, 'card', '1881', NULL, 7.00, now() - interval '5 years');
"""


@pytest.fixture
def demo(db, import_root, scratch_database, monkeypatch):  # noqa: F811
    """Both demo stores applied to one new database (as `make run` does), with a few customers."""
    url = scratch_database()
    monkeypatch.setenv("CUSTODIAN_SHOP_URL", url)
    monkeypatch.setenv("CUSTODIAN_WAREHOUSE_URL", url)
    call_command("load_demo", "--no-rows", stdout=io.StringIO())
    url = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as connection:
        connection.execute(ROWS)
    return url


def rows(url: str, table: str, columns: str = "*") -> list[tuple]:
    with psycopg.connect(url) as connection:
        statement = sql.SQL("SELECT {} FROM {} ORDER BY 1, 2").format(
            sql.SQL(columns), identifier("shop", table)
        )
        return connection.execute(statement).fetchall()


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_the_demo_policies_remove_or_anonymize_what_is_past_retention_and_nothing_else(demo):
    before = {
        t: rows(demo, t) for t in ("users", "customers", "addresses", "orders", "order_items", "payments")
    }

    out = run("enforce_retention", "--user", "demo_officer")

    assert out.splitlines()[-1] == "5 policies, 0 failed."
    assert "  blocked: Retention policy 'old addresses' is on legal hold;" in out
    # Accounts unused for three years: deleted, and the customer's link to it cleared (ON DELETE SET NULL)
    assert "  shop.customers: 1 row(s) had the reference cleared (user_id set to NULL)" in out
    assert "  shop.users: 1 row(s) deleted" in out
    assert rows(demo, "users") == before["users"][:1]
    # Accounts closed two years ago: personal data anonymized, the rest kept
    customers = rows(demo, "customers")
    assert customers[0] == before["customers"][0]
    gone = before["customers"][1]
    # (partial masking never shows more than half of a short name; the e-mail keeps the shape its
    # CHECK constraint asks for)
    assert customers[1][:8] == (
        2,
        None,
        mask_value(gone[2], "partial"),
        mask_value(gone[3], "partial"),
        mask_value("gone@example.com", "hash") + "@anonymized.invalid",
        mask_value("+49 30 1234567", "partial"),
        None,
        gone[7],
    )
    assert customers[1][8:] == gone[8:]
    # Card data after 13 months: deleted; bookkeeping (ten years) has nothing to archive yet
    assert [p[0] for p in rows(demo, "payments", "order_id, method")] == [2]
    assert "  0 row(s) past the period" in out.split("Policy 'bookkeeping'")[1].split("Policy")[0]
    for untouched in ("addresses", "orders", "order_items"):
        assert rows(demo, untouched) == before[untouched]


def test_a_customer_is_found_across_the_shop_exported_and_erased(demo, tmp_path):
    subject = [
        "subject_request",
        "--datastore",
        "shop",
        "--identifier",
        "ada@example.com",
        "--user",
        "demo_officer",
    ]

    found = run(*subject, "--action", "find")
    assert found.splitlines()[0].endswith(
        "Found 10 row(s) referring to the subject in 6 entities: addresses (1), customers (1), "
        "order_items (3), orders (2), payments (2), users (1)."
    )
    for line in (
        "  shop.users: 1 row(s), matched on email",
        "  shop.customers: 1 row(s), matched on email",
        "  shop.addresses: 1 row(s), via addresses.customer_id → customers.id",
        "  shop.orders: 2 row(s), via orders.customer_id → customers.id",
        "  shop.order_items: 3 row(s), via order_items.order_id → orders.id",
        "  shop.payments: 2 row(s), via payments.order_id → orders.id",
    ):
        assert line in found

    path = tmp_path / "ada.json"
    run(*subject, "--action", "export", "--entity", "customers", "--column", "email", "-o", str(path))
    export = json.loads(path.read_text())
    assert {e["entity"]: e["count"] for e in export["entities"]} == {
        "addresses": 1,
        "customers": 1,
        "order_items": 3,
        "orders": 2,
        "payments": 2,
    }
    payments = next(e for e in export["entities"] if e["entity"] == "payments")["rows"]
    assert {p["iban"] for p in payments} == {None, "DE89370400440532013000"}  # the officer sees clear data

    erase = [*subject, "--action", "erase", "--entity", "customers", "--column", "email"]
    before = {"addresses": rows(demo, "addresses")}
    dry_run = run(*erase, "--dry-run")
    assert (
        "The identifier was found in customers.email, users.email; the erasure covers each of them" in dry_run
    )
    assert (
        "Left as they are, in clear: the rows of shop.addresses (retention policy 'old addresses'" in dry_run
    )
    request = SubjectRequest.objects.get(kind="erasure")
    done = run(*erase, "--confirm", str(request.pk))

    request.refresh_from_db()
    assert request.status == "completed", request.outcome
    # The law keeps orders (bookkeeping, ten years), the recent payment (card data, 13 months) and the
    # account (inactive accounts), and with them the customer they refer to: all anonymized. The orders'
    # lines belong to them and stay too; neither holds personal data, so both are kept unchanged and not
    # counted as anonymized. Addresses are on legal hold and stay as they are. The rest goes.
    assert sorted((e["table"], e["action"], e["rows"]) for e in request.touched) == [
        ("shop.addresses", "hold", 1),
        ("shop.customers", "anonymize", 1),
        ("shop.order_items", "keep", 3),
        ("shop.orders", "keep", 2),
        ("shop.payments", "anonymize", 1),
        ("shop.payments", "delete", 1),
        ("shop.users", "anonymize", 1),
    ]
    assert "Erased: deleted 1 row(s) in 1 table(s), anonymized 3 row(s), left 1 row(s) untouched" in done
    assert "kept 5 row(s) unchanged" in done
    ada = rows(demo, "customers", "id, first_name, last_name, email, phone, birth_date, segment")[0]
    assert ada == (
        1,
        mask_value("Ada", "partial"),  # never more than half of a short name
        "****lace",
        mask_value("ada@example.com", "hash") + "@anonymized.invalid",
        "************0000",
        None,
        "retail",
    )
    assert rows(demo, "addresses") == before["addresses"]  # legal hold
    assert rows(demo, "payments", "order_id, card_last4, iban") == [
        (2, None, mask_value("DE89370400440532013000", "tokenize")),
        (3, "1881", None),
    ]
    # The kept orders keep their lines
    assert [i[:2] for i in rows(demo, "order_items")] == [(1, 1), (1, 2), (2, 1), (3, 1)]
    assert [o[:2] for o in rows(demo, "orders")] == [(1, 1), (2, 1), (3, 2)]
    # The account found through its own e-mail column is the subject's too (issue 16 #11)
    assert rows(demo, "users", "id, email") == [
        (1, mask_value("ada@example.com", "hash") + "@anonymized.invalid"),
        (2, "gone@example.com"),
    ]


@pytest.fixture
def seeded_demo(db, import_root, scratch_database, monkeypatch):  # noqa: F811
    """Both demo stores applied to one new database with the demo's own rows, as `make run` leaves them."""
    url = scratch_database()
    monkeypatch.setenv("CUSTODIAN_SHOP_URL", url)
    monkeypatch.setenv("CUSTODIAN_WAREHOUSE_URL", url)
    output = run("load_demo")
    return url.replace("postgresql+psycopg://", "postgresql://"), output


COUNT = sql.SQL("SELECT count(*) FROM {}")


def counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as connection:
        return {
            table: connection.execute(COUNT.format(identifier("shop", table))).fetchone()[0]
            for table in ("users", "customers", "addresses", "products", "orders", "order_items", "payments")
        }


def test_the_demo_shop_has_hundreds_of_personal_data_rows_some_expired_some_held(seeded_demo):
    url, output = seeded_demo
    seeded = counts(url)
    assert seeded == {
        "users": 160,
        "customers": 184,
        "addresses": 184,
        "products": 12,
        "orders": 320,
        "order_items": 654,
        "payments": 229,
    }
    assert "Added demo rows to 'shop': 160 users, 184 customers, 184 addresses, 12 products" in output
    with psycopg.connect(url) as connection:
        # The README's subject is both an account and a customer
        assert connection.execute(
            "SELECT count(*) FROM shop.users WHERE email = 'ada@example.com'"
        ).fetchone()[0]
        assert connection.execute(
            "SELECT first_name, last_name FROM shop.customers WHERE email = 'ada@example.com'"
        ).fetchone() == ("Ada", "Lovelace")

    # The retention dry run finds rows past every period, and the held policy blocks its own
    out = run("enforce_retention", "--user", "demo_officer", "--dry-run")
    for policy, expired in (
        ("closed accounts", 12),
        ("bookkeeping", 0),
        ("card data", 154),
        ("inactive accounts", 12),
    ):
        assert f"  {expired} row(s) past the period" in out.split(f"Policy '{policy}'")[1].split("Policy")[0]
    assert "'old addresses' is on legal hold" in out
    assert counts(url) == seeded  # a dry run changes nothing


def test_loading_the_demo_again_adds_only_the_missing_rows_and_keeps_edits(seeded_demo):
    url, _output = seeded_demo
    with psycopg.connect(url) as connection:
        connection.execute("UPDATE shop.customers SET phone = '+44 20 7946 0999' WHERE id = 1")
        connection.execute("DELETE FROM shop.payments")
        connection.execute("DELETE FROM shop.order_items WHERE order_id = 5001")
        connection.execute("DELETE FROM shop.orders WHERE id = 5001")

    output = run("load_demo")

    # The emptied table is filled again, but for the payment of the order that is gone
    assert "Added demo rows to 'shop': 228 payments." in output
    assert counts(url)["payments"] == 228
    with psycopg.connect(url) as connection:
        assert connection.execute("SELECT phone FROM shop.customers WHERE id = 1").fetchone() == (
            "+44 20 7946 0999",
        )
        # The removed order stays removed, and so its payment does not come back without it
        assert connection.execute("SELECT count(*) FROM shop.orders WHERE id = 5001").fetchone() == (0,)
        assert connection.execute("SELECT count(*) FROM shop.payments WHERE order_id = 5001").fetchone() == (
            0,
        )
    assert "'shop' has its rows; no demo rows were added." in run("load_demo")


def test_the_demo_stores_run_user_sql_as_their_read_only_role(seeded_demo):
    """README, "Security model": a store names a read-only role; the demo's do, and it can read, not write."""
    from catalog.models import DataStore
    from core.connections import datastore_guard, datastore_pg_connect

    shop = DataStore.objects.get(name="shop")
    assert shop.read_role == "custodian_demo_reader"
    with datastore_pg_connect(shop) as connection, connection.transaction(), connection.cursor() as cursor:
        datastore_guard(cursor, shop, timeout_seconds=5)
        cursor.execute("SELECT current_user, (SELECT count(*) FROM customers)")
        assert cursor.fetchone() == ("custodian_demo_reader", 184)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with datastore_pg_connect(shop) as connection, connection.cursor() as cursor:
            cursor.execute("SET ROLE custodian_demo_reader")
            cursor.execute("DELETE FROM shop.customers")

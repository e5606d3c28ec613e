"""Compliance against real PostgreSQL: a `shop` store (schema app) published and applied from the catalog,
holding customers, their orders and order lines, support tickets and a newsletter list, with known dates.

customers 1 ada (closed 3 years ago), 2 bob, 3 cy (closed 5 years ago, no orders), 4 dee (closed 6 years ago)
orders    10 ada, 12 years old; 11 ada, 1 year old; 20 bob, 11 years old; 21 bob, 2 months old
items     (10,1) (10,2) (11,1) (20,1) (21,1) (21,2)
tickets   100 ada (2 years old); 101 bob (11 years old); 102 dee (6 years old)
newsletter 1 ada@example.com, 2 someone@example.com
"""

from types import SimpleNamespace

import pytest
from psycopg import sql

from catalog.choices import DataType, PIICategory
from catalog.models import Entity, Regulation, RetentionPolicy
from catalog.schema.apply import schema_apply_execute
from catalog.schema.releases import release_publish
from catalog.services import catalog_object_save
from core.quoting import identifier
from tests.catalog.schema.conftest import run_sql, scratch_database, target_store  # noqa: F401
from tests.conftest import add_column
from tests.pipelines.conftest import query, store_url

ROWS = """
INSERT INTO app.customers (id, email, full_name, birth_date, segment, created_at, closed_at) VALUES
  (1, 'ada@example.com', 'Ada Lovelace', '1815-12-10', 'vip',
   now() - interval '13 years', now() - interval '3 years'),
  (2, 'bob@example.com', 'Bob Marley', '1945-02-06', 'retail', now() - interval '12 years', NULL),
  (3, 'cy@example.com', 'Cy Twombly', NULL, 'retail', now() - interval '9 years', now() - interval '5 years'),
  (4, 'dee@example.com', 'Dee Dee', '1951-09-18', 'retail',
   now() - interval '10 years', now() - interval '6 years');
INSERT INTO app.orders (id, customer_id, ordered_at, shipping_name, total) VALUES
  (10, 1, now() - interval '12 years', 'Ada L.', 120.50),
  (11, 1, now() - interval '1 year', 'Ada L.', 35.00),
  (20, 2, now() - interval '11 years', 'Bob M.', 99.99),
  (21, 2, now() - interval '2 months', 'Bob M.', 10.00);
INSERT INTO app.order_items (order_id, line_no, product, quantity) VALUES
  (10, 1, 'pen', 2), (10, 2, 'ink', 1), (11, 1, 'paper', 5), (20, 1, 'guitar', 1), (21, 1, 'strings', 3),
  (21, 2, 'picks', 10);
INSERT INTO app.tickets (id, customer_id, body, opened_at) VALUES
  (100, 1, 'Printer ate my order', now() - interval '2 years'),
  (101, 2, 'Where is my guitar?', now() - interval '11 years'),
  (102, 4, 'Please close my account', now() - interval '6 years');
INSERT INTO app.newsletter (id, email, subscribed_at) VALUES
  (1, 'ADA@example.com', now() - interval '4 years'),
  (2, 'someone@example.com', now() - interval '1 year');
"""


def _entity(store, name, user, **fields):
    return catalog_object_save(obj=Entity(datastore=store, name=name, owner=user, **fields), user=user)


def _catalog(store, user) -> SimpleNamespace:
    customers = _entity(store, "customers", user)
    customer_id = add_column(customers, "id", DataType.BIGINT, user, primary_key_position=1, nullable=False)
    add_column(
        customers,
        "email",
        DataType.VARCHAR,
        user,
        length=200,
        nullable=False,
        is_unique=True,
        pii_category=PIICategory.DIRECT_IDENTIFIER,
        masking_strategy="hash",
    )
    add_column(
        customers,
        "full_name",
        DataType.VARCHAR,
        user,
        length=100,
        pii_category=PIICategory.DIRECT_IDENTIFIER,
        masking_strategy="partial",
    )
    add_column(customers, "birth_date", DataType.DATE, user, pii_category=PIICategory.QUASI_IDENTIFIER)
    add_column(customers, "segment", DataType.VARCHAR, user, length=20)
    add_column(customers, "created_at", DataType.TIMESTAMPTZ, user, nullable=False)
    add_column(customers, "closed_at", DataType.TIMESTAMPTZ, user)

    orders = _entity(store, "orders", user)
    order_id = add_column(orders, "id", DataType.BIGINT, user, primary_key_position=1, nullable=False)
    add_column(
        orders,
        "customer_id",
        DataType.BIGINT,
        user,
        nullable=False,
        references=customer_id,
        on_delete="restrict",
    )
    add_column(orders, "ordered_at", DataType.TIMESTAMPTZ, user, nullable=False)
    add_column(
        orders,
        "shipping_name",
        DataType.VARCHAR,
        user,
        length=100,
        pii_category=PIICategory.DIRECT_IDENTIFIER,
    )
    add_column(orders, "total", DataType.NUMERIC, user, precision=12, scale=2)

    items = _entity(store, "order_items", user)
    add_column(
        items,
        "order_id",
        DataType.BIGINT,
        user,
        primary_key_position=1,
        nullable=False,
        references=order_id,
        on_delete="cascade",
    )
    add_column(items, "line_no", DataType.INTEGER, user, primary_key_position=2, nullable=False)
    add_column(items, "product", DataType.VARCHAR, user, length=50)
    add_column(items, "quantity", DataType.INTEGER, user)

    tickets = _entity(store, "tickets", user)
    add_column(tickets, "id", DataType.BIGINT, user, primary_key_position=1, nullable=False)
    add_column(tickets, "customer_id", DataType.BIGINT, user, references=customer_id, on_delete="set_null")
    add_column(tickets, "body", DataType.TEXT, user, pii_category=PIICategory.HEALTH)
    add_column(tickets, "opened_at", DataType.TIMESTAMPTZ, user)

    newsletter = _entity(store, "newsletter", user)
    add_column(newsletter, "id", DataType.BIGINT, user, primary_key_position=1, nullable=False)
    add_column(
        newsletter,
        "email",
        DataType.VARCHAR,
        user,
        length=200,
        is_unique=True,
        pii_category=PIICategory.DIRECT_IDENTIFIER,
        masking_strategy="hash",
    )
    add_column(newsletter, "subscribed_at", DataType.TIMESTAMPTZ, user)
    return SimpleNamespace(
        customers=customers, orders=orders, items=items, tickets=tickets, newsletter=newsletter
    )


@pytest.fixture
def shop(target_store, steward):  # noqa: F811
    """The applied `shop` store with its rows; attributes: store, url and one per entity."""
    store = target_store("shop", "app")
    entities = _catalog(store, steward)
    release_publish(datastore=store, user=steward, message="shop")
    schema_apply_execute(datastore=store, target_version=1, user=steward)
    run_sql(store_url(store), ROWS)
    return SimpleNamespace(store=store, url=store_url(store), **vars(entities))


@pytest.fixture
def folders(shop, steward):
    """app.folders, made by hand after the release: 1 (3 years old) <- 2 <- 3, and 4 (3 years old) <-> 5 in
    a loop (each the other's parent), and 6 alone; ON DELETE CASCADE on the self-reference."""
    entity = catalog_object_save(
        obj=Entity(datastore=shop.store, name="folders", owner=steward), user=steward
    )
    folder_id = add_column(entity, "id", DataType.BIGINT, steward, primary_key_position=1, nullable=False)
    add_column(entity, "parent_id", DataType.BIGINT, steward, references=folder_id, on_delete="cascade")
    add_column(entity, "created_at", DataType.TIMESTAMPTZ, steward)
    run_sql(
        shop.url,
        "CREATE TABLE app.folders (id bigint PRIMARY KEY, "
        "parent_id bigint REFERENCES app.folders (id) ON DELETE CASCADE, created_at timestamptz);"
        "INSERT INTO app.folders VALUES (1, NULL, now() - interval '3 years'), (2, 1, now()), (3, 2, now()),"
        " (4, NULL, now() - interval '3 years'), (5, 4, now()), (6, NULL, NULL);"
        "UPDATE app.folders SET parent_id = 5 WHERE id = 4;",
    )
    return entity


def policy(entity, user, name, anchor, keep_for, unit="years", action="delete", **fields) -> RetentionPolicy:
    """A retention policy saved through the catalog service (validated, audited)."""
    if "regulation" in fields and isinstance(fields["regulation"], str):
        fields["regulation"] = Regulation.objects.get(code=fields["regulation"])
    return catalog_object_save(
        obj=RetentionPolicy(
            entity=entity,
            name=name,
            anchor_column=entity.columns.get(name=anchor),
            keep_for=keep_for,
            keep_unit=unit,
            action=action,
            **fields,
        ),
        user=user,
    )


def hold(obj, user):
    """Put an entity or policy on legal hold (a fresh copy, so versions line up)."""
    fresh = type(obj).objects.get(pk=obj.pk)
    fresh.legal_hold = True
    return catalog_object_save(obj=fresh, user=user)


def table(shop, name: str, order: str = "1") -> list[tuple]:
    """Every row of app.<name>, ordered (the whole table, to prove nothing else changed)."""
    return query(
        shop.store, sql.SQL("SELECT * FROM {} ORDER BY {}").format(identifier("app", name), sql.SQL(order))
    )


def snapshot(shop) -> dict:
    return {
        name: table(shop, name, "1, 2")
        for name in ("customers", "orders", "order_items", "tickets", "newsletter")
    }


__all__ = ["policy", "hold", "table", "snapshot", "query", "run_sql", "ROWS"]

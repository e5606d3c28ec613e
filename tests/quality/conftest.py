"""Quality against real PostgreSQL: a `dq` store whose tables were created by hand, without constraints,
holding known numbers of bad rows."""

import psycopg
import pytest

from catalog.choices import DataType, PIICategory
from catalog.models import Entity
from catalog.services import catalog_object_save
from tests.catalog.schema.conftest import run_sql, scratch_database, target_store  # noqa: F401
from tests.conftest import add_column
from tests.pipelines.conftest import query, store_url

ROWS = 100
BAD = {
    "null_email": 3,
    "bad_pattern": 2,
    "duplicate_rows": 4,
    "out_of_range": 5,
    "bad_tier": 6,
    "orphans": 7,
    "null_country": 8,
}


def customer_rows() -> list[tuple]:
    """The customer rows as values: (customer_id, email, country, score, tier, hours since updated)."""
    rows = []
    for i in range(1, ROWS + 1):
        email = f"user{i}@example.com"
        if i <= 3:
            email = None
        elif i <= 5:
            email = f"user{i}-at-example.com"
        elif i <= 9:
            email = f"dup{(i - 6) // 2}@example.com"  # rows 6,7 and 8,9 share an address
        score = 150 + i if 10 <= i < 15 else i % 100
        tier = "platinum" if 15 <= i < 21 else "gold"
        country = "XX" if 21 <= i < 28 else (None if 28 <= i < 36 else "DE")
        rows.append((i, email, country, score, tier, i))
    return rows


@pytest.fixture
def dq(target_store, steward):  # noqa: F811
    """A PostgreSQL store `dq` (schema app): country and customer, described in the catalog, with bad rows."""
    store = target_store("dq")
    country = catalog_object_save(obj=Entity(datastore=store, name="country"), user=steward)
    code = add_column(
        country, "code", DataType.CHAR, steward, length=2, primary_key_position=1, nullable=False
    )
    add_column(country, "name", DataType.VARCHAR, steward, length=100)
    customer = catalog_object_save(obj=Entity(datastore=store, name="customer"), user=steward)
    add_column(customer, "customer_id", DataType.INTEGER, steward, primary_key_position=1, nullable=False)
    add_column(
        customer,
        "email",
        DataType.VARCHAR,
        steward,
        length=200,
        nullable=False,
        is_unique=True,
        pattern="^[^@]+@[^@]+$",
        pii_category=PIICategory.DIRECT_IDENTIFIER,
    )
    add_column(customer, "country", DataType.CHAR, steward, length=2, references=code)
    add_column(customer, "score", DataType.INTEGER, steward, min_value="0", max_value="100")
    add_column(customer, "tier", DataType.VARCHAR, steward, length=20, allowed_values=["gold", "silver"])
    add_column(customer, "updated_at", DataType.TIMESTAMPTZ, steward)
    run_sql(
        store_url(store),
        "CREATE SCHEMA app;"
        "CREATE TABLE app.country (code char(2), name varchar(100));"
        "INSERT INTO app.country VALUES ('DE', 'Germany'), ('FR', 'France');"
        "CREATE TABLE app.customer (customer_id int, email varchar(200), country char(2), score int, "
        "tier varchar(20), updated_at timestamptz);",
    )
    with psycopg.connect(store_url(store), autocommit=True) as connection:
        connection.cursor().executemany(
            "INSERT INTO app.customer VALUES (%s, %s, %s, %s, %s, now() - %s * interval '1 hour')",
            customer_rows(),
        )
    store.country, store.customer = country, customer
    return store


__all__ = ["query", "store_url", "run_sql", "ROWS", "BAD"]

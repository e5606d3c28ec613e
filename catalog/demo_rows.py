"""The demo shop's rows: a few hundred realistic, deterministic rows of personal data for the shop store.

Generated in code from a fixed seed (no downloads), with dates counted back from the day of loading, so
that every compliance screen shows something true: accounts unused for more than three years, accounts
closed more than two years ago and card payments older than 13 months (past their retention periods),
orders that the ten years of bookkeeping still keep, addresses under a legal hold, and `ada@example.com`
both as a user account and as a customer (the subject of the README's erasure walk-through).

`demo_rows_seed` only adds what is missing: a table that already holds rows (the user's own, or the demo's
after an erasure or a retention run) is left as it is; an empty one gets the demo's rows, except those
whose parent row is no longer there.
"""

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from psycopg import sql

from catalog.models import DataStore
from core.connections import datastore_pg_connect

__all__ = ["DEMO_SUBJECT", "DemoRows", "demo_rows", "demo_rows_seed"]

DEMO_SUBJECT = "ada@example.com"
SEED = 20240517
USERS, GUESTS, ORDERS = 160, 24, 320

FIRST_NAMES = [
    "Alan", "Grace", "Linus", "Margaret", "Edsger", "Barbara", "Dennis", "Frances", "Ken", "Hedy",
    "Tim", "Katherine", "Donald", "Radia", "John", "Sophie", "Niklaus", "Adele", "Guido", "Anita",
    "Bjarne", "Karen", "Leslie", "Shafi", "Yukihiro", "Jean", "Marie", "Lars", "Elena", "Mateo",
]  # fmt: skip
LAST_NAMES = [
    "Turing", "Hopper", "Torvalds", "Hamilton", "Dijkstra", "Liskov", "Ritchie", "Allen", "Thompson",
    "Lamarr", "Berners-Lee", "Johnson", "Knuth", "Perlman", "McCarthy", "Wilson", "Wirth", "Goldberg",
    "van Rossum", "Borg", "Stroustrup", "Spärck Jones", "Lamport", "Goldwasser", "Matsumoto", "Sammet",
    "Curie", "Nielsen", "García", "Rossi",
]  # fmt: skip
DOMAINS = ["example.com", "example.org", "example.net"]
# country code: (phone number pattern, [(city, postal code pattern)], street names)
# fmt: off
PLACES = {
    "GB": ("+44 20 7946 0###",
           [("London", "SW1A #AA"), ("Leeds", "LS1 #AB")],
           ["High Street", "Station Road"]),
    "DE": ("+49 30 #######",
           [("Berlin", "10###"), ("Munich", "80###")],
           ["Hauptstraße", "Lindenallee"]),
    "FR": ("+33 1 ## ## ## ##",
           [("Paris", "750##"), ("Lyon", "6900#")],
           ["Rue de la Paix", "Avenue Foch"]),
    "NL": ("+31 20 ### ####",
           [("Amsterdam", "10## AB"), ("Utrecht", "35## CD")],
           ["Keizersgracht", "Damstraat"]),
    "ES": ("+34 91 ### ## ##",
           [("Madrid", "280##"), ("Seville", "410##")],
           ["Calle Mayor", "Gran Vía"]),
    "IT": ("+39 06 #### ####",
           [("Rome", "001##"), ("Milan", "201##")],
           ["Via Roma", "Corso Italia"]),
    "AT": ("+43 1 ### ####",
           [("Vienna", "10#0"), ("Graz", "80#0")],
           ["Ringstraße", "Mariahilfer Straße"]),
    "US": ("+1 617 555 01##",
           [("Boston", "021##"), ("Austin", "787##")],
           ["Main Street", "Oak Avenue"]),
}
# fmt: on
PRODUCTS = [
    (201, "BOOK-101", "Retention Schedules Explained", "29.90"),
    (202, "BOOK-102", "The Subject Access Request Guide", "34.50"),
    (203, "BOOK-103", "Masking Personal Data", "41.00"),
    (204, "MUG-101", "Mug: Keep It Minimal", "12.00"),
    (205, "MUG-102", "Mug: Legal Hold", "12.00"),
    (206, "TEE-101", "T-shirt: I Read the Audit Trail", "19.90"),
    (207, "TEE-102", "T-shirt: Schema First", "19.90"),
    (208, "PEN-101", "Fountain Pen, Steward Blue", "24.00"),
    (209, "PEN-102", "Ballpoint Pen Set", "8.50"),
    (210, "BAG-101", "Tote Bag: Data Minimisation", "15.00"),
    (211, "BAG-102", "Laptop Sleeve", "39.00"),
    (212, "BAG-103", "Backpack: Purpose Limitation", "64.00"),
]
ORDER_STATUSES = ["paid", "shipped", "shipped", "shipped", "new", "cancelled", "refunded"]
# Parent-first, with each table's columns and the foreign keys a row needs its parent for
TABLES = {
    "users": (["id", "email", "password_hash", "last_login_at", "created_at"], {}),
    "customers": (
        [
            "id",
            "user_id",
            "first_name",
            "last_name",
            "email",
            "phone",
            "birth_date",
            "segment",
            "created_at",
            "closed_at",
        ],
        {"user_id": ("users", "id")},
    ),  # fmt: skip
    "addresses": (
        ["id", "customer_id", "street", "postal_code", "city", "country_code", "created_at"],
        {"customer_id": ("customers", "id")},
    ),
    "products": (["id", "sku", "name", "description", "unit_price", "active", "created_at"], {}),
    "orders": (
        ["id", "customer_id", "shipping_address_id", "status", "total_amount", "ordered_at"],
        {"customer_id": ("customers", "id"), "shipping_address_id": ("addresses", "id")},
    ),
    "order_items": (
        ["order_id", "line_no", "product_id", "quantity", "unit_price"],
        {"order_id": ("orders", "id"), "product_id": ("products", "id")},
    ),
    "payments": (
        ["id", "order_id", "method", "card_last4", "iban", "amount", "paid_at"],
        {"order_id": ("orders", "id")},
    ),
}


@dataclass
class DemoRows:
    """The demo shop's rows per table, as tuples in the order of TABLES' columns."""

    tables: dict[str, list[tuple]] = field(default_factory=lambda: {name: [] for name in TABLES})

    def add(self, table: str, *values) -> None:
        self.tables[table].append(values)


def _digits(rng: random.Random, pattern: str) -> str:
    return "".join(str(rng.randrange(10)) if ch == "#" else ch for ch in pattern)


def _ago(now: datetime, rng: random.Random, low_days: int, high_days: int) -> datetime:
    """A moment between `low_days` and `high_days` before now, to the minute."""
    moment = now - timedelta(days=rng.randint(low_days, high_days), minutes=rng.randrange(24 * 60))
    return moment.replace(second=0, microsecond=0)


def _people(rows: DemoRows, rng: random.Random, now: datetime) -> list[tuple[int, str, datetime]]:
    """Users and customers (with their addresses); (customer id, country, created) of each customer."""
    customers = []
    for number in range(1, USERS + GUESTS + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        if number == 1:
            first, last = "Ada", "Lovelace"
        local = f"{first}.{last}".lower().replace(" ", "").replace("ä", "a").replace("í", "i")
        email = DEMO_SUBJECT if number == 1 else f"{local}{number}@{rng.choice(DOMAINS)}"
        # Ada has been a customer for twelve years
        created = _ago(now, rng, *((30, 12 * 365) if number != 1 else (12 * 365 + 40, 12 * 365 + 40)))
        user_id = number if number <= USERS else None  # the last ones order as guests, without an account
        if user_id:
            # One account in ten has not signed in for more than three years (past "inactive accounts")
            idle = (3 * 365 + 20, 6 * 365) if number % 10 == 7 else (0, 2 * 365)
            last_login = max(created, _ago(now, rng, *idle)) if number != 1 else _ago(now, rng, 2, 2)
            password_hash = f"pbkdf2_sha256$600000$demo{number}${uuid.UUID(int=rng.getrandbits(128)).hex}"
            rows.add("users", number, email, password_hash, last_login, created)
        country = rng.choice(list(PLACES)) if number != 1 else "GB"
        prefix, cities, streets = PLACES[country]
        # Some accounts are closed: every other one more than two years ago (past "closed accounts")
        closed = None
        if number % 8 == 3:
            closed = _ago(now, rng, 2 * 365 + 30, 4 * 365) if number % 16 == 3 else _ago(now, rng, 10, 600)
        birth = date(1940, 1, 1) + timedelta(days=rng.randrange(60 * 365))
        segment = ["retail", "retail", "retail", "business", "vip"][number % 5]
        phone = _digits(rng, prefix)
        rows.add("customers", number, user_id, first, last, email, phone, birth, segment, created, closed)
        city, postal = rng.choice(cities)
        street = f"{rng.randint(1, 180)} {rng.choice(streets)}"
        rows.add("addresses", number, number, street, _digits(rng, postal), city, country, created)
        customers.append((number, country, created))
    return customers


def _orders(rows: DemoRows, rng: random.Random, now: datetime, customers) -> None:
    for _id, sku, name, price in PRODUCTS:
        rows.add("products", _id, sku, name, f"{name}.", Decimal(price), True, now - timedelta(days=4000))
    prices = {_id: Decimal(price) for _id, _sku, _name, price in PRODUCTS}
    for number in range(1, ORDERS + 1):
        customer, _country, created = customers[0] if number <= 4 else rng.choice(customers)
        order_id = 5000 + number
        # Orders stay within the ten years bookkeeping keeps them (archiving an order would need its
        # lines archived too), and nobody orders before they are a customer
        ordered = _ago(now, rng, 1, min(9 * 365 + 300, (now - created).days))
        status = ORDER_STATUSES[number % len(ORDER_STATUSES)] if number > 4 else "shipped"
        total = Decimal("0.00")
        for line_no in range(1, rng.randint(1, 3) + 1):
            product = rng.choice(PRODUCTS)[0]
            quantity = rng.randint(1, 4)
            total += prices[product] * quantity
            rows.add("order_items", order_id, line_no, product, quantity, prices[product])
        rows.add("orders", order_id, customer, customer, status, total, ordered)
        if status in ("new", "cancelled"):
            continue
        method = ["card", "card", "transfer", "wallet"][number % 4]
        card = _digits(rng, "####") if method == "card" else None
        iban = (
            f"DE{_digits(rng, '## #### #### #### #### ##').replace(' ', '')}"
            if method == "transfer"
            else None
        )
        paid = ordered + timedelta(minutes=rng.randint(1, 90))
        rows.add(
            "payments",
            uuid.UUID(int=rng.getrandbits(128), version=4),
            order_id,
            method,
            card,
            iban,
            total,
            paid,
        )


def demo_rows(now: datetime | None = None) -> DemoRows:
    """The demo shop's rows, the same on every call for the same `now` (dates are counted back from it)."""
    now = now or datetime.now(UTC)
    rng = random.Random(SEED)
    rows = DemoRows()
    customers = _people(rows, rng, now)
    _orders(rows, rng, now, customers)
    return rows


def _table_empty(connection, schema: str, table: str) -> bool:
    query = sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(schema, table))
    return connection.execute(query).fetchone()[0]


def _insert_missing(connection, schema: str, table: str, rows: list[tuple]) -> int:
    """Insert the rows whose parents are there (through a temporary copy of the table); how many went in."""
    columns, parents = TABLES[table]
    staging = sql.Identifier(f"demo_rows_{table}")
    names = sql.SQL(", ").join(map(sql.Identifier, columns))
    connection.execute(
        sql.SQL("CREATE TEMPORARY TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
            staging, names, sql.Identifier(schema, table)
        )
    )
    with connection.cursor() as cursor:
        with cursor.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(staging, names)) as copy:
            for row in rows:
                copy.write_row(row)
    # A parent removed since (an erased subject, an expired account) does not come back through its child
    present = [
        sql.SQL("(s.{0} IS NULL OR EXISTS (SELECT 1 FROM {1} AS p WHERE p.{2} = s.{0}))").format(
            sql.Identifier(column), sql.Identifier(schema, parent), sql.Identifier(key)
        )
        for column, (parent, key) in parents.items()
    ]
    where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(present) if present else sql.SQL("")
    inserted = connection.execute(
        sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} AS s{} ON CONFLICT DO NOTHING").format(
            sql.Identifier(schema, table),
            names,
            sql.SQL(", ").join(sql.Identifier("s", c) for c in columns),
            staging,
            where,
        )
    )
    return inserted.rowcount


def demo_rows_seed(*, datastore: DataStore, now: datetime | None = None) -> dict[str, int]:
    """Give each empty demo table of the shop store its demo rows, in one transaction; rows added per
    table (tables that hold rows already are left as they are and not listed). SchemaError when the store
    cannot be reached; psycopg.Error (nothing added) when the database refuses the rows."""
    rows = demo_rows(now)
    schema = datastore.schema_name or "public"
    added = {}
    with datastore_pg_connect(datastore, application_name="custodian demo rows") as connection:
        with connection.transaction():
            for table in TABLES:
                if _table_empty(connection, schema, table):
                    added[table] = _insert_missing(connection, schema, table, rows.tables[table])
    return {table: count for table, count in added.items() if count}


def demo_reader_grant(*, datastore: DataStore) -> bool:
    """Give the store's read-only role (README, "Security model") what user-written SQL needs: USAGE on its
    schema and SELECT on its tables, now and later. Creates the role when it is missing. Whether it could."""
    if not datastore.read_role or not datastore.schema_name:
        return False
    role, schema = sql.Identifier(datastore.read_role), sql.Identifier(datastore.schema_name)
    with datastore_pg_connect(datastore, application_name="custodian demo reader") as connection:
        # Roles belong to the whole server; another process may create it at the same moment.
        connection.execute(
            sql.SQL(
                "DO $$ BEGIN CREATE ROLE {} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
            ).format(role)
        )
        for statement in (
            "GRANT USAGE ON SCHEMA {schema} TO {role}",
            "GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT ON TABLES TO {role}",
            "GRANT {role} TO CURRENT_USER",
        ):
            connection.execute(sql.SQL(statement).format(schema=schema, role=role))
        connection.commit()
    return True

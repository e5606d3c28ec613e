"""Reverse engineering against real databases: hand-written PostgreSQL (and SQLite) schemas read into the
catalog, then the catalog's own DDL compared with the original."""

import os
from io import StringIO

import pytest
import sqlalchemy as sa
from django.core.management import call_command
from django.core.management.base import CommandError

from catalog.models import Column, DataStore, Entity, Index, IndexColumn
from catalog.schema.ddl import ddl_render, schema_ddl
from catalog.schema.dialects import POSTGRESQL, profile_for
from catalog.schema.introspect import (
    CheckRule,
    IntrospectionIncomplete,
    catalog_condition,
    check_rules,
    default_normalize,
    live_tables_read,
    schema_introspect,
)
from catalog.schema.metadata import AUDIT_COLUMNS
from catalog.schema.snapshot import snapshot_build
from catalog.services import catalog_object_save
from core.errors import SchemaError
from tests.catalog.schema.conftest import run_sql

SHOP_DDL = """
CREATE SCHEMA app;
CREATE TABLE app.channel (id integer PRIMARY KEY, label varchar(40) NOT NULL);
CREATE TABLE app.product (sku varchar(40) PRIMARY KEY, name text NOT NULL);
CREATE TABLE app.customer (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email varchar(200) NOT NULL,
    segment varchar(20) NOT NULL DEFAULT 'retail',
    country char(2),
    score integer DEFAULT 0,
    age smallint,
    vip boolean NOT NULL DEFAULT true,
    balance numeric(12,2) NOT NULL DEFAULT 0.00,
    zip text,
    nickname text,
    profile jsonb,
    attributes json,
    avatar bytea,
    ratio double precision,
    weight real,
    born date,
    wakes_at time,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamp DEFAULT CURRENT_TIMESTAMP,
    visits bigint,
    CONSTRAINT customer_email_key UNIQUE (email),
    CONSTRAINT customer_score_range CHECK (score >= 0 AND score <= 100),
    CONSTRAINT customer_age_min CHECK (age >= 18),
    CONSTRAINT customer_segment_in CHECK (segment IN ('retail', 'business', 'vip')),
    CONSTRAINT customer_zip_re CHECK (zip ~ '^[0-9]{5}$'),
    CONSTRAINT customer_nickname_len CHECK (char_length(nickname) >= 2),
    CONSTRAINT customer_score_even CHECK (score % 2 = 0)
);
COMMENT ON TABLE app.customer IS 'People who buy';
COMMENT ON COLUMN app.customer.email IS 'Where receipts go';
CREATE TABLE app.orders (
    region smallint NOT NULL,
    order_no bigint NOT NULL,
    customer_id uuid NOT NULL REFERENCES app.customer (id) ON DELETE CASCADE,
    billing_email varchar(200) REFERENCES app.customer (email) ON DELETE SET NULL,
    channel_id integer NOT NULL DEFAULT 0 REFERENCES app.channel (id) ON DELETE SET DEFAULT,
    status varchar(20) NOT NULL DEFAULT 'new',
    total numeric(10,2) CHECK (total >= 0),
    placed_on date NOT NULL DEFAULT CURRENT_DATE,
    PRIMARY KEY (region, order_no),
    CONSTRAINT orders_customer_order_key UNIQUE (customer_id, order_no)
);
CREATE TABLE app.order_line (
    region smallint NOT NULL,
    order_no bigint NOT NULL,
    line_no integer NOT NULL,
    sku varchar(40) NOT NULL REFERENCES app.product (sku) ON DELETE RESTRICT,
    gift_sku varchar(40) REFERENCES app.product (sku),
    quantity integer NOT NULL DEFAULT 1 CHECK (quantity BETWEEN 1 AND 999),
    PRIMARY KEY (region, order_no, line_no)
);
CREATE INDEX orders_open_idx ON app.orders (status) WHERE status <> 'shipped';
CREATE INDEX orders_pending_idx ON app.orders (placed_on) WHERE status IN ('new', 'paid');
CREATE INDEX orders_customer_cover_idx ON app.orders (customer_id) INCLUDE (total, status);
CREATE INDEX orders_recent_idx ON app.orders (region, placed_on DESC);
CREATE INDEX customer_profile_gin ON app.customer USING gin (profile);
"""


@pytest.fixture
def shop_store(target_store):
    store = target_store("shop_live")
    run_sql(os.environ[store.url_env], SHOP_DDL)
    return store


def _columns(store: DataStore, table: str) -> dict[str, Column]:
    return {
        c.name: c
        for c in Column.objects.filter(entity__datastore=store, entity__name=table).select_related(
            "references__entity"
        )
    }


def _history_rows() -> int:
    return sum(model.history.count() for model in (Entity, Column, Index, IndexColumn))


def _index_shape(index: Index) -> tuple:
    usages = index.index_columns.select_related("column").order_by("included", "position")
    return (
        index.is_unique,
        index.method,
        index.condition,
        [(u.column.name, u.order) for u in usages if not u.included],
        [u.column.name for u in usages if u.included],
    )


def test_introspection_describes_every_table_column_and_check(shop_store, steward):
    report = schema_introspect(datastore=shop_store, user=steward, allow_partial=True)

    assert report.created == {"entities": 5, "columns": 38, "indexes": 6}
    assert report.updated == {"entities": 0, "columns": 0, "indexes": 0}
    assert [(s.table, s.item) for s in report.skipped] == [
        ("customer", "check customer_score_even ((score % 2) = 0)")
    ]
    entities = {e.name: e for e in Entity.objects.filter(datastore=shop_store)}
    assert sorted(entities) == ["channel", "customer", "order_line", "orders", "product"]
    assert entities["customer"].description == "People who buy"
    customer = _columns(shop_store, "customer")
    assert list(customer) == [
        "id", "email", "segment", "country", "score", "age", "vip", "balance", "zip", "nickname", "profile",
        "attributes", "avatar", "ratio", "weight", "born", "wakes_at", "created_at", "updated_at", "visits",
    ]  # fmt: skip
    assert [customer[name].position for name in customer] == list(range(1, 21))
    assert {name: c.sql_type for name, c in customer.items()} == {
        "id": "uuid", "email": "varchar(200)", "segment": "varchar(20)", "country": "char(2)",
        "score": "integer", "age": "smallint", "vip": "boolean", "balance": "numeric(12,2)", "zip": "text",
        "nickname": "text", "profile": "jsonb", "attributes": "json", "avatar": "bytea", "ratio": "double",
        "weight": "real", "born": "date", "wakes_at": "time", "created_at": "timestamptz",
        "updated_at": "timestamp", "visits": "bigint",
    }  # fmt: skip
    defaults = {name: c.default_value for name, c in customer.items() if c.default_value}
    assert defaults == {
        "id": "gen_random_uuid()",
        "segment": "retail",
        "score": "0",
        "vip": "true",
        "balance": "0.00",
        "created_at": "now()",
        "updated_at": "now()",
    }
    assert (customer["id"].primary_key_position, customer["id"].nullable) == (1, False)
    assert customer["email"].is_unique and customer["email"].description == "Where receipts go"
    assert not customer["email"].nullable and customer["country"].nullable
    assert (customer["score"].min_value, customer["score"].max_value) == ("0", "100")
    assert customer["age"].min_value == "18"
    assert customer["segment"].allowed_values == ["retail", "business", "vip"]
    assert customer["zip"].pattern == "^[0-9]{5}$"
    assert customer["nickname"].min_length == 2


def test_introspection_reads_keys_foreign_keys_and_indexes(shop_store, steward):
    schema_introspect(datastore=shop_store, user=steward, allow_partial=True)

    orders, lines = _columns(shop_store, "orders"), _columns(shop_store, "order_line")
    assert {n: c.primary_key_position for n, c in orders.items() if c.primary_key_position} == {
        "region": 1,
        "order_no": 2,
    }
    assert [n for n, c in lines.items() if c.primary_key_position] == ["region", "order_no", "line_no"]
    references = {
        f"{c.entity.name}.{c.name}": (str(c.references), c.on_delete)
        for c in Column.objects.filter(entity__datastore=shop_store, references__isnull=False)
    }
    assert references == {
        "orders.customer_id": ("customer.id", "cascade"),
        "orders.billing_email": ("customer.email", "set_null"),
        "orders.channel_id": ("channel.id", "set_default"),
        "order_line.sku": ("product.sku", "restrict"),
        "order_line.gift_sku": ("product.sku", "no_action"),
    }
    assert (orders["placed_on"].default_value, orders["total"].min_value) == ("current_date", "0")
    assert (lines["quantity"].min_value, lines["quantity"].max_value) == ("1", "999")
    indexes = {i.name: _index_shape(i) for i in Index.objects.filter(entity__datastore=shop_store)}
    assert indexes == {
        "orders_open_idx": (False, "btree", "status <> 'shipped'", [("status", "asc")], []),
        "orders_pending_idx": (False, "btree", "status IN ('new', 'paid')", [("placed_on", "asc")], []),
        "orders_customer_cover_idx": (False, "btree", "", [("customer_id", "asc")], ["total", "status"]),
        "orders_recent_idx": (False, "btree", "", [("region", "asc"), ("placed_on", "desc")], []),
        "customer_profile_gin": (False, "gin", "", [("profile", "asc")], []),
        "orders_customer_order_key": (True, "btree", "", [("customer_id", "asc"), ("order_no", "asc")], []),
    }


def _shape(url: str, schema: str = "app") -> dict:
    """What both databases must agree on, read with SQLAlchemy; a multi-column UNIQUE constraint and a
    unique index are the same key (the catalog keeps the former as the latter)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            live = live_tables_read(connection, schema=schema)
            comments = sa.inspect(connection).get_multi_table_comment(schema=schema)
    finally:
        engine.dispose()
    return {name: _table_shape(table, comments[(schema, name)]["text"]) for name, table in live.items()}


def _table_shape(table, comment) -> dict:
    unique = {frozenset(u.columns) for u in table.unique_constraints}
    unique |= {frozenset(i.columns) for i in table.indexes if i.unique and not i.condition}
    rules = set()
    for check in table.check_constraints:
        try:
            rules |= {(r.column, r.field, str(r.value)) for r in check_rules(check.sqltext)}
        except ValueError:
            pass  # the one check the catalog cannot hold
    return {
        "comment": comment,
        "columns": [
            (
                c.name,
                c.type.compile(dialect=POSTGRESQL.sqla),
                c.nullable,
                default_normalize(c.default, profile=POSTGRESQL),
            )
            for c in table.columns
        ],  # fmt: skip
        "primary_key": table.primary_key,
        "foreign_keys": {
            (
                fk.columns,
                fk.referred_table,
                fk.referred_columns,
                fk.options.get("ondelete"),
            )
            for fk in table.foreign_keys
        },  # fmt: skip
        "unique": unique,
        "indexes": {
            i.name: (i.columns, i.descending, i.method, i.include, bool(i.condition))
            for i in table.indexes
            if not (i.unique and not i.condition)
        },
        "check_rules": rules,
    }


def test_catalog_ddl_rebuilds_the_introspected_schema(shop_store, steward, scratch_database):
    schema_introspect(datastore=shop_store, user=steward, allow_partial=True)
    script = ddl_render(schema_ddl(snapshot_build(shop_store), profile_for("postgresql")))
    rebuilt = scratch_database()
    run_sql(rebuilt, "CREATE SCHEMA app", script)

    original, copy = _shape(os.environ[shop_store.url_env]), _shape(rebuilt)

    assert sorted(copy) == sorted(original) == ["channel", "customer", "order_line", "orders", "product"]
    for table in original:
        assert copy[table] == original[table], table
    assert ("score", "min_value", "0") in copy["customer"]["check_rules"]


def test_introspecting_a_database_built_from_the_catalog_changes_nothing(
    shop_store, steward, scratch_database, monkeypatch
):
    schema_introspect(datastore=shop_store, user=steward, allow_partial=True)
    product = Entity.objects.get(datastore=shop_store, name="product")
    product.has_audit_columns = True  # created_at ... version come from the DDL, not from catalog columns
    catalog_object_save(obj=product, user=steward)
    rebuilt = scratch_database()
    run_sql(rebuilt, "CREATE SCHEMA app", ddl_render(schema_ddl(snapshot_build(shop_store), POSTGRESQL)))
    monkeypatch.setenv(shop_store.url_env, rebuilt)
    history = _history_rows()

    report = schema_introspect(datastore=shop_store, user=steward, allow_partial=True)

    assert not report.changed, report.lines()
    assert _history_rows() == history
    assert not Column.objects.filter(entity=product, name__in=AUDIT_COLUMNS).exists()


def test_second_introspection_changes_nothing_and_writes_no_history(shop_store, steward):
    schema_introspect(datastore=shop_store, user=steward, allow_partial=True)
    history = _history_rows()

    again = schema_introspect(datastore=shop_store, user=steward, allow_partial=True)

    assert not again.changed
    assert again.created == again.updated == {"entities": 0, "columns": 0, "indexes": 0}
    assert _history_rows() == history


def test_history_records_the_introspecting_user(shop_store, steward):
    schema_introspect(datastore=shop_store, user=steward, allow_partial=True)

    rows = Column.history.filter(entity__datastore=shop_store)
    columns = Column.objects.filter(entity__datastore=shop_store)
    # One history row per column: a new column gets its foreign key when it is created, not in a second save
    assert sorted(rows.values_list("id", flat=True)) == sorted(columns.values_list("id", flat=True))
    assert set(rows.values_list("history_user__username", flat=True)) == {"steward"}
    assert set(Index.history.values_list("history_user__username", flat=True)) == {"steward"}


def test_changes_in_the_database_update_the_catalog_and_keep_what_only_the_catalog_says(shop_store, steward):
    schema_introspect(datastore=shop_store, user=steward, allow_partial=True)
    email = Column.objects.get(entity__datastore=shop_store, entity__name="customer", name="email")
    email.pii_category, email.masking_strategy = "direct_identifier", "hash"
    catalog_object_save(obj=email, user=steward)
    created_at = Column.objects.get(entity__datastore=shop_store, entity__name="customer", name="created_at")
    created_at.default_value = "current_timestamp"  # the same default in other words
    catalog_object_save(obj=created_at, user=steward)
    run_sql(
        os.environ[shop_store.url_env],
        "ALTER TABLE app.customer ALTER COLUMN email TYPE varchar(250);"
        "ALTER TABLE app.customer DROP CONSTRAINT customer_age_min;"
        "DROP INDEX app.orders_recent_idx; CREATE INDEX orders_recent_idx ON app.orders (placed_on DESC);",
    )

    report = schema_introspect(datastore=shop_store, user=steward, allow_partial=True)

    assert report.created == {"entities": 0, "columns": 0, "indexes": 0}
    assert report.updated == {"entities": 0, "columns": 2, "indexes": 1}
    customer = _columns(shop_store, "customer")
    assert (customer["email"].length, customer["email"].pii_category) == (250, "direct_identifier")
    assert customer["email"].masking_strategy == "hash"
    assert customer["age"].min_value == ""
    assert customer["created_at"].default_value == "current_timestamp"
    recent = Index.objects.get(entity__datastore=shop_store, name="orders_recent_idx")
    assert _index_shape(recent)[3] == [("placed_on", "desc")]


EXOTIC_DDL = """
CREATE SCHEMA app;
CREATE TABLE app.parent (a integer NOT NULL, b integer NOT NULL, PRIMARY KEY (a, b));
CREATE TABLE app.device (
    id serial PRIMARY KEY,
    address inet,
    busy int4range,
    label varchar,
    name text NOT NULL,
    a integer,
    b integer,
    rank integer CHECK (rank > 0),
    FOREIGN KEY (a, b) REFERENCES app.parent (a, b)
);
CREATE INDEX device_lower_name ON app.device (lower(name));
CREATE INDEX device_address ON app.device (address);
"""


def test_what_the_catalog_cannot_express_is_reported_and_the_rest_imported(target_store, steward):
    store = target_store("exotic")
    run_sql(os.environ[store.url_env], EXOTIC_DDL)

    report = schema_introspect(datastore=store, user=steward, allow_partial=True)

    skipped = {(s.table, s.item): s.reason for s in report.skipped}
    assert skipped == {
        ("device", "column address"): "type INET has no equivalent in the catalog",
        ("device", "column busy"): "type INT4RANGE has no equivalent in the catalog",
        ("device", "column label"): "type VARCHAR has no length; the catalog's varchar needs one",
        ("device", "check device_rank_check (rank > 0)"): "'rank > 0' has no catalog equivalent",
        ("device", "foreign key (a, b) -> parent(a, b)"): "the catalog has single-column foreign keys only",
        ("device", "index device_lower_name"): "it indexes expressions; the catalog indexes columns",
        ("device", "index device_address"): "column(s) address are not imported",
    }
    device = _columns(store, "device")
    assert list(device) == ["id", "name", "a", "b", "rank"]
    assert [device[n].position for n in device] == [1, 5, 6, 7, 8]
    assert device["id"].primary_key_position == 1 and device["id"].default_value == ""
    assert device["id"].generation == "serial"  # its nextval() default is the serial's own
    assert "type INET has no equivalent" in "\n".join(report.lines())


def test_what_the_catalog_cannot_express_stops_the_import_unless_partial_is_allowed(target_store, steward):
    store = target_store("exotic")
    run_sql(os.environ[store.url_env], EXOTIC_DDL)

    with pytest.raises(IntrospectionIncomplete, match=r"item\(s\) of the database cannot be held") as refused:
        schema_introspect(datastore=store, user=steward)

    assert ("device", "column address") in {(s.table, s.item) for s in refused.value.report.skipped}
    assert not Entity.objects.filter(datastore=store).exists()
    assert not Column.objects.filter(entity__datastore=store).exists()


def test_command_exits_non_zero_listing_what_it_cannot_import(target_store):
    store = target_store("exotic")
    run_sql(os.environ[store.url_env], EXOTIC_DDL)
    out = StringIO()

    with pytest.raises(CommandError, match="nothing was imported; rerun with --allow-partial"):
        call_command("schema_introspect", "--datastore", "exotic", stdout=out)

    assert "table app.device: column address: type INET has no equivalent in the catalog" in out.getvalue()
    assert not Entity.objects.filter(datastore=store).exists()


def test_command_with_allow_partial_imports_the_rest_and_still_lists_what_it_left_out(target_store):
    store = target_store("exotic")
    run_sql(os.environ[store.url_env], EXOTIC_DDL)
    out = StringIO()

    call_command("schema_introspect", "--datastore", "exotic", "--allow-partial", stdout=out)

    text = out.getvalue()
    assert "not in the catalog:" in text and "table app.device: column address: type INET has no" in text
    assert "index device_lower_name: it indexes expressions" in text
    assert Column.objects.filter(entity__datastore=store, entity__name="device", name="name").exists()


UNMODELLED_DDL = """
CREATE SCHEMA app;
CREATE TABLE app.booking (
    id integer PRIMARY KEY,
    during tsrange,
    total integer,
    doubled integer GENERATED ALWAYS AS (total * 2) STORED,
    code integer CONSTRAINT booking_code_key UNIQUE NULLS NOT DISTINCT,
    CONSTRAINT booking_no_overlap EXCLUDE USING gist (during WITH &&)
);
CREATE TABLE app.reading (taken date NOT NULL, level integer) PARTITION BY RANGE (taken);
CREATE TABLE app.reading_2024 PARTITION OF app.reading FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
"""


def test_what_the_catalog_has_no_place_for_is_reported_not_dropped_silently(target_store, steward):
    """Before issue 18 these vanished without a word: a partition, an EXCLUDE constraint, a column's
    generation, a unique's NULLS NOT DISTINCT."""
    store = target_store("unmodelled")
    run_sql(os.environ[store.url_env], UNMODELLED_DDL)

    report = schema_introspect(datastore=store, user=steward, allow_partial=True)

    skipped = {(s.table, s.item): s.reason for s in report.skipped}
    assert skipped[("booking", "generation of column doubled (GENERATED ALWAYS AS ((total * 2)))")] == (
        "the catalog has no generated columns; imported as a plain column"
    )
    assert skipped[("booking", "constraint booking_no_overlap")] == "the catalog has no exclusion constraints"
    assert ("booking", "NULLS NOT DISTINCT of unique (code)") in skipped
    partition = ("reading", "partition reading_2024 FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')")
    assert skipped[partition].startswith("the catalog does not model partitions")
    assert _columns(store, "booking")["code"].is_unique


def test_a_catalog_refusal_leaves_the_catalog_as_it_was(target_store, steward):
    store = target_store("refused")
    run_sql(
        os.environ[store.url_env],
        "CREATE SCHEMA app; CREATE TABLE app.alpha (id integer PRIMARY KEY);"
        "CREATE TABLE app.zulu (doc jsonb PRIMARY KEY);",
    )

    with pytest.raises(SchemaError, match=r"table app\.zulu, column doc: the catalog refuses it: .*jsonb"):
        schema_introspect(datastore=store, user=steward)

    assert not Entity.objects.filter(datastore=store).exists()
    assert not Column.objects.filter(entity__datastore=store).exists()


SQLITE_DDL = [
    "CREATE TABLE kind (id INTEGER NOT NULL, code VARCHAR(10) NOT NULL, label TEXT DEFAULT 'plain', "
    "CONSTRAINT kind_pk PRIMARY KEY (id), CONSTRAINT kind_code_uniq UNIQUE (code), "
    "CONSTRAINT kind_code_len CHECK (length(code) >= 2))",
    "CREATE TABLE item (id INTEGER NOT NULL, kind_id INTEGER, price NUMERIC(10, 2) DEFAULT 0, "
    "seen_at DATETIME DEFAULT CURRENT_TIMESTAMP, active BOOLEAN NOT NULL DEFAULT 1, "
    "CONSTRAINT item_pk PRIMARY KEY (id), "
    "CONSTRAINT item_kind_fk FOREIGN KEY (kind_id) REFERENCES kind (id) ON DELETE CASCADE, "
    "CONSTRAINT item_price_min CHECK (price >= 0))",
    "CREATE INDEX item_active_price ON item (kind_id, price) WHERE active = 1",
]


def test_sqlite_file_database_is_introspected(db, steward, tmp_path, monkeypatch):
    path = tmp_path / "pocket.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        for statement in SQLITE_DDL:
            connection.exec_driver_sql(statement)
    engine.dispose()
    monkeypatch.setenv("CUSTODIAN_TEST_POCKET_URL", f"sqlite:///{path}")
    store = catalog_object_save(
        obj=DataStore(name="pocket", engine="sqlite", url_env="CUSTODIAN_TEST_POCKET_URL"), user=steward
    )

    report = schema_introspect(datastore=store, user=steward)

    assert report.created == {"entities": 2, "columns": 8, "indexes": 1} and report.skipped == []
    kind, item = _columns(store, "kind"), _columns(store, "item")
    assert (kind["code"].sql_type, kind["code"].is_unique, kind["code"].min_length) == (
        "varchar(10)",
        True,
        2,
    )
    assert kind["label"].default_value == "plain"
    assert {n: c.sql_type for n, c in item.items()} == {
        "id": "integer", "kind_id": "integer", "price": "numeric(10,2)", "seen_at": "timestamp",
        "active": "boolean",
    }  # fmt: skip
    assert (item["price"].default_value, item["price"].min_value) == ("0", "0")
    assert (item["seen_at"].default_value, item["active"].default_value) == ("now()", "true")
    assert (str(item["kind_id"].references), item["kind_id"].on_delete) == ("kind.id", "cascade")
    index = Index.objects.get(entity__datastore=store, name="item_active_price")
    assert _index_shape(index) == (False, "btree", "active = 1", [("kind_id", "asc"), ("price", "asc")], [])
    assert not schema_introspect(datastore=store, user=steward).changed


def test_unreachable_data_store_is_named_in_the_error(db, steward, monkeypatch):
    monkeypatch.setenv("CUSTODIAN_TEST_OFFLINE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    store = catalog_object_save(
        obj=DataStore(name="offline", schema_name="app", url_env="CUSTODIAN_TEST_OFFLINE_URL"), user=steward
    )

    with pytest.raises(SchemaError, match="Cannot reach data store 'offline'"):
        schema_introspect(datastore=store, user=steward)


def test_missing_schema_is_an_error_not_an_empty_database(target_store, steward):
    store = target_store("schemaless", schema="nowhere")

    with pytest.raises(SchemaError, match="Data store 'schemaless' has no schema 'nowhere' in its database"):
        schema_introspect(datastore=store, user=steward)


def test_command_without_a_user_records_no_author(target_store):
    store = target_store("anonymous")
    run_sql(os.environ[store.url_env], "CREATE SCHEMA app; CREATE TABLE app.note (id integer PRIMARY KEY);")

    call_command("schema_introspect", "--datastore", "anonymous", stdout=StringIO())

    column = Column.objects.get(entity__datastore=store, entity__name="note", name="id")
    assert [row.history_user for row in column.history.all()] == [None]


def test_unset_url_variable_is_named_in_the_error(db, steward, monkeypatch):
    monkeypatch.delenv("CUSTODIAN_TEST_NOWHERE_URL", raising=False)
    store = catalog_object_save(
        obj=DataStore(name="nowhere", schema_name="app", url_env="CUSTODIAN_TEST_NOWHERE_URL"), user=steward
    )

    with pytest.raises(SchemaError, match=r"\$CUSTODIAN_TEST_NOWHERE_URL, which is not set"):
        schema_introspect(datastore=store, user=steward)


def test_command_prints_the_report_and_introspects_only_the_tables_asked(shop_store, steward):
    out = StringIO()

    call_command("schema_introspect", "--datastore", "shop_live", "--user", "steward", "--table", "orders",
                 "--allow-partial", stdout=out)  # fmt: skip

    assert list(Entity.objects.filter(datastore=shop_store).values_list("name", flat=True)) == ["orders"]
    text = out.getvalue()
    assert "Entities: 1 created, 0 updated." in text
    assert "foreign key (customer_id) -> customer(id): customer.id is not in the catalog" in text
    assert Column.history.filter(history_user=steward).exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--datastore", "missing"], r"No data store named 'missing'\. Known: .*shop_live"),
        (["--datastore", "shop_liv"], r"Did you mean 'shop_live'\?"),
        (["--datastore", "shop_live", "--user", "ghost"], "No user named 'ghost'"),
    ],
)
def test_command_refuses_unknown_names(shop_store, arguments, message):
    with pytest.raises(CommandError, match=message):
        call_command("schema_introspect", *arguments, stdout=StringIO())


def test_command_turns_schema_errors_into_command_errors(db, steward, monkeypatch):
    monkeypatch.delenv("CUSTODIAN_TEST_GONE_URL", raising=False)
    catalog_object_save(
        obj=DataStore(name="gone", schema_name="app", url_env="CUSTODIAN_TEST_GONE_URL"), user=steward
    )

    with pytest.raises(CommandError, match="CUSTODIAN_TEST_GONE_URL"):
        call_command("schema_introspect", "--datastore", "gone", stdout=StringIO())


@pytest.mark.parametrize(
    ("sql", "rules"),
    [
        ("age >= 18", [CheckRule("age", "min_value", "18")]),
        ("18 <= age", [CheckRule("age", "min_value", "18")]),
        ("total <= 10.5::numeric", [CheckRule("total", "max_value", "10.5")]),
        ("delta >= '-5'::integer", [CheckRule("delta", "min_value", "-5")]),
        ("x BETWEEN 1 AND 9", [CheckRule("x", "min_value", "1"), CheckRule("x", "max_value", "9")]),
        ("kind IN ('a', 'b')", [CheckRule("kind", "allowed_values", ["a", "b"])]),
        ("(kind)::text = ANY ((ARRAY['a'::character varying, 'b'::character varying])::text[])",
         [CheckRule("kind", "allowed_values", ["a", "b"])]),
        ("level = ANY (ARRAY[1, 2, 3])", [CheckRule("level", "allowed_values", ["1", "2", "3"])]),
        ("code ~ '^[A-Z]+$'::text", [CheckRule("code", "pattern", "^[A-Z]+$")]),
        ("char_length(code) >= 3", [CheckRule("code", "min_length", 3)]),
        ("length(code) >= 3", [CheckRule("code", "min_length", 3)]),
    ],
)  # fmt: skip
def test_expressible_checks_become_catalog_rules(sql, rules):
    assert check_rules(sql) == rules


@pytest.mark.parametrize(
    "sql",
    ["rank > 0", "a >= b", "char_length(code) <= 3", "code ~* 'x'", "x IS NOT NULL", "a >= 0 OR b >= 0",
     "x IN (SELECT 1)", "lower(code) = 'x'", "x >= 1 AND (x % 2) = 0"],
)  # fmt: skip
def test_inexpressible_checks_are_refused_whole(sql):
    with pytest.raises(ValueError, match="no catalog equivalent"):
        check_rules(sql)


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ("((status)::text <> 'shipped'::text)", "status <> 'shipped'"),
        ("(deleted_at IS NULL)", "deleted_at IS NULL"),
        ("((status)::text = ANY ((ARRAY['a'::character varying, 'b'::character varying])::text[]))",
         "status IN ('a', 'b')"),
        ("((total > (0)::numeric) AND (placed_on >= '2024-01-01'::date))",
         "total > 0 AND placed_on >= '2024-01-01'"),
    ],
)  # fmt: skip
def test_index_conditions_lose_the_casts_postgresql_adds(written, kept):
    names = {"status", "deleted_at", "total", "placed_on", "price"}
    assert catalog_condition(written, column_names=names, text_columns={"status"}) == kept


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ("((price)::text ~~ '1%'::text)", "CAST(price AS TEXT) LIKE '1%'"),
        ("(placed_on > (CURRENT_DATE - '7'::integer))", "placed_on > (CURRENT_DATE - CAST('7' AS INT))"),
    ],
)  # fmt: skip
def test_index_conditions_keep_the_casts_that_change_meaning(written, kept):
    names = {"price", "placed_on"}
    assert catalog_condition(written, column_names=names, text_columns={"status"}) == kept


FLIGHTS_DDL = """
CREATE SCHEMA app;
CREATE TABLE app.flights (
    year integer NOT NULL, month integer NOT NULL, flight integer NOT NULL, carrier text,
    CONSTRAINT flights_key UNIQUE (year, month, flight)
);
"""


def test_a_unique_constraint_stays_a_constraint_and_the_database_baselines(target_store, steward):
    """Issue 16 #13: introspect, release, then `schema_apply --baseline` on the database it read."""
    from catalog.schema.apply import schema_apply_execute
    from catalog.schema.releases import release_publish

    store = target_store("nyc", schema="app")
    run_sql(os.environ[store.url_env], FLIGHTS_DDL)
    schema_introspect(datastore=store, user=steward)

    key = Index.objects.get(entity__datastore=store, name="flights_key")
    assert key.is_unique and key.is_constraint
    ddl = ddl_render(schema_ddl(snapshot_build(store), POSTGRESQL))
    assert 'CONSTRAINT "flights_key" UNIQUE ("year", "month", "flight")' in ddl
    assert "CREATE UNIQUE INDEX" not in ddl

    release_publish(datastore=store, user=steward, message="as found")
    # Refused before the fix: "index flights_key is missing from the database; unique constraint ... is not
    # in the release". A baseline raises SchemaError on any drift.
    outcome = schema_apply_execute(datastore=store, target_version=1, user=steward, baseline=True)
    assert outcome.statements == []

"""The demo catalog: an operational shop database and a star-schema warehouse, with PII, retention, owners.

`demo_load` only adds what is missing: objects are matched by natural key and an object that exists is
left exactly as it is, even when it differs from the demo (a steward's edit stays). Running it again
therefore writes no history.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from catalog.models import Column, DataStore, Domain, Entity, Index, Regulation, RetentionPolicy
from catalog.roles import COMPLIANCE_OFFICER, DATA_STEWARD, PLATFORM_ADMIN
from catalog.services import catalog_object_save, index_columns_set

__all__ = ["DEMO_USERS", "demo_load"]

DEMO_USERS = {
    "demo_steward": DATA_STEWARD,
    "demo_officer": COMPLIANCE_OFFICER,
    "demo_platform": PLATFORM_ADMIN,
}

PK = {"primary_key_position": 1, "nullable": False}
REQ = {"nullable": False}
EMAIL = {
    "data_type": "varchar",
    "length": 254,
    "pii_category": "direct_identifier",
    "masking_strategy": "hash",
    "pattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
}
CREATED = {"data_type": "timestamptz", "nullable": False, "default_value": "now()"}


def col(name, data_type=None, **opts):
    spec = dict(opts)
    if data_type:
        spec["data_type"] = data_type
    return name, spec


STORES = [
    {
        "name": "shop",
        "engine": "postgresql",
        "schema_name": "shop",
        "url_env": "CUSTODIAN_SHOP_URL",
        "read_role": "custodian_demo_reader",
        "description": "Operational database of the web shop.",
    },
    {
        "name": "warehouse",
        "engine": "postgresql",
        "schema_name": "analytics",
        "url_env": "CUSTODIAN_WAREHOUSE_URL",
        "read_role": "custodian_demo_reader",
        "description": "Analytics warehouse: star schema for sales reporting.",
    },
]
DOMAINS = [
    ("Customers", "People who buy and their contact data."),
    ("Sales", "Orders, payments and revenue."),
    ("Product", "What the shop sells."),
]

SHOP = [
    (
        "users",
        "Customers",
        "table",
        "Accounts that can sign in.",
        [
            col("id", "bigint", **PK),
            col("email", **EMAIL, is_unique=True, nullable=False),
            col(
                "password_hash",
                "varchar",
                length=200,
                nullable=False,
                pii_category="credential",
                masking_strategy="redact",
            ),
            col("last_login_at", "timestamptz"),
            col("created_at", **CREATED),
        ],
    ),
    (
        "customers",
        "Customers",
        "table",
        "People and companies who order.",
        [
            col("id", "bigint", **PK),
            col("user_id", "bigint", references=("users", "id"), on_delete="set_null"),
            col(
                "first_name",
                "varchar",
                length=100,
                pii_category="direct_identifier",
                masking_strategy="partial",
            ),
            col(
                "last_name",
                "varchar",
                length=100,
                pii_category="direct_identifier",
                masking_strategy="partial",
            ),
            col("email", **EMAIL, is_unique=True, nullable=False),
            col("phone", "varchar", length=30, pii_category="direct_identifier", masking_strategy="partial"),
            col(
                "birth_date",
                "date",
                pii_category="quasi_identifier",
                masking_strategy="nullify",
                min_value="1900-01-01",
            ),
            col(
                "segment",
                "varchar",
                length=20,
                allowed_values=["retail", "business", "vip"],
                default_value="retail",
                nullable=False,
            ),
            col("created_at", **CREATED),
            col("closed_at", "timestamptz"),
        ],
    ),
    (
        "addresses",
        "Customers",
        "table",
        "Postal addresses of customers.",
        [
            col("id", "bigint", **PK),
            col("customer_id", "bigint", nullable=False, references=("customers", "id"), on_delete="cascade"),
            col(
                "street",
                "varchar",
                length=200,
                nullable=False,
                pii_category="direct_identifier",
                masking_strategy="redact",
            ),
            col(
                "postal_code",
                "varchar",
                length=12,
                pii_category="quasi_identifier",
                masking_strategy="partial",
            ),
            col("city", "varchar", length=100, nullable=False, pii_category="quasi_identifier"),
            col("country_code", "char", length=2, nullable=False, pattern="^[A-Z]{2}$"),
            col("created_at", **CREATED),
        ],
    ),
    (
        "products",
        "Product",
        "reference",
        "The catalogue of things for sale.",
        [
            col("id", "bigint", **PK),
            col("sku", "varchar", length=40, is_unique=True, nullable=False, pattern="^[A-Z0-9-]+$"),
            col("name", "varchar", length=200, nullable=False),
            col("description", "text"),
            col("unit_price", "numeric", precision=12, scale=2, nullable=False, min_value="0"),
            col("active", "boolean", nullable=False, default_value="true"),
            col("created_at", **CREATED),
        ],
    ),
    (
        "orders",
        "Sales",
        "table",
        "One checkout by a customer.",
        [
            col("id", "bigint", **PK),
            col(
                "customer_id", "bigint", nullable=False, references=("customers", "id"), on_delete="restrict"
            ),
            col("shipping_address_id", "bigint", references=("addresses", "id"), on_delete="set_null"),
            col(
                "status",
                "varchar",
                length=20,
                nullable=False,
                default_value="new",
                allowed_values=["new", "paid", "shipped", "cancelled", "refunded"],
            ),
            col("total_amount", "numeric", precision=12, scale=2, nullable=False, min_value="0"),
            col("ordered_at", "timestamptz", nullable=False, default_value="now()"),
        ],
    ),
    (
        "order_items",
        "Sales",
        "table",
        "Lines of an order.",
        [
            col(
                "order_id",
                "bigint",
                primary_key_position=1,
                nullable=False,
                references=("orders", "id"),
                on_delete="cascade",
            ),
            col("line_no", "integer", primary_key_position=2, nullable=False, min_value="1"),
            col("product_id", "bigint", nullable=False, references=("products", "id"), on_delete="restrict"),
            col("quantity", "integer", nullable=False, min_value="1", max_value="10000"),
            col("unit_price", "numeric", precision=12, scale=2, nullable=False, min_value="0"),
        ],
    ),
    (
        "payments",
        "Sales",
        "table",
        "Card and transfer payments for orders.",
        [
            col("id", "uuid", **PK, default_value="gen_random_uuid()"),
            col("order_id", "bigint", nullable=False, references=("orders", "id"), on_delete="restrict"),
            col(
                "method", "varchar", length=20, nullable=False, allowed_values=["card", "transfer", "wallet"]
            ),
            col(
                "card_last4",
                "char",
                length=4,
                pii_category="financial",
                masking_strategy="redact",
                pattern="^[0-9]{4}$",
            ),
            col("iban", "varchar", length=34, pii_category="financial", masking_strategy="tokenize"),
            col("amount", "numeric", precision=12, scale=2, nullable=False, min_value="0"),
            col("paid_at", "timestamptz", nullable=False),
        ],
    ),
]

WAREHOUSE = [
    (
        "dim_date",
        "Sales",
        "dimension",
        "One row per calendar day.",
        [
            col("date_key", "integer", **PK),
            col("calendar_date", "date", nullable=False, is_unique=True),
            col("year", "smallint", nullable=False),
            col("month", "smallint", nullable=False, min_value="1", max_value="12"),
            col("day_of_week", "smallint", nullable=False, min_value="1", max_value="7"),
        ],
    ),
    (
        "dim_customer",
        "Customers",
        "dimension",
        "Customers as of each change (SCD type 2).",
        [
            col("customer_key", "bigint", **PK),
            col("customer_id", "bigint", nullable=False),
            col("segment", "varchar", length=20, nullable=False),
            col("email_hash", "varchar", length=64, pii_category="quasi_identifier", masking_strategy="hash"),
            col("city", "varchar", length=100, pii_category="quasi_identifier"),
            col("country_code", "char", length=2),
            col("valid_from", "timestamptz", nullable=False),
            col("valid_to", "timestamptz"),
            col("is_current", "boolean", nullable=False, default_value="true"),
        ],
    ),
    (
        "dim_product",
        "Product",
        "dimension",
        "Products with their category.",
        [
            col("product_key", "bigint", **PK),
            col("sku", "varchar", length=40, nullable=False, is_unique=True),
            col("name", "varchar", length=200, nullable=False),
            col("category", "varchar", length=60),
        ],
    ),
    (
        "fact_sales",
        "Sales",
        "fact",
        "One row per order line, at the grain of a sale.",
        [
            col("sale_id", "bigint", **PK),
            col("date_key", "integer", nullable=False, references=("dim_date", "date_key")),
            col("customer_key", "bigint", nullable=False, references=("dim_customer", "customer_key")),
            col("product_key", "bigint", nullable=False, references=("dim_product", "product_key")),
            col("quantity", "integer", nullable=False, min_value="0"),
            col("revenue", "numeric", precision=14, scale=2, nullable=False),
            col("sold_at", "timestamptz", nullable=False),
        ],
    ),
]

INDEXES = {
    "shop": [
        ("customers", "customers_name_idx", [("last_name", "asc"), ("first_name", "asc")], [], ""),
        ("orders", "orders_customer_ordered_idx", [("customer_id", "asc"), ("ordered_at", "desc")], [], ""),
        ("orders", "orders_open_idx", [("status", "asc")], ["total_amount"], "status <> 'shipped'"),
        ("addresses", "addresses_customer_idx", [("customer_id", "asc")], [], ""),
        ("payments", "payments_order_idx", [("order_id", "asc")], [], ""),
    ],
    "warehouse": [
        ("fact_sales", "fact_sales_date_idx", [("date_key", "asc")], [], ""),
        ("fact_sales", "fact_sales_customer_idx", [("customer_key", "asc")], [], ""),
    ],
}

RETENTION = [
    (
        "shop",
        "customers",
        "closed accounts",
        "closed_at",
        2,
        "years",
        "anonymize",
        "GDPR",
        "Art. 5(1)(e) storage limitation: anonymize two years after the account is closed.",
    ),
    (
        "shop",
        "orders",
        "bookkeeping",
        "ordered_at",
        10,
        "years",
        "archive",
        "SOX",
        "Financial records are kept ten years, then archived.",
    ),
    (
        "shop",
        "payments",
        "card data",
        "paid_at",
        13,
        "months",
        "delete",
        "PCI DSS",
        "Card data is kept only for the chargeback window.",
    ),
    (
        "shop",
        "users",
        "inactive accounts",
        "last_login_at",
        3,
        "years",
        "delete",
        "CCPA",
        "Accounts unused for three years are deleted.",
    ),
    (
        "shop",
        "addresses",
        "old addresses",
        "created_at",
        5,
        "years",
        "delete",
        "GDPR",
        "Art. 5(1)(e) storage limitation: addresses are deleted five years after they were entered.",
    ),
]
# Policies the demo puts on legal hold, with why
LEGAL_HOLDS = {
    "old addresses": "On hold for the 2025 tax audit: no address is deleted until the auditors sign off.",
}


def _ensure(model, lookup: dict, values: dict, user):
    """(object, created): the object matched by `lookup` as it is, or a new one saved with `values`."""
    obj = model.objects.filter(**lookup).first()
    if obj is not None:
        return obj, False
    return catalog_object_save(obj=model(**{**lookup, **values}), user=user), True


def _demo_users():
    users = {}
    for username, role in DEMO_USERS.items():
        user, created = get_user_model().objects.get_or_create(username=username, defaults={"is_staff": True})
        if created:
            # Group membership only on creation: an administrator's later change to it stays
            user.set_unusable_password()
            user.save()
            user.groups.add(Group.objects.get(name=role))
        users[role] = user
    return users


def _load_entities(store: DataStore, specs, domains, owner):
    deferred = []
    for name, domain, kind, description, columns in specs:
        entity, _created = _ensure(
            Entity,
            {"datastore": store, "name": name},
            {
                "domain": domains[domain],
                "kind": kind,
                "description": description,
                "owner": owner,
                "sensitivity": "confidential"
                if any("pii_category" in c for _n, c in columns)
                else "internal",
            },
            owner,
        )
        for position, (column_name, spec) in enumerate(columns, 1):
            spec = dict(spec)
            reference = spec.pop("references", None)
            on_delete = spec.pop("on_delete", "no_action")
            column, created = _ensure(
                Column, {"entity": entity, "name": column_name}, {"position": position, **spec}, owner
            )
            # A reference is set once, on the column just added; a column that was there keeps its own
            if reference and created:
                deferred.append((column, reference, on_delete))
    for column, (target_entity, target_column), on_delete in deferred:
        target = Column.objects.filter(
            entity__datastore=store, entity__name=target_entity, name=target_column
        ).first()
        if target is None:  # the steward removed or renamed the target: the demo does not bring it back
            continue
        column.references, column.on_delete = target, on_delete
        catalog_object_save(obj=column, user=owner)


def _load_indexes(stores: dict, steward) -> None:
    for store_name, indexes in INDEXES.items():
        for entity_name, name, key_columns, included, condition in indexes:
            entity = Entity.objects.filter(datastore=stores[store_name], name=entity_name).first()
            if entity is None or Index.objects.filter(entity=entity, name=name).exists():
                continue
            index = Index(entity=entity, name=name, condition=condition)
            catalog_object_save(obj=index, user=steward)
            index_columns_set(index=index, key_columns=key_columns, included_columns=included, user=steward)


def _load_retention(stores: dict, officer) -> None:
    for store_name, entity_name, name, anchor, keep, unit, action, regulation, basis in RETENTION:
        entity = Entity.objects.filter(datastore=stores[store_name], name=entity_name).first()
        if entity is None or RetentionPolicy.objects.filter(entity=entity, name=name).exists():
            continue
        anchor_column = entity.columns.filter(name=anchor).first()
        if anchor_column is None:
            continue
        _ensure(
            RetentionPolicy,
            {"entity": entity, "name": name},
            {
                "anchor_column": anchor_column,
                "keep_for": keep,
                "keep_unit": unit,
                "action": action,
                "regulation": Regulation.objects.get(code=regulation),
                "legal_basis": basis,
                "legal_hold": name in LEGAL_HOLDS,
                "description": LEGAL_HOLDS.get(name, ""),
            },
            officer,
        )


@transaction.atomic
def demo_load() -> dict:
    """Add whatever of the demo catalog is missing (never changing what is there); returns counts of what
    it holds."""
    users = _demo_users()
    steward, officer = users[DATA_STEWARD], users[COMPLIANCE_OFFICER]
    stores = {
        spec["name"]: _ensure(
            DataStore, {"name": spec["name"]}, {**spec, "owner": users[PLATFORM_ADMIN]}, users[PLATFORM_ADMIN]
        )[0]
        for spec in STORES
    }
    domains = {
        name: _ensure(Domain, {"name": name}, {"description": text, "owner": steward}, steward)[0]
        for name, text in DOMAINS
    }
    _load_entities(stores["shop"], SHOP, domains, steward)
    _load_entities(stores["warehouse"], WAREHOUSE, domains, steward)
    _load_indexes(stores, steward)
    _load_retention(stores, officer)
    return {
        "datastores": len(stores),
        "entities": Entity.objects.filter(datastore__in=stores.values()).count(),
        "columns": Column.objects.filter(entity__datastore__in=stores.values()).count(),
    }

"""Validation on the catalog models: names, types, keys, checks, foreign keys, deletes."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import RestrictedError

from catalog.choices import DataType, Deferrability, OnDelete, OnUpdate, PIICategory
from catalog.models import Column, DataStore, Entity, Index, RetentionPolicy
from catalog.services import catalog_object_save, column_delete, index_columns_set
from tests.conftest import add_column


def errors_of(obj) -> dict:
    with pytest.raises(ValidationError) as excinfo:
        obj.full_clean()
    return excinfo.value.message_dict


@pytest.mark.parametrize(
    "name, reason",
    [
        ("users; drop table x", "not a valid SQL name"),
        ('ba"z', "not a valid SQL name"),
        ("a" * 64, "at most 63 bytes"),
        ("é" * 32, "at most 63 bytes"),
        ("select", "reserved word"),
        ("Order", "reserved word"),
        ("1st_table", "not a valid SQL name"),
        ("", "cannot be blank"),
    ],
)
def test_hostile_or_broken_entity_names_are_refused(datastore, name, reason):
    errors = errors_of(Entity(datastore=datastore, name=name))
    assert reason in " ".join(errors["name"])
    assert not Entity.objects.exists()


def test_63_byte_name_is_accepted(datastore):
    Entity(datastore=datastore, name="a" * 63).full_clean()


@pytest.mark.parametrize(
    "fields, field, reason",
    [
        ({"data_type": DataType.VARCHAR}, "length", "needs a length"),
        ({"data_type": DataType.INTEGER, "length": 5}, "length", "Only varchar and char"),
        ({"data_type": DataType.NUMERIC, "precision": 5, "scale": 7}, "scale", "larger than precision"),
        ({"data_type": DataType.NUMERIC, "scale": 2}, "precision", "Give a precision"),
        ({"data_type": DataType.TEXT, "precision": 3}, "precision", "Only numeric"),
        (
            {"data_type": DataType.INTEGER, "primary_key_position": 1, "nullable": True},
            "nullable",
            "cannot be",
        ),
        ({"data_type": DataType.INTEGER, "default_value": "abc"}, "default_value", "not a valid integer"),
        ({"data_type": DataType.INTEGER, "default_value": "now()"}, "default_value", "does not suit"),
        (
            {"data_type": DataType.TEXT, "default_value": "pg_sleep(10)"},
            "default_value",
            "Only these functions",
        ),
        ({"data_type": DataType.INTEGER, "min_value": "10", "max_value": "1"}, "max_value", "smaller than"),
        ({"data_type": DataType.BOOLEAN, "min_value": "1"}, "min_value", "numbers, dates and times"),
        ({"data_type": DataType.INTEGER, "pattern": "^a"}, "pattern", "text columns only"),
        ({"data_type": DataType.TEXT, "pattern": "(unclosed"}, "pattern", "not a valid regular expression"),
        # Issue 16 #16: PostgreSQL runs the pattern (CHECK, quality), so PostgreSQL judges it, not Python.
        ({"data_type": DataType.TEXT, "pattern": "(?P<n>[a-z]+)"}, "pattern", "PostgreSQL: invalid embedded"),
        (
            {"data_type": DataType.VARCHAR, "length": 2, "allowed_values": ["abc"]},
            "allowed_values",
            "longer than",
        ),
        ({"data_type": DataType.INTEGER, "allowed_values": ["x"]}, "allowed_values", "not a valid integer"),
        ({"data_type": DataType.TEXT, "masking_strategy": "hash"}, "masking_strategy", "set a PII category"),
        ({"data_type": DataType.INTEGER, "on_delete": OnDelete.CASCADE}, "on_delete", "foreign keys only"),
        # Key generation: integers only, NOT NULL, no default beside it, known sequence options
        (
            {"data_type": DataType.NUMERIC, "generation": "serial", "nullable": False},
            "generation",
            "smallint",
        ),
        ({"data_type": DataType.INTEGER, "generation": "always"}, "nullable", "generated column is NOT NULL"),
        (
            {
                "data_type": DataType.BIGINT,
                "generation": "by_default",
                "nullable": False,
                "default_value": "0",
            },
            "default_value",
            "takes no default value",
        ),
        ({"data_type": DataType.INTEGER, "identity_options": {"start": 5}}, "identity_options", "identity"),
        (
            {
                "data_type": DataType.INTEGER,
                "generation": "serial",
                "nullable": False,
                "identity_options": {"start": 5},
            },
            "identity_options",
            "serial column has no sequence options",
        ),
        (
            {
                "data_type": DataType.INTEGER,
                "generation": "always",
                "nullable": False,
                "identity_options": {"begin": 1},
            },
            "identity_options",
            "Unknown sequence options begin",
        ),
        (
            {
                "data_type": DataType.INTEGER,
                "generation": "always",
                "nullable": False,
                "identity_options": {"increment": 0},
            },
            "identity_options",
            "increment cannot be 0",
        ),
        (
            {
                "data_type": DataType.INTEGER,
                "generation": "always",
                "nullable": False,
                "identity_options": {"minvalue": 9, "maxvalue": 3},
            },
            "identity_options",
            "smaller than maxvalue",
        ),
        (
            {
                "data_type": DataType.INTEGER,
                "generation": "always",
                "nullable": False,
                "identity_options": {"cycle": "y"},
            },
            "identity_options",
            "cycle is true or false",
        ),
        ({"data_type": DataType.INTEGER, "on_update": OnUpdate.CASCADE}, "on_update", "foreign keys only"),
        (
            {"data_type": DataType.INTEGER, "deferrable": Deferrability.INITIALLY_DEFERRED},
            "deferrable",
            "foreign keys only",
        ),
    ],
)
def test_column_rules_report_the_field_and_reason(customer, fields, field, reason):
    errors = errors_of(Column(entity=customer, name="probe", **fields))
    assert reason in " ".join(errors[field]), errors


def test_an_identity_keeps_only_the_sequence_options_that_differ_from_the_default(customer, steward):
    column = catalog_object_save(
        obj=Column(
            entity=customer,
            name="ticket_no",
            data_type=DataType.BIGINT,
            nullable=False,
            generation="always",
            identity_options={"start": 100, "increment": 1, "cycle": False, "cache": 4},
        ),
        user=steward,
    )

    column.refresh_from_db()
    assert column.identity_options == {"start": 100, "cache": 4}


def test_valid_column_with_checks_passes(customer):
    Column(
        entity=customer,
        name="status",
        data_type=DataType.VARCHAR,
        length=10,
        allowed_values=["new", "paid"],
        default_value="new",
        min_length=1,
        pattern=r"^\m[a-z]+\M$",  # PostgreSQL's word boundaries, which Python's re refused
    ).full_clean()
    Column(
        entity=customer,
        name="amount",
        data_type=DataType.NUMERIC,
        precision=12,
        scale=2,
        min_value="0",
        max_value="1000000.00",
        default_value="0",
    ).full_clean()


def test_second_column_at_the_same_primary_key_position_is_refused(customer):
    errors = errors_of(
        Column(
            entity=customer,
            name="other_id",
            data_type=DataType.INTEGER,
            nullable=False,
            primary_key_position=1,
        )
    )
    assert "__all__" in errors


def test_primary_key_column_nullable_is_refused_by_the_database_too(customer):
    column = customer.columns.get(name="id")
    with pytest.raises(IntegrityError), transaction.atomic():
        Column.objects.filter(pk=column.pk).update(nullable=True)


def test_foreign_key_must_point_at_a_key_of_the_same_type_family(customer, steward):
    orders = catalog_object_save(obj=Entity(datastore=customer.datastore, name="orders"), user=steward)
    created = customer.columns.get(name="created_at")
    email = customer.columns.get(name="email")
    pk = customer.columns.get(name="id")
    not_a_key = errors_of(Column(entity=orders, name="c", data_type=DataType.TIMESTAMPTZ, references=created))
    assert "not a primary or unique key" in " ".join(not_a_key["references"])
    wrong_type = errors_of(Column(entity=orders, name="c", data_type=DataType.TEXT, references=pk))
    assert "bigint but this column is text" in " ".join(wrong_type["references"])
    Column(entity=orders, name="customer_id", data_type=DataType.INTEGER, references=pk).full_clean()
    Column(
        entity=orders, name="customer_email", data_type=DataType.VARCHAR, length=200, references=email
    ).full_clean()


def test_foreign_key_cannot_cross_data_stores(customer, steward):
    other = catalog_object_save(obj=DataStore(name="other", engine="sqlite"), user=steward)
    entity = catalog_object_save(obj=Entity(datastore=other, name="t"), user=steward)
    errors = errors_of(
        Column(entity=entity, name="c", data_type=DataType.BIGINT, references=customer.columns.get(name="id"))
    )
    assert "another data store" in " ".join(errors["references"])


def test_set_null_needs_a_nullable_column(customer, steward):
    orders = catalog_object_save(obj=Entity(datastore=customer.datastore, name="orders"), user=steward)
    errors = errors_of(
        Column(
            entity=orders,
            name="customer_id",
            data_type=DataType.BIGINT,
            nullable=False,
            references=customer.columns.get(name="id"),
            on_delete=OnDelete.SET_NULL,
        )
    )
    assert "nullable" in " ".join(errors["on_delete"])


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"nullable": False, "on_update": OnUpdate.SET_NULL}, "SET NULL needs a nullable column."),
        ({"nullable": True, "on_update": OnUpdate.SET_DEFAULT}, "SET DEFAULT needs a default value."),
    ],
)
def test_on_update_set_null_and_set_default_need_what_on_delete_needs(customer, steward, fields, reason):
    orders = catalog_object_save(obj=Entity(datastore=customer.datastore, name="orders"), user=steward)
    column = Column(
        entity=orders,
        name="customer_id",
        data_type=DataType.BIGINT,
        references=customer.columns.get(name="id"),
        **fields,
    )
    errors = errors_of(column)
    assert errors == {"on_update": [reason]}
    column.on_update, column.nullable, column.default_value = fields["on_update"], True, "0"
    column.deferrable = Deferrability.INITIALLY_DEFERRED
    column.full_clean()


def test_a_column_of_a_composite_primary_key_is_not_a_foreign_key_target(customer, steward):
    line = catalog_object_save(obj=Entity(datastore=customer.datastore, name="order_line"), user=steward)
    first = add_column(line, "order_id", DataType.BIGINT, steward, primary_key_position=1, nullable=False)
    add_column(line, "line_no", DataType.INTEGER, steward, primary_key_position=2, nullable=False)
    errors = errors_of(Column(entity=customer, name="line_ref", data_type=DataType.BIGINT, references=first))
    assert "not a primary or unique key" in " ".join(errors["references"])


def test_referenced_column_cannot_be_deleted_and_nothing_is_deleted(customer, steward):
    orders = catalog_object_save(obj=Entity(datastore=customer.datastore, name="orders"), user=steward)
    pk = customer.columns.get(name="id")
    add_column(orders, "customer_id", DataType.BIGINT, steward, references=pk)
    with pytest.raises(
        ValidationError, match="referenced by foreign key orders.customer_id; remove that foreign key first"
    ):
        column_delete(column=pk, user=steward)
    with pytest.raises(RestrictedError), transaction.atomic():
        pk.delete()
    assert Column.objects.filter(pk=pk.pk).exists()


def test_column_used_by_an_index_cannot_be_deleted(customer, steward):
    index = catalog_object_save(obj=Index(entity=customer, name="customer_created_idx"), user=steward)
    index_columns_set(index=index, key_columns=[("created_at", "desc")], included_columns=[], user=steward)
    with pytest.raises(
        ValidationError,
        match="Column 'created_at' is used by index 'customer_created_idx'; remove it from the index first",
    ):
        column_delete(column=customer.columns.get(name="created_at"), user=steward)


def test_deleting_an_entity_takes_its_columns_indexes_and_own_foreign_keys(customer, steward):
    add_column(customer, "referrer_id", DataType.BIGINT, steward, references=customer.columns.get(name="id"))
    index = catalog_object_save(obj=Index(entity=customer, name="customer_email_idx"), user=steward)
    index_columns_set(index=index, key_columns=[("email", "asc")], included_columns=[], user=steward)
    customer.delete()
    assert not Column.objects.exists()


def test_unused_column_is_deleted_with_history(customer, steward):
    column = customer.columns.get(name="created_at")
    column_id = column.pk
    column_delete(column=column, user=steward)
    deleted = Column.history.filter(id=column_id, history_type="-").get()
    assert deleted.history_user == steward


@pytest.mark.parametrize(
    "condition, reason",
    [
        ("deleted_at IS NULL; DROP TABLE customer", "one condition"),
        ("(select count(*) from customer) > 1", "not allowed"),
        ("pg_sleep(10) IS NULL", "not allowed"),
        ("other.email IS NULL", "without a table name"),
        ("nope = 1", "not a column"),
        ("id + 1", "is not a condition"),
    ],
)
def test_hostile_index_conditions_are_refused(customer, condition, reason):
    errors = errors_of(Index(entity=customer, name="idx_probe", condition=condition))
    assert reason in " ".join(errors["condition"])


def test_partial_index_condition_on_own_columns_is_accepted(customer):
    Index(
        entity=customer, name="idx_probe", condition="email IS NOT NULL AND lower(email) LIKE '%@x.org'"
    ).full_clean()


def test_index_names_are_unique_per_data_store(customer, steward):
    catalog_object_save(obj=Index(entity=customer, name="idx_one"), user=steward)
    other = catalog_object_save(obj=Entity(datastore=customer.datastore, name="other"), user=steward)
    assert "Another index" in " ".join(errors_of(Index(entity=other, name="idx_one"))["name"])


def test_retention_anchor_must_be_a_date_column_of_the_entity(customer):
    errors = errors_of(
        RetentionPolicy(
            entity=customer, name="p", anchor_column=customer.columns.get(name="email"), keep_for=2
        )
    )
    assert "must be a date or timestamp" in " ".join(errors["anchor_column"])
    RetentionPolicy(
        entity=customer, name="p", anchor_column=customer.columns.get(name="created_at"), keep_for=2
    ).full_clean()


def test_datastore_connection_comes_from_one_place_and_an_alias_must_exist(db):
    errors = errors_of(DataStore(name="x", connection_alias="default", url_env="X_URL"))
    assert "not both" in " ".join(errors["url_env"])
    errors = errors_of(DataStore(name="x", connection_alias="nope"))
    assert "There is no database called 'nope'" in " ".join(errors["connection_alias"])
    errors = errors_of(DataStore(name="x", url_env="lower-case"))
    assert "environment variable" in " ".join(errors["url_env"])
    errors = errors_of(DataStore(name="x", engine="sqlite", schema_name="main"))
    assert "no schemas" in " ".join(errors["schema_name"])


def test_pii_flags(customer):
    assert customer.columns.get(name="email").is_pii
    assert customer.columns.get(name="email").pii_category == PIICategory.DIRECT_IDENTIFIER
    assert not customer.columns.get(name="id").is_pii


def test_position_defaults_to_last(customer, steward):
    column = add_column(customer, "late", DataType.TEXT, steward)
    assert column.position == 4


def test_a_description_over_ten_thousand_characters_is_refused_on_the_field(customer):
    customer.description = "x" * 10_001
    with pytest.raises(ValidationError) as refused:
        customer.full_clean()
    assert refused.value.message_dict["description"] == [
        "At most 10000 characters, please; this text has 10001."
    ]
    customer.description = "x" * 10_000
    customer.full_clean()


def test_keep_for_zero_is_refused_on_the_field_in_words(customer):
    from catalog.models import RetentionPolicy

    policy = RetentionPolicy(
        entity=customer,
        name="p",
        anchor_column=customer.columns.get(name="created_at"),
        keep_for=0,
        keep_unit="days",
    )
    with pytest.raises(ValidationError) as refused:
        policy.full_clean()
    assert refused.value.message_dict == {"keep_for": ["Keep for must be at least 1 day."]}


# Only the names in DATABASES are read (no connection is opened), which Django's warning is about.
@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_an_unknown_alias_names_only_the_databases_a_data_store_may_use(db, settings):
    # Only Custodian's own database is configured: no alias is offered, and never its own.
    settings.DATABASES = {"default": settings.DATABASES["default"]}
    errors = errors_of(DataStore(name="x", connection_alias="DEFAULT"))
    assert errors["connection_alias"] == [
        "There is no database called 'DEFAULT'. No database other than Custodian's own is configured: "
        "give a URL environment variable instead."
    ]


# Only the names in DATABASES are read (no connection is opened), which Django's warning is about.
@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_an_unknown_alias_lists_the_other_configured_databases(db, settings):
    settings.DATABASES = {
        **settings.DATABASES,
        "warehouse": {**settings.DATABASES["default"], "NAME": "warehouse_db"},
        "archive": {**settings.DATABASES["default"], "NAME": "archive_db"},
    }
    errors = errors_of(DataStore(name="x", connection_alias="DEFAULT"))
    assert errors["connection_alias"] == [
        "There is no database called 'DEFAULT'. The databases a data store may use: archive, warehouse."
    ]

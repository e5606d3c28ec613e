"""The typed schema model: read once from a release's JSON, written back byte for byte, found by id."""

import dataclasses

import pytest

from catalog.demo import demo_load
from catalog.models import Column, DataStore
from catalog.schema.model import (
    ColumnType,
    SchemaModel,
    schema_model_from_catalog,
    schema_model_from_snapshot,
    schema_model_snapshot,
)
from catalog.schema.snapshot import EMPTY_SNAPSHOT, snapshot_build, snapshot_canonical, snapshot_empty


@pytest.fixture
def shop(db):
    demo_load()
    return DataStore.objects.get(name="shop")


def test_every_demo_store_reads_into_the_model_and_writes_back_the_same_json(shop):
    for store in DataStore.objects.all():
        snapshot = snapshot_build(store)
        model = schema_model_from_snapshot(snapshot)
        assert snapshot_canonical(schema_model_snapshot(model)) == snapshot_canonical(snapshot)


def test_a_release_older_than_unique_constraints_loads_and_keeps_its_json(shop):
    snapshot = snapshot_build(shop)
    for entity in snapshot["entities"].values():
        for index in entity["indexes"].values():
            index.pop("is_constraint", None)
    model = schema_model_from_snapshot(snapshot)
    assert not any(index.is_constraint for table in model.tables for index in table.indexes)
    assert schema_model_snapshot(model) == snapshot


def test_version_zero_and_the_empty_snapshot_are_models_without_tables(shop):
    assert schema_model_from_snapshot(EMPTY_SNAPSHOT) == SchemaModel()
    assert schema_model_snapshot(SchemaModel()) == EMPTY_SNAPSHOT
    empty = schema_model_from_snapshot(snapshot_empty(shop))
    assert (empty.store.name, empty.store.engine, empty.tables) == ("shop", shop.engine, ())


def test_tables_come_by_name_columns_by_position_and_both_are_found_by_id(shop):
    model = schema_model_from_catalog(shop)
    assert [t.name for t in model.tables] == sorted(t.name for t in model.tables)
    for table in model.tables:
        assert [c.position for c in table.columns] == sorted(c.position for c in table.columns)
        assert model.table(table.id) is table
        for column in table.columns:
            assert model.column(column.id) == (table, column)
    entity = shop.entities.get(name="order_items")
    table = model.table(str(entity.pk))
    assert [c.name for c in table.primary_key] == [
        c.name for c in entity.columns.exclude(primary_key_position=None).order_by("primary_key_position")
    ]


def test_foreign_keys_point_at_the_target_table_and_column(shop):
    model = schema_model_from_catalog(shop)
    pairs = set()
    for table in model.tables:
        for foreign_key in table.foreign_keys:
            target = model.table(foreign_key.target_table_id)
            (target_column_id,) = foreign_key.target_column_ids
            (column_id,) = foreign_key.column_ids
            pairs.add((f"{table.name}.{table.column(column_id).name}", target.name))
            assert target.has_column(target_column_id)
    expected = {
        (f"{c.entity.name}.{c.name}", c.references.entity.name)
        for c in Column.objects.filter(entity__datastore=shop, references__isnull=False).select_related(
            "entity", "references__entity"
        )
    }
    assert pairs == expected and pairs


def test_tables_and_columns_are_found_by_name_and_incoming_keys_by_target(shop):
    model = schema_model_from_catalog(shop)
    orders = model.table_named("orders")
    assert orders.column_named("customer_id").name == "customer_id"
    with pytest.raises(KeyError):
        model.table_named("nope")
    with pytest.raises(KeyError):
        orders.column_named("nope")
    incoming = {
        (table.name, table.column(fk.column_ids[0]).name) for table, fk in model.references_to(orders.id)
    }
    expected = {
        (c.entity.name, c.name)
        for c in Column.objects.filter(references__entity__name="orders", entity__datastore=shop)
    }
    assert incoming == expected and incoming


def test_the_model_is_immutable_and_compares_by_value(shop):
    one, two = schema_model_from_catalog(shop), schema_model_from_catalog(shop)
    assert one == two
    with pytest.raises(dataclasses.FrozenInstanceError):
        one.tables[0].name = "renamed"


@pytest.mark.parametrize(
    ("old", "new", "narrows"),
    [
        (ColumnType("integer"), ColumnType("bigint"), False),
        (ColumnType("bigint"), ColumnType("smallint"), True),
        (ColumnType("integer"), ColumnType("numeric", precision=12, scale=0), False),
        (ColumnType("varchar", 50), ColumnType("varchar", 20), True),
        (ColumnType("varchar", 20), ColumnType("text"), False),
        (ColumnType("text"), ColumnType("varchar", 200), True),
        (ColumnType("numeric", precision=10, scale=2), ColumnType("numeric", precision=12, scale=2), False),
        (ColumnType("numeric", precision=10, scale=2), ColumnType("numeric", precision=10, scale=1), True),
        (ColumnType("numeric"), ColumnType("numeric", precision=10, scale=2), True),
        (ColumnType("real"), ColumnType("double"), False),
        (ColumnType("timestamp"), ColumnType("timestamptz"), False),
        (ColumnType("date"), ColumnType("timestamp"), True),
        (ColumnType("varchar", 10), ColumnType("integer"), True),
    ],
)
def test_a_type_change_narrows_when_old_values_may_not_fit(old, new, narrows):
    assert old.narrows_to(new) is narrows


@pytest.mark.parametrize(
    ("column_type", "label"),
    [
        (ColumnType("varchar", 50), "varchar(50)"),
        (ColumnType("numeric", precision=12, scale=2), "numeric(12,2)"),
        (ColumnType("numeric", precision=12), "numeric(12,0)"),
        (ColumnType("numeric"), "numeric"),
        (ColumnType("timestamptz"), "timestamptz"),
    ],
)
def test_a_type_reads_as_a_person_writes_it(column_type, label):
    assert column_type.label == label

"""Issue 15 #5: an import is not a way around a field-level permission.

A partial index's SQL condition needs `catalog.write_sql_condition`; an entity's sensitivity and legal hold
need `catalog.change_entity_compliance`; a column's PII category and masking need `catalog.change_column`
or `catalog.change_column_pii`. An import that sets a new value without the permission is refused on that
field, the file changes nothing, and a row that leaves the value as it stands passes."""

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog.imports import catalog_import, result_error_lines
from catalog.models import Column, Entity, Index
from catalog.services import catalog_object_save
from tests.conftest import make_user

INDEX_HEADER = "datastore,entity,name,method,columns,condition\n"


def user_with(*codenames: str):
    user = make_user("limited")
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="catalog", codename__in=codenames)
    )
    return type(user).objects.get(pk=user.pk)  # a fresh object: permissions are cached per instance


def run_import(kind: str, text: str, user):
    return catalog_import(resource_name=kind, content=text.encode(), file_format="csv", user=user)


@pytest.fixture
def indexer(db):
    """May add and change indexes, not write their SQL conditions."""
    return user_with("add_index", "change_index", "view_index", "view_entity", "view_column")


def test_a_new_partial_index_condition_is_refused_without_the_permission(indexer, customer):
    result = run_import(
        "indexes", INDEX_HEADER + "shop,customer,customer_live,btree,id,pg_sleep(10) IS NULL\n", indexer
    )
    assert result_error_lines(result) == [
        "Row 1: condition: You may not change the condition: that needs the permission "
        "catalog.write_sql_condition. Leave it as it is (empty) or ask someone who has it to import this row."
    ]
    assert not Index.objects.exists()


def test_a_changed_condition_is_refused_and_an_unchanged_one_passes(indexer, steward, customer):
    result = run_import("indexes", INDEX_HEADER + "shop,customer,customer_live,btree,id,id > 0\n", steward)
    assert not result_error_lines(result)
    changed = run_import("indexes", INDEX_HEADER + "shop,customer,customer_live,btree,id,true\n", indexer)
    assert "Leave it as it is ('id > 0')" in result_error_lines(changed)[0]
    assert Index.objects.get().condition == "id > 0"
    same = run_import(
        "indexes", INDEX_HEADER + 'shop,customer,customer_live,btree,"created_at, id",id > 0\n', indexer
    )
    assert not result_error_lines(same)
    index = Index.objects.get()
    assert index.condition == "id > 0" and index.index_columns.count() == 2


def test_the_admin_import_shows_the_refusal_on_the_condition_field(client, indexer, customer):
    client.force_login(indexer)
    content = (INDEX_HEADER + "shop,customer,customer_live,btree,id,id > 0\n").encode()
    response = client.post(
        reverse("admin:catalog_index_import"),
        {"import_file": SimpleUploadedFile("i.csv", content), "format": 0, "resource": 0},
    )
    assert "confirm_form" not in response.context
    assert "You may not change the condition" in response.content.decode()
    assert not Index.objects.exists()


@pytest.mark.parametrize(
    "row, field",
    [("shop,orders,restricted,0\n", "sensitivity"), ("shop,orders,internal,1\n", "legal_hold")],
)
def test_a_steward_cannot_set_sensitivity_or_legal_hold_by_import(steward, datastore, row, field):
    catalog_object_save(obj=Entity(datastore=datastore, name="orders"), user=steward)
    result = run_import("entities", "datastore,name,sensitivity,legal_hold\n" + row, steward)
    (line,) = result_error_lines(result)
    assert line.startswith(f"Row 1: {field}: You may not change the ")
    assert "catalog.change_entity_compliance" in line
    orders = Entity.objects.get(name="orders")
    assert (orders.sensitivity, orders.legal_hold) == ("internal", False)


def test_an_officer_may_release_a_legal_hold_by_import_and_a_steward_may_reimport_it_unchanged(
    steward, officer, datastore
):
    orders = catalog_object_save(
        obj=Entity(datastore=datastore, name="orders", legal_hold=True), user=steward
    )
    unchanged = run_import("entities", "datastore,name,kind,legal_hold\nshop,orders,fact,yes\n", steward)
    assert not result_error_lines(unchanged)
    officer.user_permissions.add(Permission.objects.get(codename="add_entity"))
    officer = type(officer).objects.get(pk=officer.pk)
    released = run_import("entities", "datastore,name,legal_hold\nshop,orders,no\n", officer)
    assert not result_error_lines(released)
    orders.refresh_from_db()
    assert (orders.kind, orders.legal_hold) == ("fact", False)


def test_pii_category_of_an_existing_column_needs_the_pii_permission(customer, steward, officer):
    """As on the column page: whoever adds a column classifies it; changing it later is the officer's."""
    header = "datastore,entity,name,data_type,pii_category\n"
    added = run_import("columns", header + "shop,customer,phone,text,direct_identifier\n", steward)
    assert not result_error_lines(added)
    assert Column.objects.get(name="phone").pii_category == "direct_identifier"
    unclassified = run_import("columns", header + "shop,customer,phone,text,none\n", steward)
    assert "Row 1: pii_category: You may not change the PII category" in " ".join(
        result_error_lines(unclassified)
    )
    assert Column.objects.get(name="phone").pii_category == "direct_identifier"
    officer.user_permissions.add(Permission.objects.get(codename="add_column"))
    officer = type(officer).objects.get(pk=officer.pk)
    assert not result_error_lines(run_import("columns", header + "shop,customer,phone,text,none\n", officer))
    assert Column.objects.get(name="phone").pii_category == "none"

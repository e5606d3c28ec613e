"""Catalog import/export by natural keys: round trips, all-or-nothing, history for every imported change."""

import io
import json

import openpyxl
import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse

from catalog.demo import demo_load
from catalog.exceptions import CatalogError
from catalog.imports import catalog_import, result_error_lines
from catalog.models import Column, DataStore, Domain, Entity, Index, RetentionPolicy
from catalog.resources import RESOURCES
from catalog.roles import COMPLIANCE_OFFICER
from catalog.services import index_columns_spec

ORDER = ["datastores", "domains", "entities", "columns", "indexes", "retention_policies"]
COLUMN_HEADER = "datastore,entity,name,data_type,length,nullable,primary_key_position,references\n"


def export(kind: str, file_format: str = "csv"):
    from catalog.imports import FORMATS

    resource = RESOURCES[kind]()
    return FORMATS[file_format]().export_data(resource.export(resource.get_queryset()))


def run_import(kind, text, user, file_format="csv", dry_run=False):
    content = text.encode() if isinstance(text, str) else text
    return catalog_import(
        resource_name=kind, content=content, file_format=file_format, user=user, dry_run=dry_run
    )


@pytest.mark.parametrize("file_format", ["csv", "xlsx", "json"])
def test_export_of_the_demo_imports_into_an_empty_installation_unchanged(steward, file_format):
    # Sensitivity and legal hold come with the entities: moving them needs the officer's permission too.
    steward.groups.add(Group.objects.get(name=COMPLIANCE_OFFICER))
    steward = type(steward).objects.get(pk=steward.pk)
    demo_load()
    before = {kind: export(kind) for kind in ORDER}
    files = {kind: export(kind, file_format) for kind in ORDER}
    Entity.objects.update(partition_column=None)
    RetentionPolicy.objects.all().delete()
    Index.objects.all().delete()
    Column.objects.update(references=None)
    Entity.objects.all().delete()
    DataStore.objects.all().delete()
    Domain.objects.all().delete()
    for kind in ORDER:
        content = files[kind].encode() if isinstance(files[kind], str) else files[kind]
        result = run_import(kind, content, steward, file_format)
        assert not result_error_lines(result), (kind, result_error_lines(result))
    assert {kind: export(kind) for kind in ORDER} == before


def test_columns_may_reference_columns_further_down_the_file(steward, datastore):
    run_import("entities", "datastore,name\nshop,orders\nshop,customer\n", steward)
    result = run_import(
        "columns",
        COLUMN_HEADER + "shop,orders,id,bigint,,0,1,\n"
        "shop,orders,customer_id,bigint,,1,,customer.id\n"
        "shop,customer,id,bigint,,0,1,\n",
        steward,
    )
    assert not result_error_lines(result)
    fk = Column.objects.get(entity__name="orders", name="customer_id")
    assert str(fk.references) == "customer.id"
    assert Column.history.filter(id=fk.pk).count() == 1


def test_columns_import_and_export_on_update_and_deferrable(steward, datastore):
    run_import("entities", "datastore,name\nshop,orders\nshop,customer\n", steward)
    header = "datastore,entity,name,data_type,nullable,primary_key_position,references,on_update,deferrable\n"
    result = run_import(
        "columns",
        header + "shop,orders,id,bigint,0,1,,,\n"
        "shop,orders,customer_id,bigint,1,,customer.id,set_null,initially_deferred\n"
        "shop,customer,id,bigint,0,1,,,\n",
        steward,
    )
    assert not result_error_lines(result)
    fk = Column.objects.get(entity__name="orders", name="customer_id")
    assert (fk.on_update, fk.deferrable) == ("set_null", "initially_deferred")
    exported = export("columns")
    assert "on_update" in exported.splitlines()[0] and ",set_null,initially_deferred" in exported
    result = run_import(
        "columns", header + "shop,orders,customer_id,bigint,0,,customer.id,set_null,not_deferrable\n", steward
    )
    assert result_error_lines(result) == ["Row 1: on_update: SET NULL needs a nullable column."]


def test_one_invalid_row_changes_nothing_and_each_error_names_row_field_and_reason(steward, datastore):
    run_import("entities", "datastore,name\nshop,orders\n", steward)
    result = run_import(
        "columns",
        COLUMN_HEADER + "shop,orders,id,bigint,,0,1,\n"
        "shop,orders,users; drop table x,text,,1,,\n"
        "shop,orders,label,varchar,,1,,\n"
        "shop,orders,qty,integer,abc,1,,\n"
        "shop,orders,ref,bigint,,1,,nowhere.id\n"
        "shop,ghost,x,text,,1,,\n",
        steward,
    )
    lines = result_error_lines(result)
    assert any(
        line.startswith("Row 2: name: 'users; drop table x' is not a valid SQL name") for line in lines
    )
    assert any(line.startswith("Row 3: length: varchar needs a length") for line in lines)
    assert any(line.startswith("Row 4: length:") and "abc" in line for line in lines), lines
    assert any(line.startswith("Row 5: references: 'nowhere.id' is not a column") for line in lines)
    assert any(line.startswith("Row 6: entity: No entity 'ghost'") for line in lines)
    assert not Column.objects.exists()


def test_unknown_header_is_refused_before_any_row(steward, datastore):
    result = run_import("entities", "datastore,name,colour\nshop,orders,red\n", steward)
    assert "Unknown column in the file: colour" in " ".join(result_error_lines(result))
    assert not Entity.objects.exists()


@pytest.mark.parametrize(
    "content, file_format, message",
    [
        (b"", "csv", "The file is empty."),
        (b"datastore,name\n", "csv", "no rows below its header"),
        (b"\xff\xfe\x00n\x00a", "csv", "not UTF-8 text"),
        (b"{not json", "json", "not valid JSON"),
        (b"PK\x03\x04truncated", "xlsx", "not a readable XLSX workbook"),
        (b"datastore,name\nshop,x\n", "yaml", "'yaml' is not a supported format"),
    ],
)
def test_unreadable_files_get_a_specific_message(steward, datastore, content, file_format, message):
    with pytest.raises(CatalogError, match=message):
        run_import("entities", content, steward, file_format)
    assert not Entity.objects.exists()


def test_file_over_the_size_limit_is_refused_unread(steward, settings):
    settings.CUSTODIAN_MAX_IMPORT_BYTES = 1024
    with pytest.raises(CatalogError, match="limited to 1,024 bytes"):
        run_import("entities", b"datastore,name\n" + b"shop,x\n" * 500, steward)


def test_bulk_entity_import_writes_history_for_the_importing_user(steward, officer, datastore):
    result = run_import("entities", "datastore,name,kind\nshop,a,table\nshop,b,fact\n", steward)
    assert result.totals["new"] == 2
    assert set(Entity.history.filter(history_type="+").values_list("name", "history_user__username")) == {
        ("a", "steward"),
        ("b", "steward"),
    }
    run_import("entities", "datastore,name,kind\nshop,a,dimension\nshop,b,fact\n", officer)
    changed = Entity.history.filter(history_type="~").get()
    assert (changed.name, changed.kind, changed.history_user) == ("a", "dimension", officer)
    assert Entity.objects.get(name="a").version == 2


def test_dry_run_reports_and_saves_nothing(steward, datastore):
    result = run_import("entities", "datastore,name\nshop,a\n", steward, dry_run=True)
    assert result.totals["new"] == 1
    assert not Entity.objects.exists() and not Entity.history.exists()


def test_index_import_sets_ordered_columns(steward, customer):
    result = run_import(
        "indexes",
        "datastore,entity,name,method,columns,include\n"
        'shop,customer,customer_recent_idx,btree,"created_at DESC, id",email\n',
        steward,
    )
    assert not result_error_lines(result)
    index = Index.objects.get(name="customer_recent_idx")
    assert index_columns_spec(index) == "created_at DESC, id"
    assert index_columns_spec(index, included=True) == "email"


def test_xlsx_round_trip_of_columns(steward, customer):
    workbook = openpyxl.load_workbook(io.BytesIO(export("columns", "xlsx")))
    rows = list(workbook.active.values)
    assert rows[0][:3] == ("datastore", "entity", "name") and len(rows) == 4


def test_json_export_uses_natural_keys(customer):
    rows = json.loads(export("columns", "json"))
    assert {(r["datastore"], r["entity"], r["name"]) for r in rows} == {
        ("shop", "customer", "id"),
        ("shop", "customer", "email"),
        ("shop", "customer", "created_at"),
    }
    assert "id" not in rows[0] or rows[0]["id"] == "id"


def test_import_command_reports_row_errors_and_exits_non_zero(tmp_path, steward, datastore):
    bad = tmp_path / "entities.csv"
    bad.write_text("datastore,name\nshop,select\n")
    with pytest.raises(Exception, match="Row 1: name: 'select' is a reserved word"):
        call_command("catalog_import", "entities", str(bad), "--user", "steward")
    good = tmp_path / "good.csv"
    good.write_text("datastore,name\nshop,sales\n")
    out = io.StringIO()
    call_command("catalog_import", "entities", str(good), "--user", "steward", stdout=out)
    assert "Imported: 1 new." in out.getvalue()


def admin_import(client, kind_url, content: bytes, name: str, fmt_index: int):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        reverse(kind_url),
        {"import_file": SimpleUploadedFile(name, content), "format": fmt_index, "resource": 0},
    )


def test_admin_import_previews_then_confirms_with_history(client, steward, datastore):
    client.force_login(steward)
    preview = admin_import(
        client, "admin:catalog_entity_import", b"datastore,name\nshop,orders\n", "e.csv", 0
    )
    assert preview.status_code == 200
    assert "confirm_form" in preview.context and not Entity.objects.exists()
    confirm = preview.context["confirm_form"].initial
    done = client.post(reverse("admin:catalog_entity_process_import"), confirm, follow=True)
    assert done.status_code == 200
    assert Entity.history.get(name="orders").history_user == steward


def test_admin_import_shows_row_errors_and_offers_no_confirm(client, steward, datastore):
    client.force_login(steward)
    response = admin_import(
        client, "admin:catalog_entity_import", b"datastore,name\nshop,select\n", "e.csv", 0
    )
    body = response.content.decode()
    assert "reserved word" in body and "confirm_form" not in response.context
    assert not Entity.objects.exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "file is empty"),
        (b"  \n ", "The file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", "not UTF-8 text"),
    ],
)
def test_admin_import_refuses_unreadable_files_with_a_message(client, steward, content, message):
    client.force_login(steward)
    response = admin_import(client, "admin:catalog_entity_import", content, "e.csv", 0)
    assert message in response.content.decode()


def test_admin_import_refuses_a_file_over_the_limit(client, steward, settings):
    settings.CUSTODIAN_MAX_IMPORT_BYTES = 100
    client.force_login(steward)
    response = admin_import(
        client, "admin:catalog_entity_import", b"datastore,name\n" + b"shop,x\n" * 50, "e.csv", 0
    )
    assert "limited to" in response.content.decode()


@pytest.mark.parametrize("value", ["maybe", "yes please", "2", "ja"])
def test_a_boolean_that_is_not_clearly_yes_or_no_is_a_row_error_on_its_field(steward, customer, value):
    result = run_import(
        "columns",
        "datastore,entity,name,data_type,nullable,is_unique\n"
        f"shop,customer,x,text,{value},no\nshop,customer,y,text,yes,{value}\n",
        steward,
    )
    lines = result_error_lines(result)
    assert (
        f"Row 1: nullable: '{value}' is not a yes/no value; write true or false (yes/no, 1/0 also work)."
        in lines
    )
    assert any(line.startswith("Row 2: is_unique: ") for line in lines)
    assert not Column.objects.filter(name__in=["x", "y"]).exists()


@pytest.mark.parametrize("nullable, expected", [("TRUE", True), ("No", False), ("1", True), ("false", False)])
def test_clear_booleans_import_in_any_case(steward, customer, nullable, expected):
    result = run_import(
        "columns", f"datastore,entity,name,data_type,nullable\nshop,customer,x,text,{nullable}\n", steward
    )
    assert not result_error_lines(result)
    assert Column.objects.get(name="x").nullable is expected


def test_a_file_with_wrong_columns_says_which_are_missing_and_unknown(steward, datastore):
    result = run_import("entities", "Name,kind,colour\nx,table,red\n", steward)
    (line,) = result_error_lines(result)
    assert line.startswith(
        "File: Missing columns in the file: datastore, name (every row names its datastore and name). "
        "Unknown columns in the file: Name, colour. Expected columns: datastore, description,"
    )
    assert not Entity.objects.exists()


def test_the_admin_import_shows_wrong_columns_without_a_traceback(client, steward, datastore):
    client.force_login(steward)
    response = admin_import(client, "admin:catalog_entity_import", b"name,kind\nx,table\n", "e.csv", 0)
    body = response.content.decode()
    assert "Missing column in the file: datastore (every row names its datastore and name)." in body
    assert "Traceback" not in body and "import_id_fields" not in body


def test_key_generation_and_identity_options_round_trip_through_a_file(steward, customer):
    result = run_import(
        "columns",
        "datastore,entity,name,data_type,nullable,generation,identity_options\n"
        'shop,customer,ticket_no,bigint,no,always,"{""start"": 100, ""increment"": 5}"\n'
        "shop,customer,seq_no,integer,no,serial,\n",
        steward,
    )
    assert not result_error_lines(result)
    ticket = Column.objects.get(name="ticket_no")
    assert (ticket.generation, ticket.identity_options) == ("always", {"start": 100, "increment": 5})
    assert Column.objects.get(name="seq_no").identity_options == {}

    exported = export("columns").splitlines()
    header = exported[0].split(",")
    assert "generation" in header and "identity_options" in header
    assert any('"{""increment"": 5, ""start"": 100}"' in line for line in exported)


def test_sequence_options_that_are_no_object_are_a_row_error(steward, customer):
    result = run_import(
        "columns",
        "datastore,entity,name,data_type,nullable,generation,identity_options\n"
        "shop,customer,ticket_no,bigint,no,always,[100]\n",
        steward,
    )
    (line,) = result_error_lines(result)
    assert line.startswith("Row 1: identity_options: Write the options as a JSON object")

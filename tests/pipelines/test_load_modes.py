"""Load modes and incremental extraction against real PostgreSQL: what each run leaves in the target."""

import pytest
from psycopg import sql

from catalog.choices import DataType
from catalog.models import Entity
from catalog.schema.apply import schema_apply_execute
from catalog.schema.releases import release_publish
from catalog.services import catalog_object_save
from core.quoting import identifier
from pipelines.choices import ErrorKind, RunStatus
from pipelines.load import STATE_TABLE
from pipelines.models import PipelineState
from pipelines.runner import pipeline_run_execute
from pipelines.services import pipeline_run_request
from tests.conftest import add_column
from tests.pipelines.conftest import CUSTOMER_CSV, make_pipeline, query

pytestmark = pytest.mark.django_db

HEADER = "id,email,name,country,signup,score,active,updated\n"


def run_once(pipeline, user):
    run = pipeline_run_request(pipeline, user=user, enqueue=False)
    return pipeline_run_execute(run.pk)


WATERMARK = sql.SQL("SELECT watermark FROM {} WHERE pipeline = 'customers'").format(
    identifier("app", STATE_TABLE)
)


def rows(store, columns="customer_id, email, full_name, country, score"):
    return query(store, sql.SQL("SELECT {} FROM app.customer ORDER BY customer_id").format(sql.SQL(columns)))


def test_append_loads_every_valid_row_and_a_key_clash_rolls_the_whole_run_back(
    shop, import_root, platform_admin
):
    (import_root / "customers.csv").write_text(CUSTOMER_CSV)
    pipeline = make_pipeline(shop.customer, platform_admin)
    run = run_once(pipeline, platform_admin)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert (run.rows_extracted, run.rows_loaded, run.rows_inserted, run.rows_rejected) == (3, 3, 3, 0)
    assert rows(shop)[0] == (1, "ada@example.com", "Ada Lovelace", "DE", pytest.approx(91.5))
    assert set(run.timings) >= {"extract", "transform", "load", "commit"} and run.rows_per_second > 0

    (import_root / "customers.csv").write_text(CUSTOMER_CSV + "4,new@example.com,New,DE,2024-01-01,1,no,\n")
    again = run_once(pipeline, platform_admin)
    assert again.status == RunStatus.FAILED and again.error_kind == ErrorKind.DATA
    assert "duplicate key" in again.error and "Nothing was loaded" in again.error
    assert len(rows(shop)) == 3  # row 4 was not loaded either: one transaction


def test_replace_swaps_the_rows_in_one_transaction(shop, import_root, platform_admin):
    (import_root / "customers.csv").write_text(CUSTOMER_CSV)
    pipeline = make_pipeline(shop.customer, platform_admin, load_mode="replace")
    assert run_once(pipeline, platform_admin).status == RunStatus.SUCCEEDED
    (import_root / "customers.csv").write_text(HEADER + "9,z@example.com,Zed,US,,,,\n")
    run = run_once(pipeline, platform_admin)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert [r[0] for r in rows(shop)] == [9]
    assert any("removed 3" in w for w in run.warnings)


def test_upsert_inserts_new_keys_updates_changed_rows_and_leaves_unchanged_rows_alone(
    shop, import_root, platform_admin
):
    (import_root / "customers.csv").write_text(CUSTOMER_CSV)
    pipeline = make_pipeline(shop.customer, platform_admin, load_mode="upsert")
    assert run_once(pipeline, platform_admin).status == RunStatus.SUCCEEDED
    xmin_before = dict(query(shop, "SELECT customer_id, xmin::text FROM app.customer"))
    changed = CUSTOMER_CSV.replace("Alan Turing", "Alan M. Turing") + "4,kay@example.com,Kay,US,,,,\n"
    (import_root / "customers.csv").write_text(changed)
    run = run_once(pipeline, platform_admin)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert (run.rows_inserted, run.rows_updated) == (1, 1)
    assert [r[2] for r in rows(shop)] == ["Ada Lovelace", "Alan M. Turing", "Grace Hopper", "Kay"]
    xmin_after = dict(query(shop, "SELECT customer_id, xmin::text FROM app.customer"))
    assert xmin_after[1] == xmin_before[1] and xmin_after[3] == xmin_before[3]  # not rewritten


def test_upsert_needs_a_unique_key(shop, platform_admin):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="unique constraint"):
        make_pipeline(shop.customer, platform_admin, load_mode="upsert", key_columns=["full_name"])


@pytest.fixture
def dimension(shop, steward):
    entity = catalog_object_save(
        obj=Entity(datastore=shop, name="customer_dim", kind="dimension"), user=steward
    )
    add_column(
        entity,
        "customer_sk",
        DataType.UUID,
        steward,
        primary_key_position=1,
        nullable=False,
        default_value="gen_random_uuid()",
    )
    add_column(entity, "customer_id", DataType.INTEGER, steward, nullable=False)
    add_column(entity, "email", DataType.VARCHAR, steward, length=200)
    add_column(entity, "country", DataType.CHAR, steward, length=2)
    add_column(entity, "valid_from", DataType.TIMESTAMPTZ, steward, nullable=False)
    add_column(entity, "valid_to", DataType.TIMESTAMPTZ, steward)
    add_column(entity, "is_current", DataType.BOOLEAN, steward, nullable=False)
    release_publish(datastore=shop, user=steward, message="dimension")
    schema_apply_execute(datastore=shop, target_version=2, user=steward)
    return entity


def test_scd2_keeps_history_and_unchanged_rows_make_no_new_version(
    dimension, shop, import_root, platform_admin
):
    (import_root / "customers.csv").write_text(CUSTOMER_CSV)
    mappings = [("customer_id", "id", []), ("email", "email", ["trim"]), ("country", "country", ["upper"])]
    pipeline = make_pipeline(
        dimension, platform_admin, mappings=mappings, load_mode="scd2", key_columns=["customer_id"]
    )
    first = run_once(pipeline, platform_admin)
    assert first.status == RunStatus.SUCCEEDED, first.error
    assert (first.rows_inserted, first.rows_updated) == (3, 0)

    moved = CUSTOMER_CSV.replace("alan@example.com,Alan Turing,fr", "alan@example.com,Alan Turing,us")
    (import_root / "customers.csv").write_text(moved + "4,kay@example.com,Kay,US,,,,\n")
    second = run_once(pipeline, platform_admin)
    assert second.status == RunStatus.SUCCEEDED, second.error
    assert (second.rows_inserted, second.rows_updated) == (1, 1)
    versions = query(
        shop,
        "SELECT customer_id, country, is_current, valid_to IS NULL FROM app.customer_dim "
        "ORDER BY customer_id, valid_from",
    )
    assert versions == [
        (1, "DE", True, True),
        (2, "FR", False, False),
        (2, "US", True, True),
        (3, "US", True, True),
        (4, "US", True, True),
    ]
    third = run_once(pipeline, platform_admin)  # the same file again: nothing changes
    assert (third.rows_inserted, third.rows_updated) == (0, 0)
    assert len(query(shop, "SELECT 1 FROM app.customer_dim")) == 5


def incremental(shop, platform_admin, **fields):
    return make_pipeline(
        shop.customer,
        platform_admin,
        extract_mode="incremental",
        watermark_field="updated",
        load_mode="upsert",
        **fields,
    )


def test_incremental_moves_only_new_or_changed_rows_and_resumes_an_appended_file(
    shop, import_root, platform_admin
):
    source = import_root / "customers.csv"
    source.write_text(CUSTOMER_CSV)
    pipeline = incremental(shop, platform_admin)
    first = run_once(pipeline, platform_admin)
    assert first.status == RunStatus.SUCCEEDED, first.error
    assert first.watermark_from is None and first.watermark_to.startswith("2024-03-03T12:00:00")

    nothing = run_once(pipeline, platform_admin)
    assert (nothing.rows_extracted, nothing.rows_loaded) == (0, 0)
    assert nothing.watermark_to == first.watermark_to

    with source.open("a") as handle:
        handle.write("2,alan@example.com,Alan Mathison Turing,fr,2024-02-11,77,no,2024-03-04 09:00:00\n")
        handle.write("5,new@example.com,New Person,us,2024-03-04,10,yes,2024-03-04 10:00:00\n")
    third = run_once(pipeline, platform_admin)
    assert third.status == RunStatus.SUCCEEDED, third.error
    assert third.rows_extracted == 2  # read from where the last run ended, not from the top
    assert (third.rows_inserted, third.rows_updated) == (1, 1)
    assert third.watermark_from == first.watermark_to and third.watermark_to.startswith("2024-03-04T10:00:00")
    assert [r[2] for r in rows(shop)] == [
        "Ada Lovelace",
        "Alan Mathison Turing",
        "Grace Hopper",
        "New Person",
    ]
    state = query(shop, WATERMARK)
    assert state == [(third.watermark_to,)]
    assert PipelineState.objects.get(pipeline=pipeline).watermark == third.watermark_to

    with source.open("a") as handle:  # record 6 of the file, read by the second resumed run
        handle.write("6,not-an-email,Six,de,,,,2024-03-05 00:00:00\n")
    fourth = run_once(pipeline, platform_admin)
    assert fourth.rows_extracted == 1 and fourth.rows_rejected == 1, fourth.error
    assert fourth.rejected_rows.get().row_number == 6  # numbered from the top of the file, not the resume


def test_a_rewritten_file_is_read_again_from_the_top_and_filtered_by_the_watermark(
    shop, import_root, platform_admin
):
    source = import_root / "customers.csv"
    source.write_text(CUSTOMER_CSV)
    pipeline = incremental(shop, platform_admin)
    assert run_once(pipeline, platform_admin).status == RunStatus.SUCCEEDED
    source.write_text(
        CUSTOMER_CSV.replace("Ada", "Ada (old edit)") + "6,six@example.com,Six,de,,,,2024-03-09 00:00:00\n"
    )
    run = run_once(pipeline, platform_admin)
    assert run.rows_extracted == 1 and run.rows_inserted == 1
    assert rows(shop)[0][2] == "Ada Lovelace"  # not past the watermark: not moved


def test_the_watermark_does_not_advance_when_the_load_fails(shop, import_root, platform_admin):
    source = import_root / "customers.csv"
    source.write_text(CUSTOMER_CSV)
    pipeline = incremental(shop, platform_admin, reject_threshold_percent=0)
    first = run_once(pipeline, platform_admin)
    with source.open("a") as handle:
        handle.write("7,bad-email,Bad,de,,,,2024-04-01 00:00:00\n")
    failed = run_once(pipeline, platform_admin)
    assert failed.status == RunStatus.FAILED and failed.error_kind == ErrorKind.THRESHOLD
    rejected = failed.rejected_rows.get()
    assert rejected.errors == {"email": "'bad-email' does not match the pattern @"}
    assert rejected.row_number == 4  # the file's fourth record, though the run resumed after the third
    state = query(shop, WATERMARK)
    assert state == [(first.watermark_to,)]
    assert len(rows(shop)) == 3


def test_incremental_sql_source_pushes_the_watermark_down(shop, target_store, platform_admin, steward):
    from tests.catalog.schema.conftest import run_sql
    from tests.pipelines.conftest import store_url

    source_store = target_store("crm", schema="crm")
    run_sql(
        store_url(source_store),
        "CREATE SCHEMA crm; CREATE TABLE crm.people (id int, email text, name text, updated timestamptz);"
        "INSERT INTO crm.people VALUES (1, 'a@x.org', 'A', '2024-01-01'), (2, 'b@x.org', 'B', '2024-01-02');",
    )
    mappings = [
        ("customer_id", "id", []),
        ("email", "email", []),
        ("full_name", "name", []),
        ("updated_at", "updated", []),
    ]
    pipeline = make_pipeline(
        shop.customer,
        platform_admin,
        mappings=mappings,
        source_kind="sql_table",
        source_path="",
        source_datastore=source_store,
        source_table="people",
        extract_mode="incremental",
        watermark_field="updated",
        load_mode="upsert",
    )
    first = run_once(pipeline, platform_admin)
    assert first.status == RunStatus.SUCCEEDED, first.error
    assert first.rows_extracted == 2
    run_sql(store_url(source_store), "INSERT INTO crm.people VALUES (3, 'c@x.org', 'C', '2024-01-03')")
    second = run_once(pipeline, platform_admin)
    assert second.rows_extracted == 1 and second.rows_inserted == 1
    assert [r[0] for r in rows(shop)] == [1, 2, 3]


def test_a_watermark_written_in_a_local_format_is_parsed_by_its_mapping_steps(
    shop, import_root, platform_admin
):
    source = import_root / "customers.csv"
    source.write_text(HEADER + "1,a@x.org,A,de,,,,03/01/2024 10:00\n2,b@x.org,B,de,,,,04/01/2024 10:00\n")
    mappings = [
        ("customer_id", "id", []),
        ("email", "email", []),
        ("updated_at", "updated", [{"op": "parse_datetime", "format": "%d/%m/%Y %H:%M"}]),
    ]
    pipeline = incremental(shop, platform_admin, mappings=mappings)
    first = run_once(pipeline, platform_admin)
    assert first.status == RunStatus.SUCCEEDED, first.error
    assert first.watermark_to.startswith("2024-01-04T10:00")
    source.write_text(source.read_text() + "3,c@x.org,C,de,,,,05/01/2024 10:00\n")
    second = run_once(pipeline, platform_admin)
    assert (second.rows_loaded, second.rows_inserted) == (1, 1)
    assert second.watermark_to.startswith("2024-01-05T10:00")


def test_the_pipelines_state_table_is_not_drift(shop, import_root, platform_admin):
    from django.conf import settings

    from catalog.schema.drift import schema_drift

    assert STATE_TABLE in settings.CUSTODIAN_BOOKKEEPING_TABLES
    (import_root / "customers.csv").write_text(CUSTOMER_CSV)
    assert run_once(incremental(shop, platform_admin), platform_admin).status == RunStatus.SUCCEEDED
    assert query(shop, sql.SQL("SELECT count(*) FROM {}").format(identifier("app", STATE_TABLE))) == [
        (1,)
    ]  # the run wrote its watermark
    report = schema_drift(datastore=shop)
    assert not report.has_drift, (report.missing, report.extra, report.different)


# Key generation --------------------------------------------------------------------------------------


@pytest.fixture
def tickets(target_store, steward):
    """An applied store with ticket(id bigint GENERATED ALWAYS AS IDENTITY (START WITH 100) PK, seat integer
    GENERATED BY DEFAULT AS IDENTITY, note text)."""
    store = target_store("box_office")
    entity = catalog_object_save(obj=Entity(datastore=store, name="ticket"), user=steward)
    add_column(
        entity,
        "id",
        DataType.BIGINT,
        steward,
        primary_key_position=1,
        nullable=False,
        generation="always",
        identity_options={"start": 100},
    )
    add_column(entity, "note", DataType.TEXT, steward)
    release_publish(datastore=store, user=steward, message="tickets")
    schema_apply_execute(datastore=store, target_version=1, user=steward)
    store.ticket = entity
    return store


def test_a_load_that_leaves_an_identity_key_out_lets_the_database_generate_it(
    tickets, import_root, platform_admin
):
    (import_root / "tickets.csv").write_text("note\nfront row\nbalcony\n")
    pipeline = make_pipeline(
        tickets.ticket, platform_admin, mappings=[("note", "note", [])], source_path="tickets.csv"
    )

    run = run_once(pipeline, platform_admin)

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert query(tickets, "SELECT id, note FROM app.ticket ORDER BY id") == [
        (100, "front row"),
        (101, "balcony"),
    ]

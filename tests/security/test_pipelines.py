"""Attack corpus, pipelines: each probe of issue 15 against pipelines, as a regression that must keep failing.

A platform admin runs pipelines but may not see personal data (`catalog.view_pii`); stewards and compliance
officers read pipelines but may not run them. Probes go through the admin as those users would.
"""

import csv
import io

import pytest
from django.urls import reverse
from psycopg import sql

from catalog.choices import DataType, MaskingStrategy, PIICategory
from catalog.models import Entity
from catalog.schema.apply import schema_apply_execute
from catalog.schema.releases import release_publish
from catalog.services import catalog_object_save
from core.masking import mask_value
from core.quoting import identifier
from pipelines.choices import RunStatus
from pipelines.runner import pipeline_run_execute
from pipelines.services import pipeline_run_request
from tests.catalog.schema.conftest import scratch_database, target_store  # noqa: F401
from tests.conftest import add_column
from tests.pipelines.conftest import customer_entity, import_root, make_pipeline  # noqa: F401

pytestmark = pytest.mark.django_db

# Ada is personal data in every column but city; her ssn is in no mapping at all. Row 2 is rejected (its id).
CONTACTS_CSV = (
    "id,email,last_name,phone,city,ssn\n"
    "1,ada@example.com,Lovelace,+44 20 7946 0018,London,078-05-1120\n"
    "x2,grace@example.com,Hopper,+1 202 555 0147,Arlington,219-09-9999\n"
)
CONTACT_MAPPINGS = [
    ("contact_id", "id", []),
    ("email", "email", []),
    ("last_name", "last_name", []),
    ("phone", "phone", []),
    ("city", "city", []),
]
IN_CLEAR = [
    "ada@example.com",
    "Lovelace",
    "+44 20 7946 0018",
    "grace@example.com",
    "Hopper",
    "078-05-1120",
    "219-09-9999",
]


def url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


@pytest.fixture(autouse=True)
def jobs_in_process(settings):
    settings.CUSTODIAN_JOBS_SYNC = True


@pytest.fixture
def contacts(target_store, steward, import_root):  # noqa: F811
    """An applied `contact` entity whose identifiers have masking strategies for display (stored in clear),
    and a CSV source for it with a field no mapping reads (ssn)."""
    store = target_store("crm")
    entity = catalog_object_save(obj=Entity(datastore=store, name="contact"), user=steward)
    add_column(entity, "contact_id", DataType.INTEGER, steward, primary_key_position=1, nullable=False)
    for name, strategy in [
        ("email", MaskingStrategy.HASH),
        ("last_name", MaskingStrategy.NONE),
        ("phone", MaskingStrategy.PARTIAL),
    ]:
        add_column(
            entity,
            name,
            DataType.VARCHAR,
            steward,
            length=100,
            pii_category=PIICategory.DIRECT_IDENTIFIER,
            masking_strategy=strategy,
        )
    add_column(entity, "city", DataType.VARCHAR, steward, length=100)
    release_publish(datastore=store, user=steward, message="contacts")
    schema_apply_execute(datastore=store, target_version=1, user=steward)
    (import_root / "contacts.csv").write_text(CONTACTS_CSV)
    return entity


@pytest.fixture
def contacts_pipeline(contacts, platform_admin):
    return make_pipeline(
        contacts,
        platform_admin,
        mappings=CONTACT_MAPPINGS,
        name="contacts",
        source_path="contacts.csv",
        reject_threshold_percent=60,
    )


def shown_in_clear(text: str) -> list[str]:
    return [value for value in IN_CLEAR if value in text]


# Issue 15 #12 and #4: personal data and values of unknown origin ----------------------------------------


def test_a_dry_run_masks_identifiers_stored_in_clear_for_a_platform_admin(
    client, platform_admin, contacts_pipeline
):
    client.force_login(platform_admin)
    response = client.post(url("pipelines_pipeline_dry_run", contacts_pipeline.pk))
    assert response.status_code == 200
    (row,) = response.context["rows"]
    columns = response.context["columns"]
    shown = dict(zip(columns, row, strict=True))
    assert shown == {
        "contact_id": 1,
        "email": mask_value("ada@example.com", "hash"),
        "last_name": "[redacted]",  # personal data without a strategy is redacted
        "phone": mask_value("+44 20 7946 0018", "partial"),
        "city": "London",  # classified as not personal
    }
    body = response.content.decode()
    assert shown_in_clear(body) == []
    assert "Arlington" in body  # the rejected row's non-personal field


def test_a_dry_run_masks_a_source_field_no_mapping_reads(client, platform_admin, contacts_pipeline):
    client.force_login(platform_admin)
    response = client.post(url("pipelines_pipeline_dry_run", contacts_pipeline.pk))
    (reject,) = response.context["rejects"]
    fields = response.context["fields"]
    cells = dict(zip(fields, reject["cells"], strict=True))
    assert cells["ssn"] == ("[redacted]", False, True)
    assert cells["city"] == ("Arlington", False, False)
    assert "<code>ssn</code> (redact)" in response.content.decode()


def test_the_run_page_and_rejected_csv_mask_an_unmapped_source_field(
    client, platform_admin, officer, contacts_pipeline
):
    run = pipeline_run_execute(pipeline_run_request(contacts_pipeline, enqueue=False).pk)
    assert run.status == RunStatus.SUCCEEDED and run.rows_rejected == 1, run.error
    client.force_login(platform_admin)
    page = client.get(url("pipelines_pipelinerun_change", run.pk)).content.decode()
    assert shown_in_clear(page) == [] and "Arlington" in page and 'id="run-masked"' in page
    download = client.get(url("pipelines_pipelinerun_rejected_csv", run.pk))
    (row,) = csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode()))
    assert row["ssn"] == "[redacted]" and row["city"] == "Arlington"
    assert shown_in_clear(str(row)) == []

    client.force_login(officer)  # may see personal data
    download = client.get(url("pipelines_pipelinerun_rejected_csv", run.pk))
    (row,) = csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode()))
    assert row["ssn"] == "219-09-9999" and row["email"] == "grace@example.com"


def test_a_field_whose_column_left_the_catalog_is_masked_on_the_run_page(
    client, platform_admin, contacts_pipeline, contacts
):
    run = pipeline_run_execute(pipeline_run_request(contacts_pipeline, enqueue=False).pk)
    # The run recorded city as a mapped column; a later edit renames it: its origin is no longer known.
    contacts.columns.filter(name="city").update(name="town")
    client.force_login(platform_admin)
    page = client.get(url("pipelines_pipelinerun_change", run.pk)).content.decode()
    assert "Arlington" not in page


# Issue 15 #3 (dry runs): running the source is a POST for those who may run the pipeline ----------------


@pytest.mark.parametrize("role", ["steward", "officer"])
def test_a_reader_cannot_start_a_dry_run_by_get_or_post(role_client, role, contacts_pipeline):
    client = role_client(role)
    page = client.get(url("pipelines_pipeline_dry_run", contacts_pipeline.pk))
    assert page.status_code == 200 and "rows" not in page.context
    assert 'id="dry-run-not-allowed"' in page.content.decode()
    assert client.post(url("pipelines_pipeline_dry_run", contacts_pipeline.pk)).status_code == 403


# Issue 15 #1 and #3 (pipelines part): SQL sources go through the SQL gate and run guarded -----------------

SOURCE_MAPPINGS = [("customer_id", "id", []), ("email", "email", []), ("full_name", "name", [])]
PROBES = {
    "SELECT usename AS id, passwd AS email, usename AS name FROM pg_shadow": "may not read system catalogs",
    "SELECT 1 AS id, pg_read_file('/etc/hostname') AS email, 'x' AS name": "may not call pg_read_file()",
    "SELECT lo_import('/etc/passwd') AS id, 'a@b' AS email, 'x' AS name": "may not call lo_import()",
    "SELECT pg_terminate_backend(pid) AS id, 'a@b' AS email, 'x' AS name FROM people": (
        "may not call pg_terminate_backend()"
    ),
    "SELECT 1 AS id, session_key AS email, session_data AS name FROM public.django_session": (
        "may only read tables of the data store's schema 'app'"
    ),
}


@pytest.fixture
def sink(target_store, steward):  # noqa: F811
    """The target: an applied PostgreSQL store `shop` (schema app) with the customer entity."""
    store = target_store("shop")
    store.customer = customer_entity(store, steward)
    release_publish(datastore=store, user=steward, message="customers")
    schema_apply_execute(datastore=store, target_version=1, user=steward)
    return store


@pytest.fixture
def people(target_store):  # noqa: F811
    """A PostgreSQL source data store (schema app) with a table of 300 people."""
    from tests.catalog.schema.conftest import run_sql

    store = target_store("source")
    run_sql(
        store_url(store),
        "CREATE SCHEMA app; CREATE TABLE app.people (id integer PRIMARY KEY, email text, name text); "
        "INSERT INTO app.people SELECT i, 'p' || i || '@example.com', 'Person ' || i "
        "FROM generate_series(1, 300) AS i",
    )
    return store


def store_url(store) -> str:
    import os

    return os.environ[store.url_env].replace("postgresql+psycopg://", "postgresql://")


def sql_pipeline(sink, people, user, query: str, *, stored_unchecked: bool = False):
    """A pipeline reading `query` from the people store; `stored_unchecked` saves it as a pipeline saved
    before the gate existed would be (the gate must then refuse it when it runs)."""
    from pipelines.models import Pipeline

    safe = "SELECT id, email, name FROM people"
    pipeline = make_pipeline(
        sink.customer,
        user,
        SOURCE_MAPPINGS,
        source_kind="sql_query",
        source_path="",
        source_datastore=people,
        source_query=safe if stored_unchecked else query,
    )
    if stored_unchecked:
        Pipeline.objects.filter(pk=pipeline.pk).update(source_query=query)
        pipeline.refresh_from_db()
    return pipeline


@pytest.mark.parametrize("query", sorted(PROBES))
def test_a_source_query_probe_is_refused_on_the_query_field_when_saved(query, sink, people, platform_admin):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        sql_pipeline(sink, people, platform_admin, query)
    (message,) = refused.value.message_dict["source_query"]
    assert message.startswith("The source query") and PROBES[query] in message


@pytest.mark.parametrize("query", sorted(PROBES))
def test_a_source_query_probe_saved_before_the_gate_is_refused_by_the_run_and_the_dry_run(
    query,
    client,
    sink,
    people,
    platform_admin,
):
    pipeline = sql_pipeline(sink, people, platform_admin, query, stored_unchecked=True)
    client.force_login(platform_admin)
    dry_run = client.post(url("pipelines_pipeline_dry_run", pipeline.pk))
    assert PROBES[query] in dry_run.context["error"] and not dry_run.context["rows"]

    run = pipeline_run_execute(pipeline_run_request(pipeline, enqueue=False, trigger="schedule").pk)
    assert run.status == RunStatus.FAILED and PROBES[query] in run.error, run.error
    assert run.error_kind == "data"


@pytest.mark.parametrize("table", ["pg_shadow", "pg_catalog.pg_authid", "public.django_session"])
def test_a_source_table_outside_the_stores_own_tables_is_refused(table, sink, people, platform_admin):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        make_pipeline(
            sink.customer,
            platform_admin,
            SOURCE_MAPPINGS,
            source_kind="sql_table",
            source_path="",
            source_datastore=people,
            source_table=table,
        )
    (message,) = refused.value.message_dict["source_table"]
    assert message.startswith("The source table may")


def test_a_source_store_that_turns_out_to_be_custodians_own_database_reads_nothing(
    client,
    sink,
    people,
    platform_admin,
    monkeypatch,
):
    from django.db import connection

    pipeline = sql_pipeline(sink, people, platform_admin, "SELECT id, email, name FROM people")
    own = connection.settings_dict
    monkeypatch.setenv(
        people.url_env, f"postgresql://{own['USER'] or 'postgres'}@{own['HOST']}:{own['PORT']}/{own['NAME']}"
    )
    client.force_login(platform_admin)
    dry_run = client.post(url("pipelines_pipeline_dry_run", pipeline.pk))
    assert "points at Custodian's own database" in dry_run.context["error"]
    run = pipeline_run_execute(pipeline_run_request(pipeline, enqueue=False).pk)
    assert run.status == RunStatus.FAILED and run.error_kind == "data"
    assert "points at Custodian's own database" in run.error


# A query the gate lets through that takes far longer than the limit: a sort over a triple cross join.
SLOW_QUERY = (
    "SELECT a.id, a.email, b.name FROM people a, people b, people c ORDER BY a.email, b.name, c.id DESC"
)


def test_a_dry_run_source_query_is_stopped_after_the_dry_run_timeout(
    client,
    sink,
    people,
    platform_admin,
    settings,
):
    settings.CUSTODIAN_DRY_RUN_TIMEOUT_SECONDS = 1
    pipeline = sql_pipeline(sink, people, platform_admin, SLOW_QUERY)
    client.force_login(platform_admin)
    dry_run = client.post(url("pipelines_pipeline_dry_run", pipeline.pk))
    assert "ran longer than its limit of 1 s and was stopped" in dry_run.context["error"]


def test_a_run_source_query_is_stopped_after_the_source_timeout_and_not_retried(
    sink,
    people,
    platform_admin,
    settings,
):
    from pipelines.models import PipelineRun

    settings.CUSTODIAN_SOURCE_TIMEOUT_SECONDS = 1
    pipeline = sql_pipeline(sink, people, platform_admin, SLOW_QUERY)
    run = pipeline_run_execute(pipeline_run_request(pipeline, enqueue=False).pk)
    assert run.status == RunStatus.FAILED and run.error_kind == "data"
    assert "ran longer than its limit of 1 s and was stopped" in run.error
    assert PipelineRun.objects.count() == 1  # a timeout is not a lost connection: no retry
    assert run.duration < 30


def test_a_source_runs_as_the_stores_read_only_role(sink, people, platform_admin):
    import uuid

    import psycopg

    from catalog.services import catalog_object_save as save
    from tests.catalog.schema.conftest import run_sql

    role = f"custodian_reader_{uuid.uuid4().hex[:8]}"
    reader = identifier(role)
    run_sql(
        store_url(people),
        sql.SQL("CREATE ROLE {} NOLOGIN").format(reader),
        sql.SQL("GRANT USAGE ON SCHEMA app TO {}").format(reader),
    )
    try:
        people.read_role = role
        save(obj=people, user=platform_admin)
        pipeline = sql_pipeline(sink, people, platform_admin, "SELECT id, email, name FROM people")
        run = pipeline_run_execute(pipeline_run_request(pipeline, enqueue=False).pk)
        assert run.status == RunStatus.FAILED and "permission denied for table people" in run.error

        run_sql(store_url(people), sql.SQL("GRANT SELECT ON app.people TO {}").format(reader))
        run = pipeline_run_execute(pipeline_run_request(pipeline, enqueue=False).pk)
        assert run.status == RunStatus.SUCCEEDED and run.rows_loaded == 300, run.error
    finally:
        with psycopg.connect(store_url(people), autocommit=True) as connection:
            connection.execute(sql.SQL("DROP OWNED BY {}").format(reader))
            connection.execute(sql.SQL("DROP ROLE {}").format(reader))


def test_a_load_the_database_refused_names_the_constraint_not_the_rows_values(
    contacts_pipeline, contacts, platform_admin
):
    from tests.catalog.schema.conftest import run_sql

    # A constraint the catalog does not know refuses Ada's row; PostgreSQL's detail quotes the whole row
    # ("Failing row contains (1, ada@example.com, Lovelace, ...)").
    run_sql(store_url(contacts.datastore), "ALTER TABLE app.contact ADD CHECK (email <> 'ada@example.com')")
    run = pipeline_run_execute(pipeline_run_request(contacts_pipeline, enqueue=False).pk)
    assert run.status == RunStatus.FAILED and "violates check constraint" in run.error, run.error
    assert shown_in_clear(run.error) == [] and "Failing row" not in run.error


def test_a_dry_run_post_without_the_csrf_token_is_refused(contacts_pipeline, platform_admin):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(platform_admin)
    page = browser.get(url("pipelines_pipeline_dry_run", contacts_pipeline.pk))
    assert 'name="csrfmiddlewaretoken"' in page.content.decode()
    forged = browser.post(url("pipelines_pipeline_dry_run", contacts_pipeline.pk))
    assert forged.status_code == 403 and "rows" not in (forged.context or {})


def test_a_repeated_key_reason_masks_each_personal_value_it_quotes(contacts, platform_admin, officer):
    from pipelines.admin import PIIMask

    columns = list(contacts.columns.all())
    feeds = {column.name: [column.name] for column in columns}
    reason = "duplicate key (city=London, email=ada@example.com) of an earlier row in this batch"
    masked = PIIMask.build(platform_admin, feeds, columns).reasons({"city": reason}, {})
    hashed = mask_value("ada@example.com", "hash")
    assert masked == {"city": f"duplicate key (city=London, email={hashed}) of an earlier row in this batch"}
    # A key of columns the mask does not know: nothing of it is shown.
    unknown = PIIMask.build(platform_admin, {"city": ["city"]}, columns).reasons({"city": reason}, {})
    assert unknown == {"city": "duplicate key ([redacted]) of an earlier row in this batch"}
    assert PIIMask.build(officer, feeds, columns).reasons({"city": reason}, {}) == {"city": reason}

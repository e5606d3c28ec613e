"""Attack corpus, pipelines: each probe of issue 15 against pipelines, as a regression that must keep failing.

A platform admin runs pipelines but may not see personal data (`catalog.view_pii`); stewards and compliance
officers read pipelines but may not run them. Probes go through the admin as those users would.
"""

import csv
import io

import pytest
from django.urls import reverse

from catalog.choices import DataType, MaskingStrategy, PIICategory
from catalog.masking import mask_value
from catalog.models import Entity
from catalog.schema.apply import schema_apply_execute
from catalog.schema.releases import release_publish
from catalog.services import catalog_object_save
from pipelines.choices import RunStatus
from pipelines.runner import pipeline_run_execute
from pipelines.services import pipeline_run_request
from tests.catalog.schema.conftest import scratch_database, target_store  # noqa: F401
from tests.conftest import add_column
from tests.pipelines.conftest import CUSTOMER_CSV, import_root, make_pipeline, shop  # noqa: F401

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
def test_a_reader_cannot_start_a_dry_run_by_get_or_post(role_client, role, shop, import_root, platform_admin):  # noqa: F811
    (import_root / "customers.csv").write_text(CUSTOMER_CSV)
    pipeline = make_pipeline(shop.customer, platform_admin)
    client = role_client(role)
    page = client.get(url("pipelines_pipeline_dry_run", pipeline.pk))
    assert page.status_code == 200 and "rows" not in page.context
    assert "ada@example.com" not in page.content.decode()
    assert client.post(url("pipelines_pipeline_dry_run", pipeline.pk)).status_code == 403

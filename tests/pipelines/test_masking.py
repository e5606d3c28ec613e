"""PII masking applied by default from the catalog when rows are loaded."""

import re

import pytest

from catalog.choices import DataType, MaskingStrategy, PIICategory
from catalog.models import Entity
from catalog.schema.apply import schema_apply_execute
from catalog.schema.releases import release_publish
from catalog.services import catalog_object_save
from pipelines.choices import RunStatus
from pipelines.runner import pipeline_run_execute
from pipelines.services import pipeline_run_request
from pipelines.transforms import mask_value
from tests.conftest import add_column
from tests.pipelines.conftest import make_pipeline, query, spec_problems

pytestmark = pytest.mark.django_db


def test_data_that_must_not_be_stored_in_clear_is_masked_on_load_after_validation(
    shop, steward, officer, import_root, platform_admin
):
    account = catalog_object_save(obj=Entity(datastore=shop, name="account"), user=steward)
    add_column(account, "account_id", DataType.INTEGER, steward, primary_key_position=1, nullable=False)
    add_column(account, "email", DataType.VARCHAR, steward, length=200)
    add_column(account, "phone", DataType.VARCHAR, steward, length=40)
    add_column(account, "password", DataType.VARCHAR, steward, length=100, min_length=6)
    add_column(account, "card", DataType.VARCHAR, steward, length=40)
    add_column(account, "diagnosis", DataType.TEXT, steward)
    columns = {c.name: c for c in account.columns.all()}
    for name, category, strategy in [
        ("email", PIICategory.DIRECT_IDENTIFIER, MaskingStrategy.HASH),  # identifiers are stored as they are;
        ("phone", PIICategory.DIRECT_IDENTIFIER, MaskingStrategy.PARTIAL),  # their strategy is for display
        ("password", PIICategory.CREDENTIAL, MaskingStrategy.NONE),
        ("card", PIICategory.FINANCIAL, MaskingStrategy.NONE),
        ("diagnosis", PIICategory.HEALTH, MaskingStrategy.NONE),
    ]:
        column = columns[name]
        column.pii_category, column.masking_strategy = category, strategy
        catalog_object_save(obj=column, user=officer)
    release_publish(datastore=shop, user=steward, message="accounts")
    schema_apply_execute(datastore=shop, target_version=2, user=steward)

    (import_root / "accounts.csv").write_text(
        "id,email,phone,password,card,diagnosis\n1,a@x.org,+49 30 1234567,s3cret,4111111111111111,flu\n"
        "2,b@x.org,,pw,,\n"
    )
    mappings = [(name, "id" if name == "account_id" else name, []) for name in columns]
    pipeline = make_pipeline(
        account,
        platform_admin,
        mappings=mappings,
        name="accounts",
        source_path="accounts.csv",
        reject_threshold_percent=60,
    )
    run = pipeline_run_execute(pipeline_run_request(pipeline, enqueue=False).pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    row = query(shop, "SELECT email, phone, password, card, diagnosis FROM app.account")
    assert row == [
        ("a@x.org", "+49 30 1234567", mask_value("s3cret", "hash"), "************1111", "[redacted]")
    ]
    assert len(row[0][2]) == 64 and mask_value("s3cret", "hash") != mask_value("s3cret", "tokenize")
    # The source value is validated, not its mask: 'pw' is too short although its hash is 64 characters.
    assert run.rejected_rows.get().errors == {"password": "2 characters; at least 6 required"}
    masked = {item["column"] for item in run.lineage if item["masked_by_default"]}
    assert masked == {"password", "card", "diagnosis"}
    assert next(i for i in run.lineage if i["column"] == "password")["steps"] == "hash"


def test_a_mask_the_column_could_not_store_is_refused_before_any_run(shop, steward, officer, platform_admin):
    account = catalog_object_save(obj=Entity(datastore=shop, name="card"), user=steward)
    add_column(account, "card_id", DataType.INTEGER, steward, primary_key_position=1, nullable=False)
    last4 = add_column(account, "last4", DataType.VARCHAR, steward, length=4, pattern="^[0-9]{4}$")
    last4.pii_category, last4.masking_strategy = PIICategory.FINANCIAL, MaskingStrategy.REDACT
    catalog_object_save(obj=last4, user=officer)
    pipeline = make_pipeline(
        account,
        platform_admin,
        mappings=[("card_id", "id", []), ("last4", "last4", [])],
        name="cards",
        source_path="cards.csv",
    )
    # The model checks the pipeline's own settings; its mappings are checked with it as one spec.
    assert re.search(
        "last4 is financial .*masked when loaded, but redact writes 10", spec_problems(pipeline)["mappings"]
    )

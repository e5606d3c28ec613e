"""PII masking applied by default from the catalog when rows are loaded."""

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
from tests.pipelines.conftest import make_pipeline, query

pytestmark = pytest.mark.django_db


def test_columns_are_masked_by_their_strategy_or_by_their_pii_category(
    shop, steward, officer, import_root, platform_admin
):
    account = catalog_object_save(obj=Entity(datastore=shop, name="account"), user=steward)
    add_column(account, "account_id", DataType.INTEGER, steward, primary_key_position=1, nullable=False)
    add_column(account, "email", DataType.VARCHAR, steward, length=200)
    add_column(account, "phone", DataType.VARCHAR, steward, length=40)
    add_column(account, "password", DataType.VARCHAR, steward, length=100)
    add_column(account, "card", DataType.VARCHAR, steward, length=40)
    add_column(account, "diagnosis", DataType.TEXT, steward)
    columns = {c.name: c for c in account.columns.all()}
    for name, category, strategy in [
        ("email", PIICategory.DIRECT_IDENTIFIER, MaskingStrategy.NONE),  # identifiers stay clear unless asked
        ("phone", PIICategory.DIRECT_IDENTIFIER, MaskingStrategy.PARTIAL),
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
    )
    mappings = [(name, "id" if name == "account_id" else name, []) for name in columns]
    pipeline = make_pipeline(
        account, platform_admin, mappings=mappings, name="accounts", source_path="accounts.csv"
    )
    run = pipeline_run_execute(pipeline_run_request(pipeline, enqueue=False).pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    row = query(shop, "SELECT email, phone, password, card, diagnosis FROM app.account")[0]
    assert row == (
        "a@x.org",
        "**********4567",
        mask_value("s3cret", "hash"),
        "************1111",
        "[redacted]",
    )
    assert len(row[2]) == 64 and mask_value("s3cret", "hash") != mask_value("s3cret", "tokenize")
    masked = {item["column"] for item in run.lineage if item["masked_by_default"]}
    assert masked == {"phone", "password", "card", "diagnosis"}

"""Pipelines against real PostgreSQL: a scratch target database with an applied `customer` entity."""

import psycopg
import pytest

from catalog.choices import DataType, PIICategory
from catalog.models import Entity
from catalog.schema.apply import schema_apply_execute
from catalog.schema.releases import release_publish
from catalog.services import catalog_object_save
from pipelines.models import FieldMapping, Pipeline
from tests.catalog.schema.conftest import run_sql, scratch_database, target_store  # noqa: F401
from tests.conftest import add_column

CUSTOMER_CSV = (
    "id,email,name,country,signup,score,active,updated\n"
    "1,ada@example.com,  Ada   Lovelace ,de,2024-01-05,91.5,yes,2024-03-01 10:00:00\n"
    "2,alan@example.com,Alan Turing,fr,2024-02-11,77,no,2024-03-02 11:00:00\n"
    "3,grace@example.com,Grace Hopper,us,2024-02-28,,true,2024-03-03 12:00:00\n"
)


def store_url(store) -> str:
    import os

    return os.environ[store.url_env].replace("postgresql+psycopg://", "postgresql://")


def query(store, statement: str, params=()):
    with psycopg.connect(store_url(store)) as connection:
        return connection.execute(statement, params).fetchall()


def customer_entity(store, user, name="customer", **entity_fields):
    entity = catalog_object_save(obj=Entity(datastore=store, name=name, **entity_fields), user=user)
    add_column(entity, "customer_id", DataType.INTEGER, user, primary_key_position=1, nullable=False)
    add_column(
        entity,
        "email",
        DataType.VARCHAR,
        user,
        length=200,
        nullable=False,
        is_unique=True,
        pattern="@",
        pii_category=PIICategory.DIRECT_IDENTIFIER,
    )
    add_column(entity, "full_name", DataType.VARCHAR, user, length=100)
    add_column(entity, "country", DataType.CHAR, user, length=2, allowed_values=["DE", "FR", "US"])
    add_column(entity, "signup_date", DataType.DATE, user)
    add_column(entity, "score", DataType.NUMERIC, user, precision=5, scale=2, min_value="0", max_value="100")
    add_column(entity, "active", DataType.BOOLEAN, user)
    add_column(entity, "updated_at", DataType.TIMESTAMPTZ, user)
    return entity


@pytest.fixture
def import_root(settings, tmp_path):
    root = tmp_path / "imports"
    root.mkdir()
    settings.CUSTODIAN_IMPORT_ROOT = root
    settings.MEDIA_ROOT = tmp_path / "media"
    return root


@pytest.fixture
def shop(target_store, steward):  # noqa: F811
    """An applied PostgreSQL store `shop` (schema app) with the customer entity."""
    store = target_store("shop")
    entity = customer_entity(store, steward)
    release_publish(datastore=store, user=steward, message="customers")
    schema_apply_execute(datastore=store, target_version=1, user=steward)
    store.customer = entity
    return store


CUSTOMER_MAPPINGS = [
    ("customer_id", "id", []),
    ("email", "email", ["trim", "lower"]),
    ("full_name", "name", ["collapse_whitespace"]),
    ("country", "country", ["upper"]),
    ("signup_date", "signup", []),
    ("score", "score", []),
    ("active", "active", []),
    ("updated_at", "updated", []),
]


def spec_problems(pipeline: Pipeline) -> dict[str, str]:
    """The stored pipeline checked as a whole (settings and mappings), field -> its messages."""
    from pipelines.spec import pipeline_spec_errors, pipeline_spec_from_pipeline

    problems: dict[str, str] = {}
    for problem in pipeline_spec_errors(pipeline_spec_from_pipeline(pipeline), instance=pipeline):
        problems[problem.field] = f"{problems.get(problem.field, '')} {problem.message}".strip()
    return problems


def make_pipeline(entity, user, mappings=CUSTOMER_MAPPINGS, **fields) -> Pipeline:
    fields.setdefault("name", "customers")
    fields.setdefault("source_path", "customers.csv")
    pipeline = catalog_object_save(obj=Pipeline(target=entity, **fields), user=user)
    columns = {c.name: c for c in entity.columns.all()}
    for position, (column, field, steps) in enumerate(mappings):
        catalog_object_save(
            obj=FieldMapping(
                pipeline=pipeline,
                column=columns[column],
                source_field=field or "",
                steps=steps,
                position=position,
            ),
            user=user,
        )
    return pipeline


__all__ = ["run_sql", "query", "customer_entity", "make_pipeline", "CUSTOMER_CSV", "CUSTOMER_MAPPINGS"]

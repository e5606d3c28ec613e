"""The quality spec: read from YAML without the database, checked and compared without writing, exported
from the database without writing; only saving writes."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from quality.as_code import quality_apply_config, quality_export, quality_plan, quality_spec_errors
from quality.models import Rule
from quality.spec import quality_spec_config, quality_spec_from_db, quality_spec_from_yaml
from tests.quality.test_as_code import dq_catalog_make, dq_config

pytestmark = pytest.mark.django_db


@pytest.fixture
def dq_catalog(db, steward):
    return dq_catalog_make(steward)


def _writes(queries) -> list[str]:
    # Savepoints are not writes: PostgreSQL judges patterns inside one (catalog.patterns).
    return [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]


def test_reading_a_file_into_a_spec_reads_no_database(dq_catalog, django_assert_num_queries):
    config = dq_config()
    config["entities"]["customer"]["rules"][0]["severty"] = "warn"
    with django_assert_num_queries(0):
        spec = quality_spec_from_yaml(config)
    assert [e.name for e in spec.entities] == ["country", "customer"]
    assert spec.entities[1].rules[0].values["params"] == {"pattern": r"^[^@]+@[^@]+\.[a-z]+$"}
    assert spec.problems == [
        "entities.customer.rules[0].severty: unknown key (did you mean 'severity'?); known keys: name, kind, "
        "columns, severity, threshold_percent, dimension, enabled, description, pattern"
    ]


def test_checking_and_comparing_a_spec_writes_nothing(dq_catalog, steward):
    config = dq_config()
    config["entities"]["customer"]["rules"][0]["columns"] = ["emial"]
    spec = quality_spec_from_yaml(config)
    with CaptureQueriesContext(connection) as queries:
        problems = quality_spec_errors(spec, user=steward)
        plan = quality_plan(quality_spec_from_yaml(dq_config()), user=steward)
    assert problems == ["entities.customer.rules[0].columns: customer has no column emial."]
    assert not plan.problems and plan.created == 10
    assert _writes(queries.captured_queries) == []


def test_export_builds_the_spec_from_the_database_without_writing(dq_catalog, steward):
    quality_apply_config(dq_config(), user=steward)
    Rule.objects.filter(name="email_not_null").delete()  # the next sync would bring it back
    with CaptureQueriesContext(connection) as queries:
        exported = quality_export(dq_catalog)
    assert _writes(queries.captured_queries) == []
    assert not Rule.objects.filter(name="email_not_null").exists()
    # As a sync would leave it: back, with the default tuning (so not listed).
    spec = quality_spec_from_db(dq_catalog)
    assert "email_not_null" in spec.entities[1].implied
    assert quality_spec_config(spec) == exported
    assert exported["entities"]["customer"]["implied"] == {"tier_allowed_values": {"enabled": False}}

"""Issue 16 #6: free text in every app has a limit, said on the field, so a 3 MB description is refused
quickly instead of slowing every page that shows it (the catalog's own: tests/catalog/test_models.py)."""

import pytest
from django.core.exceptions import ValidationError

from compliance.models import SubjectRequest
from pipelines.models import Pipeline
from quality.models import Rule

pytestmark = pytest.mark.django_db

TOO_LONG = "x" * 10_001


@pytest.mark.parametrize(
    "make, field",
    [
        (lambda store, entity: Pipeline(name="p", target=entity, description=TOO_LONG), "description"),
        (
            lambda store, entity: Pipeline(
                name="p", target=entity, source_kind="sql_query", source_query="SELECT 1 " * 20_000
            ),
            "source_query",
        ),
        (
            lambda store, entity: Rule(
                entity=entity, name="r", kind="not_null", columns=["id"], description=TOO_LONG
            ),
            "description",
        ),
        (
            lambda store, entity: SubjectRequest(
                datastore=store, identifier="a@b.c", kind="find", basis=TOO_LONG
            ),
            "basis",
        ),
    ],
)
def test_free_text_over_its_limit_is_refused_on_its_field(customer, make, field):
    with pytest.raises(ValidationError) as refused:
        make(customer.datastore, customer).full_clean()
    assert any("At most" in message for message in refused.value.message_dict[field])

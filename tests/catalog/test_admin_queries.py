"""List pages cost a constant number of queries, however large the catalog (no N+1)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog.models import Column, DataStore, Entity, Index, IndexColumn, RetentionPolicy

PAGES = [
    "catalog_entity_changelist",
    "catalog_column_changelist",
    "catalog_index_changelist",
    "catalog_retentionpolicy_changelist",
    "catalog_datastore_changelist",
    "catalog_domain_changelist",
    "catalog_audittrail_changelist",
]


def build_catalog(entities: int, columns_per_entity: int, owner) -> None:
    """A catalog of the given size, written in bulk (history is not what is measured here)."""
    store = DataStore.objects.create(name=f"store_{entities}")
    made = Entity.objects.bulk_create(
        Entity(datastore=store, name=f"entity_{i}", owner=owner) for i in range(entities)
    )
    Column.objects.bulk_create(
        Column(
            entity=e,
            name=f"col_{j}",
            position=j + 1,
            data_type="integer",
            primary_key_position=1 if j == 0 else None,
            nullable=j != 0,
            pii_category="direct_identifier" if j == 1 else "none",
        )
        for e in made
        for j in range(columns_per_entity)
    )
    first = {c.entity_id: c for c in Column.objects.filter(entity__datastore=store, position=1)}
    Column.objects.filter(entity__datastore=store, position=3).update(references=list(first.values())[0])
    indexes = Index.objects.bulk_create(Index(entity=e, name=f"idx_{store.name}_{e.pk}") for e in made)
    IndexColumn.objects.bulk_create(
        IndexColumn(index=i, column=first[i.entity_id], position=1) for i in indexes
    )
    RetentionPolicy.objects.bulk_create(
        RetentionPolicy(entity=e, name="p", anchor_column=first[e.pk], keep_for=1) for e in made
    )


def count_queries(client, page) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse(f"admin:{page}"))
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("page", PAGES)
def test_list_page_query_count_does_not_grow_with_the_catalog(
    client, superuser, page, django_assert_max_num_queries
):
    client.force_login(superuser)
    build_catalog(entities=3, columns_per_entity=4, owner=superuser)
    small = count_queries(client, page)
    build_catalog(entities=1000, columns_per_entity=20, owner=superuser)
    assert Column.objects.count() >= 20_000
    with django_assert_max_num_queries(small):
        response = client.get(reverse(f"admin:{page}"))
    assert response.status_code == 200
    print(f"{page}: {small} queries")  # recorded in the closing note

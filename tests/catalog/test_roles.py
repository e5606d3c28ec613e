"""Each role can do its work and nothing more, page by page (data-driven, as NetBox's view tests)."""

import pytest
from django.urls import reverse

from catalog.models import Column, DataStore, Entity, RetentionPolicy

OK, DENIED = 200, 403


def url(name, *args):
    return reverse(f"admin:{name}", args=args)


# (page, role) -> expected status of a GET
PAGES = {
    "catalog_entity_changelist": {"steward": OK, "officer": OK, "platform": OK},
    "catalog_entity_add": {"steward": OK, "officer": DENIED, "platform": DENIED},
    "catalog_column_changelist": {"steward": OK, "officer": OK, "platform": OK},
    "catalog_column_add": {"steward": OK, "officer": DENIED, "platform": DENIED},
    "catalog_datastore_add": {"steward": DENIED, "officer": DENIED, "platform": OK},
    "catalog_retentionpolicy_add": {"steward": DENIED, "officer": OK, "platform": DENIED},
    "catalog_regulation_add": {"steward": DENIED, "officer": OK, "platform": DENIED},
    "catalog_audittrail_changelist": {"steward": DENIED, "officer": OK, "platform": DENIED},
    "catalog_audittrail_export": {"steward": DENIED, "officer": OK, "platform": DENIED},
    "catalog_entity_import": {"steward": OK, "officer": DENIED, "platform": DENIED},
    "catalog_entity_export": {"steward": OK, "officer": OK, "platform": OK},
    "auth_user_changelist": {"steward": DENIED, "officer": DENIED, "platform": DENIED},
}


@pytest.mark.parametrize(
    "page, role, expected",
    [(page, role, status) for page, roles in PAGES.items() for role, status in roles.items()],
)
def test_role_page_access(role_client, page, role, expected):
    response = role_client(role).get(url(page))
    assert response.status_code == expected


@pytest.mark.parametrize(
    "role, status, name_after",
    [("steward", 302, "renamed"), ("officer", 302, "customer"), ("platform", 403, "customer")],
)
def test_only_stewards_rename_entities(role_client, customer, role, status, name_after):
    client = role_client(role)
    page = client.get(url("catalog_entity_change", customer.pk))
    assert page.status_code == 200
    assert ("name" in page.context["adminform"].form.fields) is (role == "steward")
    response = client.post(
        url("catalog_entity_change", customer.pk),
        {
            "name": "renamed",
            "datastore": customer.datastore_id,
            "kind": "table",
            "sensitivity": "internal",
            "seen_version": customer.version,
            **empty_inlines(),
        },
    )
    assert response.status_code == status
    customer.refresh_from_db()
    assert customer.name == name_after


def empty_inlines():
    return {
        f"{prefix}-{key}": value
        for prefix in ("columns", "indexes", "retention_policies")
        for key, value in (("TOTAL_FORMS", "0"), ("INITIAL_FORMS", "0"))
    }


def test_compliance_officer_edits_pii_settings_and_nothing_else(role_client, customer):
    client = role_client("officer")
    column = customer.columns.get(name="email")
    page = client.get(url("catalog_column_change", column.pk))
    form_fields = set(page.context["adminform"].form.fields)
    assert {"pii_category", "masking_strategy"} <= form_fields
    assert not {"name", "data_type", "length", "nullable"} & form_fields
    response = client.post(
        url("catalog_column_change", column.pk),
        {
            "pii_category": "quasi_identifier",
            "masking_strategy": "partial",
            "seen_version": column.version,
            "name": "hacked",
            "length": 1,
        },
    )
    assert response.status_code == 302
    column.refresh_from_db()
    assert (column.pii_category, column.masking_strategy, column.name, column.length) == (
        "quasi_identifier",
        "partial",
        "email",
        200,
    )


def test_compliance_officer_places_legal_hold_but_steward_cannot(role_client, customer):
    action = {"action": "place_on_legal_hold", "_selected_action": [customer.pk]}
    role_client("steward").post(url("catalog_entity_changelist"), action)
    customer.refresh_from_db()
    assert not customer.legal_hold
    response = role_client("officer").post(url("catalog_entity_changelist"), action, follow=True)
    customer.refresh_from_db()
    assert customer.legal_hold
    assert "1 entity placed on legal hold" in response.content.decode()


def test_platform_admin_manages_data_stores(role_client):
    response = role_client("platform").post(
        url("catalog_datastore_add"),
        {"name": "lake", "engine": "postgresql", "schema_name": "raw", "url_env": "LAKE_URL"},
    )
    assert response.status_code == 302
    assert DataStore.objects.get(name="lake").url_env == "LAKE_URL"


@pytest.mark.parametrize("role", ["steward", "officer", "platform"])
def test_nobody_but_a_steward_deletes_entities(role_client, customer, role):
    response = role_client(role).post(url("catalog_entity_delete", customer.pk), {"post": "yes"})
    assert Entity.objects.filter(pk=customer.pk).exists() is (role != "steward")
    assert response.status_code in (302, 403)


def test_only_the_compliance_officer_writes_retention_policies(role_client, customer, steward):
    anchor = customer.columns.get(name="created_at")
    data = {
        "entity": customer.pk,
        "name": "five years",
        "anchor_column": anchor.pk,
        "keep_for": 5,
        "keep_unit": "years",
        "action": "delete",
    }
    assert role_client("steward").post(url("catalog_retentionpolicy_add"), data).status_code == 403
    assert role_client("officer").post(url("catalog_retentionpolicy_add"), data).status_code == 302
    assert RetentionPolicy.objects.get().name == "five years"


def test_free_form_sql_condition_needs_its_own_permission(client, customer):
    from django.contrib.auth.models import Permission

    from catalog.roles import DATA_STEWARD
    from tests.conftest import make_user

    limited = make_user("limited", DATA_STEWARD)
    client.force_login(limited)
    assert "condition" in client.get(url("catalog_index_add")).context["adminform"].form.fields
    limited.groups.first().permissions.remove(Permission.objects.get(codename="write_sql_condition"))
    limited = type(limited).objects.get(pk=limited.pk)
    client.force_login(limited)
    assert "condition" not in client.get(url("catalog_index_add")).context["adminform"].form.fields


def test_column_is_not_editable_by_platform_admin(role_client, customer):
    column = customer.columns.get(name="email")
    role_client("platform").post(
        url("catalog_column_change", column.pk), {"name": "x", "pii_category": "none"}
    )
    assert Column.objects.get(pk=column.pk).name == "email"


def test_history_is_attributed_to_the_acting_user(role_client, customer, officer):
    column = customer.columns.get(name="email")
    role_client("officer").post(
        url("catalog_column_change", column.pk),
        {"pii_category": "quasi_identifier", "masking_strategy": "hash", "seen_version": column.version},
    )
    assert Column.history.filter(id=column.pk).first().history_user == officer

"""Probes of the catalog's admin forms (issue 15 #6, #9, #17 and issue 16 #2): a stale or version-less save,
a steward releasing a legal hold or unclassifying a column with a crafted POST, and a model error on a field
the form does not show. Pages are saved as a browser sends them: only the inputs the page renders."""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.urls import reverse

from catalog.choices import DataType, OnDelete, PIICategory
from catalog.models import Column, DataStore, Domain, Entity, Index, Regulation, RetentionPolicy
from catalog.roles import COMPLIANCE_OFFICER, DATA_STEWARD, PLATFORM_ADMIN
from catalog.services import catalog_object_save, index_columns_set
from tests.admin_forms import browser_form_data
from tests.conftest import add_column, make_user

ROLES = {"steward": DATA_STEWARD, "officer": COMPLIANCE_OFFICER, "platform": PLATFORM_ADMIN}


@dataclass
class VersionedPage:
    """An admin page editing a versioned object: who edits it, which input, and how to read it back."""

    role: str
    url: Callable[[Entity], str]
    field: str
    read: Callable[[Entity], str]
    values: tuple[str, str] = ("Written in the first tab", "Written in the second tab")


def change_url(model: str, obj) -> str:
    return reverse(f"admin:catalog_{model}_change", args=[obj.pk])


def email_column(entity: Entity) -> Column:
    return entity.columns.get(name="email")


def entity_index(entity: Entity) -> Index:
    return entity.indexes.get()


def entity_policy(entity: Entity) -> RetentionPolicy:
    return entity.retention_policies.get()


PAGES = {
    "entity": VersionedPage(
        "steward",
        lambda e: change_url("entity", e),
        "description",
        lambda e: Entity.objects.get().description,
    ),
    "column": VersionedPage(
        "steward",
        lambda e: change_url("column", email_column(e)),
        "description",
        lambda e: email_column(e).description,
    ),
    "entity's columns inline": VersionedPage(
        "steward",
        lambda e: change_url("entity", e),
        "columns-1-length",
        lambda e: str(email_column(e).length),
        ("45", "40"),
    ),
    "entity's indexes inline": VersionedPage(
        "steward",
        lambda e: change_url("entity", e),
        "indexes-0-description",
        lambda e: entity_index(e).description,
    ),
    "entity's retention inline": VersionedPage(
        "officer",
        lambda e: change_url("entity", e),
        "retention_policies-0-keep_for",
        lambda e: str(entity_policy(e).keep_for),
        ("7", "9"),
    ),
    "index": VersionedPage(
        "steward",
        lambda e: change_url("index", entity_index(e)),
        "description",
        lambda e: entity_index(e).description,
    ),
    "index's columns inline": VersionedPage(
        "steward",
        lambda e: change_url("index", entity_index(e)),
        "index_columns-0-order",
        lambda e: entity_index(e).index_columns.get(position=1).order,
        ("asc", "desc"),
    ),
    "retention policy": VersionedPage(
        "officer",
        lambda e: change_url("retentionpolicy", entity_policy(e)),
        "legal_basis",
        lambda e: entity_policy(e).legal_basis,
    ),
    "domain": VersionedPage(
        "steward",
        lambda e: change_url("domain", e.domain),
        "description",
        lambda e: Domain.objects.get().description,
    ),
    "regulation": VersionedPage(
        "officer",
        lambda e: change_url("regulation", Regulation.objects.get(code="GDPR")),
        "description",
        lambda e: Regulation.objects.get(code="GDPR").description,
    ),
    "data store": VersionedPage(
        "platform",
        lambda e: change_url("datastore", e.datastore),
        "description",
        lambda e: DataStore.objects.get().description,
    ),
}


@pytest.fixture
def catalog(customer, steward):
    """The customer entity in a domain, with an index and a retention policy."""
    customer.domain = catalog_object_save(obj=Domain(name="customers"), user=steward)
    catalog_object_save(obj=customer, user=steward)
    index = catalog_object_save(obj=Index(entity=customer, name="customer_email_idx"), user=steward)
    index_columns_set(index=index, key_columns=[("email", "asc")], included_columns=[], user=steward)
    policy = RetentionPolicy(
        entity=customer,
        name="closed_accounts",
        anchor_column=customer.columns.get(name="created_at"),
        keep_for=3,
    )
    catalog_object_save(obj=policy, user=steward)
    return Entity.objects.get(pk=customer.pk)


def opened_by(client, user, url: str) -> dict:
    client.force_login(user)
    page = client.get(url)
    assert page.status_code == 200
    return browser_form_data(page)


@pytest.mark.parametrize("name", PAGES)
def test_the_second_of_two_saves_from_the_same_loaded_version_is_refused_naming_the_first_saver(
    client, catalog, name
):
    page = PAGES[name]
    first, second = make_user("first_" + page.role, ROLES[page.role]), make_user("kim", ROLES[page.role])
    url = page.url(catalog)
    first_tab, second_tab = opened_by(client, first, url), opened_by(client, second, url)
    assert page.field in second_tab, f"{page.field} is not on the page"
    second_tab[page.field] = page.values[1]
    saved = client.post(url, second_tab)
    assert saved.status_code == 302, saved.context and saved.context["errors"]

    client.force_login(first)
    first_tab[page.field] = page.values[0]
    refused = client.post(url, first_tab)
    assert refused.status_code == 200
    body = refused.content.decode()
    assert "was changed by kim" in body and "nothing was overwritten" in body
    assert page.read(catalog) == page.values[1]


@pytest.mark.parametrize("name", PAGES)
def test_a_save_that_leaves_out_the_version_is_refused(client, catalog, name):
    page = PAGES[name]
    editor = make_user("editor", ROLES[page.role])
    url = page.url(catalog)
    before = page.read(catalog)
    data = {key: value for key, value in opened_by(client, editor, url).items() if "seen_version" not in key}
    data[page.field] = page.values[1]
    response = client.post(url, data)
    assert response.status_code == 200
    assert "did not say which version" in response.content.decode()
    assert page.read(catalog) == before


def test_a_row_changed_elsewhere_in_fields_the_page_does_not_show_does_not_block_the_save(
    client, catalog, steward
):
    url = PAGES["entity"].url(catalog)
    stale = opened_by(client, steward, url)
    email = email_column(catalog)
    email.description = "Edited on the column's own page"
    catalog_object_save(obj=email, user=steward)
    stale["description"] = "Only the entity changes"
    response = client.post(url, stale)
    assert response.status_code == 302, response.context and response.context["errors"]
    assert Entity.objects.get().description == "Only the entity changes"
    assert email_column(catalog).description == "Edited on the column's own page"


# Issue 15 #6: compliance fields are the compliance officer's


def test_a_steward_cannot_release_a_legal_hold_by_unticking_it(client, customer, steward, officer):
    customer.legal_hold = True
    customer.sensitivity = "restricted"
    catalog_object_save(obj=customer, user=officer)
    client.force_login(steward)
    page = client.get(change_url("entity", customer))
    assert page.context["adminform"].form.fields["legal_hold"].disabled
    data = browser_form_data(page)
    assert "legal_hold" not in data  # a disabled box is not sent, as if unticked
    data.update({"sensitivity": "public", "description": "Edited by the steward"})
    data.pop("legal_hold", None)
    response = client.post(change_url("entity", customer), data)
    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.legal_hold, customer.sensitivity, customer.description) == (
        True,
        "restricted",
        "Edited by the steward",
    )


def test_a_compliance_officer_releases_a_legal_hold_on_the_entity_form(client, customer, officer):
    customer.legal_hold = True
    catalog_object_save(obj=customer, user=officer)
    data = opened_by(client, officer, change_url("entity", customer))
    data.pop("legal_hold")
    assert client.post(change_url("entity", customer), data).status_code == 302
    customer.refresh_from_db()
    assert not customer.legal_hold
    assert Entity.history.filter(id=customer.pk, legal_hold=False, history_user=officer).exists()


@pytest.mark.parametrize("page", ["column", "entity's columns inline"])
def test_a_steward_cannot_unclassify_a_personal_data_column(client, customer, steward, page):
    email = email_column(customer)
    url = change_url("column", email) if page == "column" else change_url("entity", customer)
    prefix = "" if page == "column" else "columns-1-"
    data = opened_by(client, steward, url)
    data.update({f"{prefix}pii_category": PIICategory.NONE, f"{prefix}masking_strategy": "none"})
    data[f"{prefix}description" if page == "column" else f"{prefix}length"] = "150"
    response = client.post(url, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    email.refresh_from_db()
    assert (email.pii_category, email.masking_strategy) == (PIICategory.DIRECT_IDENTIFIER, "hash")


def test_a_steward_classifies_the_column_they_add(client, customer, steward):
    data = opened_by(client, steward, change_url("entity", customer))
    data.update(
        {
            "columns-TOTAL_FORMS": "4",
            "columns-3-entity": str(customer.pk),
            "columns-3-name": "phone",
            "columns-3-data_type": "varchar",
            "columns-3-length": "30",
            "columns-3-nullable": "on",
            "columns-3-pii_category": PIICategory.DIRECT_IDENTIFIER,
            "columns-3-masking_strategy": "partial",
        }
    )
    assert client.post(change_url("entity", customer), data).status_code == 302
    assert customer.columns.get(name="phone").pii_category == PIICategory.DIRECT_IDENTIFIER


# Issue 15 #17: a model error on a field the form leaves out


@pytest.mark.parametrize("page", ["column", "entity's columns inline"])
def test_unticking_nullable_on_a_set_null_foreign_key_is_refused_with_a_message(
    client, customer, steward, page
):
    orders = catalog_object_save(obj=Entity(datastore=customer.datastore, name="orders"), user=steward)
    add_column(orders, "id", DataType.BIGINT, steward, primary_key_position=1, nullable=False)
    customer_id = add_column(
        orders,
        "customer_id",
        DataType.BIGINT,
        steward,
        references=customer.columns.get(name="id"),
        on_delete=OnDelete.SET_NULL,
    )
    url = change_url("column", customer_id) if page == "column" else change_url("entity", orders)
    data = opened_by(client, steward, url)
    nullable = "nullable" if page == "column" else "columns-1-nullable"
    data.pop(nullable)
    response = client.post(url, data)
    assert response.status_code == 200
    assert "SET NULL needs a nullable column." in response.content.decode()
    customer_id.refresh_from_db()
    assert customer_id.nullable


def test_the_pipeline_page_and_its_mapping_rows_carry_their_versions(
    client, customer, steward, platform_admin
):
    from tests.pipelines.conftest import make_pipeline

    pipeline = make_pipeline(customer, steward, [("id", "id", []), ("email", "email", [])])
    url = reverse("admin:pipelines_pipeline_change", args=[pipeline.pk])
    data = opened_by(client, platform_admin, url)
    assert data["seen_version"] == str(pipeline.version)
    assert data["mappings-0-seen_version"] == str(pipeline.mappings.get(position=0).version)


def test_an_edit_saved_between_the_check_and_the_save_rolls_the_whole_save_back(client, customer, steward):
    from django.db.models import F
    from django.db.models.signals import post_save

    data = opened_by(client, steward, change_url("entity", customer))
    data.update({"description": "Written by the steward", "columns-1-length": "45"})

    def another_editor_saves_the_column(sender, instance, **kwargs):
        # Another request saves the email column after this one checked it, before it saves it.
        Column.objects.filter(entity=instance, name="email").update(version=F("version") + 1, length=300)

    post_save.connect(another_editor_saves_the_column, sender=Entity)
    try:
        response = client.post(change_url("entity", customer), data, follow=True)
    finally:
        post_save.disconnect(another_editor_saves_the_column, sender=Entity)
    assert response.redirect_chain == [(change_url("entity", customer), 302)]
    assert (
        "was changed by" in response.content.decode()
        and "nothing was overwritten" in response.content.decode()
    )
    # Nothing of the refused save is kept (the other editor's stand-in ran inside this request's
    # transaction here, so it is rolled back with it).
    assert Entity.objects.get().description == ""
    assert email_column(customer).length != 45

"""The entity page as the compliance officer and the steward use it, in a real browser (issue 16, items 1-3):
a legal hold on an entity with an index, an owner picked by name, and two tabs saving the same entity."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from catalog.models import Entity, Index
from catalog.roles import DATA_STEWARD
from catalog.services import catalog_object_save, index_columns_set
from tests.conftest import make_user

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def entity_url(entity) -> str:
    return reverse("admin:catalog_entity_change", args=[entity.pk])


def test_a_compliance_officer_places_an_indexed_entity_on_legal_hold_from_its_page(
    open_page, officer, steward, customer
):
    index = catalog_object_save(obj=Index(entity=customer, name="customer_email_idx"), user=steward)
    index_columns_set(index=index, key_columns=[("email", "asc")], included_columns=["id"], user=steward)
    page = open_page(officer)
    page.goto(entity_url(customer))
    page.check("#id_legal_hold")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist .success")).to_contain_text("was changed successfully")
    assert Entity.objects.get(pk=customer.pk).legal_hold
    latest = Entity.history.filter(id=customer.pk).latest("history_date")
    assert (latest.legal_hold, latest.history_user) == (True, officer)


def test_a_steward_picks_an_entitys_owner_by_name(open_page, steward, customer):
    make_user("ada", first_name="Ada", last_name="Lovelace")
    page = open_page(steward)
    page.goto(entity_url(customer))
    # As a person does: open the picker, type part of the name, click the person.
    page.click("#id_owner + .select2 .select2-selection")
    page.fill(".select2-container--open .select2-search__field", "Lovelace")
    page.click(".select2-container--open .select2-results__option:text-is('ada (Ada Lovelace)')")
    expect(page.locator("#select2-id_owner-container")).to_contain_text("ada (Ada Lovelace)")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist .success")).to_contain_text("was changed successfully")
    assert Entity.objects.get(pk=customer.pk).owner.username == "ada"


def test_of_two_tabs_saving_the_same_entity_the_second_is_refused_with_the_first_savers_name(
    open_page, steward, customer
):
    first = open_page(steward)
    second = open_page(make_user("kim", DATA_STEWARD))
    for tab in (first, second):
        tab.goto(entity_url(customer))
    second.fill("#id_columns-1-length", "45")
    second.click("input[name=_save]")
    expect(second.locator(".messagelist .success")).to_contain_text("was changed successfully")

    first.fill("#id_columns-1-length", "40")
    first.fill("#id_description", "Edited in the first tab")
    first.click("input[name=_save]")
    expect(first.locator(".errornote")).to_be_visible()
    expect(first.locator("#columns-group")).to_contain_text("was changed by kim")
    entity = Entity.objects.get(pk=customer.pk)
    assert entity.columns.get(name="email").length == 45
    assert entity.description == ""

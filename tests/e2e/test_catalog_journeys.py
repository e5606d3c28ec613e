"""A steward's and a compliance officer's journeys through the catalog, in a real browser."""

import csv
import io
import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from catalog.models import Column, Entity

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

# (name, type, length, primary-key position, nullable) of the columns the steward types in
ORDER_COLUMNS = [
    ("order_id", "bigint", "", "1", False),
    ("customer_email", "varchar", "120", "", False),
    ("placed_at", "timestamptz", "", "", True),
]


def autocomplete_choose(page, field_id: str, text: str) -> None:
    """Pick `text` in an admin autocomplete (select2) widget the way a person does: open, type, click."""
    page.click(f"#{field_id} + .select2 .select2-selection")
    page.fill(".select2-container--open .select2-search__field", text)
    page.click(f".select2-container--open .select2-results__option:text-is('{text}')")
    expect(page.locator(f"#select2-{field_id}-container")).to_have_text(re.compile(text))


def test_a_steward_adds_an_entity_with_columns_and_sees_its_ddl(open_page, steward, datastore):
    page = open_page(steward)
    page.goto(reverse("admin:catalog_entity_add"))
    autocomplete_choose(page, "id_datastore", datastore.name)
    page.fill("#id_name", "orders")
    page.fill("#id_description", "One row per order placed in the shop.")
    for row, (name, data_type, length, pk_position, nullable) in enumerate(ORDER_COLUMNS):
        page.click("#columns-group .add-row a")
        page.fill(f"#id_columns-{row}-name", name)
        page.select_option(f"#id_columns-{row}-data_type", data_type)
        page.fill(f"#id_columns-{row}-length", length)
        page.fill(f"#id_columns-{row}-primary_key_position", pk_position)
        page.set_checked(f"#id_columns-{row}-nullable", nullable)
    page.click("input[name=_continue]")

    expect(page.locator(".messagelist .success")).to_contain_text("was added successfully")
    entity = Entity.objects.get(name="orders")
    assert list(entity.columns.values_list("name", flat=True)) == [c[0] for c in ORDER_COLUMNS]
    page.click("#entity-ddl")
    expect(page).to_have_url(re.compile(reverse("admin:catalog_entity_ddl", args=[entity.pk])))
    script = page.locator("#ddl-script")
    expect(script).to_contain_text('CREATE TABLE "public"."orders" (')
    lines = [" ".join(line.split()) for line in script.inner_text().splitlines()]
    assert '"order_id" BIGINT NOT NULL,' in lines
    assert '"customer_email" VARCHAR(120) NOT NULL,' in lines
    assert '"placed_at" TIMESTAMP WITH TIME ZONE,' in lines
    assert any(line.endswith('PRIMARY KEY ("order_id")') for line in lines), lines
    assert 'COMMENT ON TABLE "public"."orders" IS \'One row per order placed in the shop.\';' in lines
    expect(page.locator("#ddl-error")).to_have_count(0)


def test_a_stewards_edit_shows_in_the_officers_audit_trail_and_its_csv_export(
    open_page, steward, officer, customer
):
    email = customer.columns.get(name="email")
    page = open_page(steward)
    page.goto(reverse("admin:catalog_column_change", args=[email.pk]))
    expect(page.locator("#id_length")).to_have_value("200")
    page.fill("#id_length", "250")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist .success")).to_contain_text("was changed successfully")

    page = open_page(officer)
    page.goto(reverse("admin:app_list", args=["catalog"]))
    page.click("a:text-is('Audit trail')")
    page.select_option("#id_model", label="Column")
    page.fill("#id_user", steward.username)
    page.select_option("#id_change_type", label="changed")
    page.click("#audit-filter-form input[type=submit]")
    rows = page.locator("#audit-trail tbody tr")
    expect(rows).to_have_count(1)
    cells = rows.first.locator("td")
    expect(cells.nth(1)).to_have_text(steward.username)
    expect(cells.nth(2)).to_have_text("changed")
    expect(cells.nth(4)).to_contain_text(f"email #{email.pk}")
    length_change = cells.nth(5).locator("li", has_text="length")
    expect(length_change.locator(".audit-old")).to_have_text("200")
    expect(length_change.locator(".audit-new")).to_have_text("250")

    with page.expect_download() as download:
        page.click("#audit-export")
    assert download.value.suggested_filename.startswith("custodian-audit-")
    exported = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert [(r["user"], r["change"], r["model"], r["object_id"]) for r in exported] == [
        (steward.username, "changed", "catalog.column", str(email.pk))
    ]
    assert "length: 200 → 250" in exported[0]["changes"].split("; ")


def test_a_compliance_officer_cannot_edit_the_catalog(open_page, officer, customer, live_server):
    page = open_page(officer)
    change_url = reverse("admin:catalog_entity_change", args=[customer.pk])
    page.goto(change_url)
    # The catalog's own fields are shown, not editable; only the governance fields are the officer's.
    expect(page.locator(".field-name .readonly")).to_have_text("customer")
    for field in ("name", "datastore", "kind", "description", "columns-0-name", "columns-0-data_type"):
        expect(page.locator(f"#id_{field}")).to_have_count(0)
    expect(page.locator("#columns-group td.field-name")).to_have_text(["id", "email", "created_at"])
    expect(page.locator("#columns-group .add-row")).to_be_hidden()
    expect(page.locator(".deletelink")).to_have_count(0)
    expect(page.locator("#id_sensitivity")).to_be_editable()

    add_url = reverse("admin:catalog_entity_add")
    response = page.goto(add_url)
    assert response.status == 403
    expect(page.locator("h1")).to_have_text("You may not do this")

    # Posting anyway, with a valid CSRF token, is refused too: no add, no delete, no rename.
    page.goto(change_url)
    token = page.locator("input[name=csrfmiddlewaretoken]").first.input_value()
    referer = {"Referer": live_server.url + change_url}
    added = page.request.post(
        add_url,
        form={"csrfmiddlewaretoken": token, "datastore": customer.datastore_id, "name": "smuggled"},
        headers=referer,
    )
    assert added.status == 403 and "You may not do this" in added.text()
    deleted = page.request.post(
        reverse("admin:catalog_entity_delete", args=[customer.pk]),
        form={"csrfmiddlewaretoken": token, "post": "yes"},
        headers=referer,
    )
    assert deleted.status == 403 and "You may not do this" in deleted.text()
    inline_forms = {
        f"{prefix}-{key}": value
        for prefix in ("columns", "indexes", "retention_policies")
        for key, value in (("TOTAL_FORMS", "0"), ("INITIAL_FORMS", "0"))
    }
    # The officer may save the entity (its governance fields); the name in the POST is ignored.
    saved = page.request.post(
        change_url,
        form={
            "csrfmiddlewaretoken": token,
            "name": "renamed",
            "sensitivity": "internal",
            "seen_version": customer.version,
            **inline_forms,
        },
        headers=referer,
    )
    assert saved.ok and saved.url == live_server.url + reverse("admin:catalog_entity_changelist")
    assert list(Entity.objects.values_list("name", flat=True)) == ["customer"]
    assert Column.objects.filter(entity=customer).count() == 3

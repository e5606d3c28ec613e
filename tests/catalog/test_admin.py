"""The steward's admin pages: entity editing with inlines, optimistic locking, read-only history."""

import html

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from catalog.choices import DataType
from catalog.models import Column, Domain, Entity, Index, IndexColumn
from catalog.roles import DATA_STEWARD
from catalog.services import catalog_object_save, index_columns_set, index_columns_spec
from tests.admin_forms import browser_form_data, change_form_data
from tests.conftest import add_column, make_user


def entity_url(entity):
    return reverse("admin:catalog_entity_change", args=[entity.pk])


def test_steward_adds_columns_and_an_index_in_one_save(client, steward, customer):
    client.force_login(steward)
    page = client.get(entity_url(customer))
    assert page.status_code == 200
    data = change_form_data(page)
    data.update(
        {
            "columns-TOTAL_FORMS": "4",
            "columns-3-name": "nickname",
            "columns-3-data_type": "varchar",
            "columns-3-length": "40",
            "columns-3-nullable": "on",
            "columns-3-pii_category": "direct_identifier",
            "columns-3-masking_strategy": "partial",
            "columns-3-on_delete": "no_action",
            "columns-3-entity": customer.pk,
            "indexes-TOTAL_FORMS": "1",
            "indexes-0-name": "customer_nick_idx",
            "indexes-0-key_columns": "nickname, created_at DESC",
            "indexes-0-include_columns": "email",
            "indexes-0-method": "btree",
            "indexes-0-condition": "nickname IS NOT NULL",
            "indexes-0-entity": customer.pk,
        }
    )
    response = client.post(entity_url(customer), data)
    assert response.status_code == 302, response.context and response.context["errors"]
    assert customer.columns.get(name="nickname").sql_type == "varchar(40)"
    index = Index.objects.get(name="customer_nick_idx")
    assert index_columns_spec(index) == "nickname, created_at DESC"
    assert index_columns_spec(index, included=True) == "email"
    assert Column.history.filter(name="nickname", history_user=steward).exists()


def test_index_naming_an_unknown_column_is_refused_in_place(client, steward, customer):
    client.force_login(steward)
    data = change_form_data(client.get(entity_url(customer)))
    data.update(
        {
            "indexes-TOTAL_FORMS": "1",
            "indexes-0-name": "bad_idx",
            "indexes-0-key_columns": "nope",
            "indexes-0-method": "btree",
            "indexes-0-entity": customer.pk,
        }
    )
    response = client.post(entity_url(customer), data)
    assert response.status_code == 200
    assert "No column named nope" in response.content.decode()
    assert not Index.objects.exists()


def test_deleting_a_referenced_column_in_the_inline_is_refused_with_its_reason(client, steward, customer):
    orders = catalog_object_save(obj=Entity(datastore=customer.datastore, name="orders"), user=steward)
    add_column(orders, "customer_id", DataType.BIGINT, steward, references=customer.columns.get(name="id"))
    client.force_login(steward)
    data = change_form_data(client.get(entity_url(customer)))
    data["columns-0-DELETE"] = "on"
    response = client.post(entity_url(customer), data)
    assert response.status_code == 200
    body = html.unescape(response.content.decode())
    assert (
        "Column 'id' is referenced by foreign key orders.customer_id; remove that foreign key first." in body
    )
    assert "protected related objects" not in body
    assert customer.columns.filter(name="id").exists()


def test_deleting_an_indexed_column_in_the_inline_says_which_index_uses_it(client, steward, customer):
    index = catalog_object_save(obj=Index(entity=customer, name="customer_email_idx"), user=steward)
    index_columns_set(index=index, key_columns=[("email", "asc")], included_columns=[], user=steward)
    client.force_login(steward)
    data = browser_form_data(client.get(entity_url(customer)))
    data["columns-1-DELETE"] = "on"
    response = client.post(entity_url(customer), data)
    assert response.status_code == 200
    body = html.unescape(response.content.decode())
    assert "Column 'email' is used by index 'customer_email_idx'; remove it from the index first." in body
    assert "index column" not in body.lower()
    assert customer.columns.filter(name="email").exists()


def test_the_column_delete_page_names_the_index_that_protects_it(client, steward, customer):
    index = catalog_object_save(obj=Index(entity=customer, name="customer_email_idx"), user=steward)
    index_columns_set(index=index, key_columns=[("email", "asc")], included_columns=[], user=steward)
    client.force_login(steward)
    email = customer.columns.get(name="email")
    page = client.get(reverse("admin:catalog_column_delete", args=[email.pk]))
    assert "customer_email_idx (email)" in page.content.decode()


def test_a_compliance_officer_ticks_legal_hold_on_an_entity_with_an_index(client, steward, officer, customer):
    index = catalog_object_save(obj=Index(entity=customer, name="customer_email_idx"), user=steward)
    index_columns_set(index=index, key_columns=[("email", "asc")], included_columns=["id"], user=steward)
    client.force_login(officer)
    data = browser_form_data(client.get(entity_url(customer)))
    data["legal_hold"] = "on"
    response = client.post(entity_url(customer), data)
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.legal_hold
    assert Entity.history.filter(id=customer.pk, legal_hold=True, history_user=officer).exists()
    assert index_columns_spec(index) == "email" and index_columns_spec(index, included=True) == "id"


def test_saving_an_entity_writes_history_only_for_what_changed(client, steward, customer):
    index = catalog_object_save(obj=Index(entity=customer, name="customer_email_idx"), user=steward)
    index_columns_set(index=index, key_columns=[("email", "asc")], included_columns=["id"], user=steward)
    counts = [Column.history.count(), Index.history.count(), IndexColumn.history.count()]
    client.force_login(steward)
    data = browser_form_data(client.get(entity_url(customer)))
    data["description"] = "Only the description changes"
    data["columns-1-length"] = "250"
    assert client.post(entity_url(customer), data).status_code == 302
    assert [Column.history.count(), Index.history.count(), IndexColumn.history.count()] == [
        counts[0] + 1,
        counts[1],
        counts[2],
    ]
    assert Column.history.filter(name="email", length=250, history_user=steward).exists()


def test_second_steward_saving_a_stale_entity_is_refused_naming_the_first(client, customer, steward):
    other = make_user("other_steward", DATA_STEWARD)
    client.force_login(steward)
    stale = change_form_data(client.get(entity_url(customer)))
    client.force_login(other)
    fresh = change_form_data(client.get(entity_url(customer)))
    fresh["description"] = "Written by the other steward"
    assert client.post(entity_url(customer), fresh).status_code == 302

    client.force_login(steward)
    stale["description"] = "Written by the first steward"
    response = client.post(entity_url(customer), stale)
    assert response.status_code == 200
    body = response.content.decode()
    assert "was changed by other_steward" in body
    assert "nothing was overwritten" in body
    customer.refresh_from_db()
    assert customer.description == "Written by the other steward"


def test_second_steward_saving_a_stale_column_row_is_refused(client, customer, steward):
    other = make_user("other_steward", DATA_STEWARD)
    client.force_login(steward)
    stale = change_form_data(client.get(entity_url(customer)))
    client.force_login(other)
    fresh = change_form_data(client.get(entity_url(customer)))
    fresh["columns-1-length"] = "300"
    assert client.post(entity_url(customer), fresh).status_code == 302

    client.force_login(steward)
    stale["columns-1-length"] = "100"
    response = client.post(entity_url(customer), stale)
    assert response.status_code == 200
    assert "was changed by other_steward" in response.content.decode()
    assert customer.columns.get(name="email").length == 300


def test_stale_save_through_a_service_is_refused_too(customer, steward):
    from catalog.exceptions import ConcurrentEditError

    first = Entity.objects.get(pk=customer.pk)
    second = Entity.objects.get(pk=customer.pk)
    first.description = "first"
    catalog_object_save(obj=first, user=steward)
    second.description = "second"
    with pytest.raises(ConcurrentEditError, match="was changed by steward"):
        catalog_object_save(obj=second, user=steward)
    customer.refresh_from_db()
    assert customer.description == "first"


def test_unchanged_save_writes_no_history_and_keeps_the_version(client, steward, customer):
    client.force_login(steward)
    before = Entity.history.filter(id=customer.pk).count()
    response = client.post(entity_url(customer), change_form_data(client.get(entity_url(customer))))
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.version == 1
    assert Entity.history.filter(id=customer.pk).count() == before


def test_object_history_page_shows_field_level_changes(client, steward, customer):
    customer.description = "Buyers"
    catalog_object_save(obj=customer, user=steward)
    client.force_login(steward)
    response = client.get(reverse("admin:catalog_entity_history", args=[customer.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "<strong>Description:</strong>" in body and "Buyers" in body


@pytest.mark.parametrize("user_fixture", ["steward", "superuser"])
def test_history_cannot_be_reverted_by_anyone(client, request, customer, user_fixture):
    user = request.getfixturevalue(user_fixture)
    customer.description = "changed"
    catalog_object_save(obj=customer, user=user)
    first = Entity.history.filter(id=customer.pk).order_by("history_id").first()
    client.force_login(user)
    url = reverse("admin:catalog_entity_simple_history", args=[customer.pk, first.history_id])
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {
            "name": "customer",
            "datastore": customer.datastore_id,
            "kind": "table",
            "description": "",
            "sensitivity": "internal",
        },
    )
    assert response.status_code == 405
    customer.refresh_from_db()
    assert customer.description == "changed"


def test_history_rows_cannot_be_updated_or_deleted_in_the_database(customer):
    from django.db import DatabaseError, transaction

    record = Entity.history.filter(id=customer.pk).first()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Entity.history.filter(history_id=record.history_id).update(name="rewritten")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Entity.history.filter(history_id=record.history_id).delete()
    assert Entity.history.get(history_id=record.history_id).name == "customer"


def test_deleting_a_user_keeps_their_history_rows(customer, steward):
    count = Entity.history.count()
    steward.delete()
    assert Entity.history.count() == count
    assert Entity.history.filter(history_user__isnull=True).count() == count


def test_column_admin_delete_of_a_referenced_column_is_shown_as_protected(
    client, superuser, customer, steward
):
    orders = catalog_object_save(obj=Entity(datastore=customer.datastore, name="orders"), user=steward)
    add_column(orders, "customer_id", DataType.BIGINT, steward, references=customer.columns.get(name="id"))
    column = customer.columns.get(name="id")
    client.force_login(superuser)
    url = reverse("admin:catalog_column_delete", args=[column.pk])
    response = client.get(url)
    assert "protected" in response.content.decode().lower()
    client.post(url, {"post": "yes"})
    assert Column.objects.filter(pk=column.pk).exists()


def test_steward_creates_an_entity_with_a_composite_key_on_the_add_page(client, steward, datastore):
    client.force_login(steward)
    page = client.get(reverse("admin:catalog_entity_add"))
    assert page.status_code == 200
    data = change_form_data(page)
    data.update(
        {
            "datastore": datastore.pk,
            "name": "order_line",
            "kind": "table",
            "sensitivity": "internal",
            "columns-TOTAL_FORMS": "2",
        }
    )
    for i, (name, dtype) in enumerate([("order_id", "bigint"), ("line_no", "integer")]):
        data.update(
            {
                f"columns-{i}-name": name,
                f"columns-{i}-data_type": dtype,
                f"columns-{i}-primary_key_position": str(i + 1),
                f"columns-{i}-pii_category": "none",
                f"columns-{i}-masking_strategy": "none",
                f"columns-{i}-on_delete": "no_action",
            }
        )
    response = client.post(reverse("admin:catalog_entity_add"), data)
    assert response.status_code == 302, response.context and response.context["errors"]
    entity = Entity.objects.get(name="order_line")
    assert list(entity.columns.values_list("name", "position", "primary_key_position")) == [
        ("order_id", 1, 1),
        ("line_no", 2, 2),
    ]


def test_hostile_entity_name_on_the_add_page_is_shown_in_place(client, steward, datastore):
    client.force_login(steward)
    data = change_form_data(client.get(reverse("admin:catalog_entity_add")))
    data.update(
        {"datastore": datastore.pk, "name": "users; drop table x", "kind": "table", "sensitivity": "internal"}
    )
    response = client.post(reverse("admin:catalog_entity_add"), data)
    assert response.status_code == 200
    assert "is not a valid SQL name" in response.content.decode()
    assert not Entity.objects.exists()


def test_a_view_only_user_sees_the_index_columns(client, steward, platform_admin, customer):
    from catalog.services import index_columns_set

    index = catalog_object_save(obj=Index(entity=customer, name="customer_email_idx"), user=steward)
    index_columns_set(
        index=index,
        key_columns=[("email", "asc"), ("created_at", "desc")],
        included_columns=["id"],
        user=steward,
    )
    client.force_login(platform_admin)  # may view entities, not change them
    page = client.get(entity_url(customer))
    assert page.status_code == 200 and "indexes-0-key_columns" not in page.content.decode()
    row = page.content.decode().split("customer_email_idx", 1)[1].split("</tr>", 1)[0]
    assert "email, created_at DESC" in row and ">id<" in row.replace(" ", "").replace("\n", "")
    assert "None" not in row


@pytest.mark.parametrize("model, field", [("entity", "datastore"), ("entity", "domain")])
def test_autocomplete_of_stores_and_domains_lists_them_by_name_without_warning(client, steward, model, field):
    import warnings

    from django.core.paginator import UnorderedObjectListWarning

    from catalog.models import DataStore, Domain

    for name in ["zeta", "alpha", "mid"]:
        if field == "datastore":
            catalog_object_save(obj=DataStore(name=name, engine="postgresql", schema_name="s"), user=steward)
        else:
            catalog_object_save(obj=Domain(name=name), user=steward)
    client.force_login(steward)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnorderedObjectListWarning)
        response = client.get(
            reverse("admin:autocomplete"), {"app_label": "catalog", "model_name": model, "field_name": field}
        )
    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == ["alpha", "mid", "zeta"]


def owner_autocomplete(client, model="entity", **params):
    return client.get(reverse(f"admin:catalog_{model}_owner_autocomplete"), params)


@pytest.mark.parametrize("model", ["entity", "domain"])
def test_a_steward_picks_an_owner_among_staff_users_by_name(client, steward, model):
    make_user("ada", first_name="Ada", last_name="Lovelace", email="ada@example.com")
    make_user("adam_gone", is_active=False)
    get_user_model().objects.create_user(username="adalbert_outsider", password="x", is_staff=False)
    client.force_login(steward)
    response = owner_autocomplete(client, model, term="ada", app_label="catalog", model_name=model)
    assert response.status_code == 200
    assert response.json() == {
        "results": [
            {"id": str(get_user_model().objects.get(username="ada").pk), "text": "ada (Ada Lovelace)"}
        ],
        "pagination": {"more": False},
    }
    assert "example.com" not in response.content.decode()


@pytest.mark.parametrize("role", ["officer", "platform"])
def test_users_who_may_not_set_an_entitys_owner_get_no_user_list(role_client, role):
    assert owner_autocomplete(role_client(role), term="s").status_code == 403


@pytest.mark.parametrize("role, status", [("platform", 200), ("steward", 403), ("officer", 403)])
def test_the_data_store_owner_picker_is_for_who_may_change_data_stores(role_client, role, status):
    assert owner_autocomplete(role_client(role), "datastore", term="s").status_code == status


def test_the_owner_picker_answers_reads_only(client, steward):
    client.force_login(steward)
    assert client.post(reverse("admin:catalog_entity_owner_autocomplete")).status_code == 405


def test_the_owner_picker_on_the_entity_page_asks_the_owner_autocomplete(client, steward, customer):
    client.force_login(steward)
    page = client.get(entity_url(customer)).content.decode()
    assert f'data-ajax--url="{reverse("admin:catalog_entity_owner_autocomplete")}"' in page


def test_a_steward_sets_an_entitys_owner_but_only_to_a_staff_user(client, steward, customer):
    ada = make_user("ada")
    outsider = get_user_model().objects.create_user(username="outsider", password="x", is_staff=False)
    client.force_login(steward)
    data = browser_form_data(client.get(entity_url(customer)))
    response = client.post(entity_url(customer), {**data, "owner": str(outsider.pk)})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert client.post(entity_url(customer), {**data, "owner": str(ada.pk)}).status_code == 302
    customer.refresh_from_db()
    assert customer.owner == ada


def test_a_three_megabyte_description_is_refused_on_the_field_quickly(client, steward, customer):
    import time

    client.force_login(steward)
    page = client.get(entity_url(customer))
    assert 'maxlength="10000"' in page.content.decode()
    data = browser_form_data(page)
    data["description"] = "lorem ipsum " * 250_000
    started = time.monotonic()
    response = client.post(entity_url(customer), data)
    assert time.monotonic() - started < 3
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["description"] == ["Ensure this value has at most 10000 characters (it has 2999999)."]
    customer.refresh_from_db()
    assert customer.description == ""


def test_a_long_domain_description_is_cut_short_in_the_list_and_whole_on_its_page(client, steward):
    from catalog.models import Domain

    domain = catalog_object_save(obj=Domain(name="sales", description="Sales. " + "x" * 5000), user=steward)
    client.force_login(steward)
    listing = client.get(reverse("admin:catalog_domain_changelist")).content.decode()
    assert "Sales. xxx" in listing
    assert ("x" * 2001) not in listing
    page = client.get(reverse("admin:catalog_domain_change", args=[domain.pk])).content.decode()
    assert "x" * 5000 in page


def owned_objects(customer, steward) -> dict:
    """An entity, its data store and a domain, each owned by Ada Lovelace."""
    ada = make_user("ada", first_name="Ada", last_name="Lovelace")
    domain = catalog_object_save(obj=Domain(name="Sales", owner=ada), user=steward)
    customer.owner, customer.domain = ada, domain
    catalog_object_save(obj=customer, user=steward)
    customer.datastore.owner = ada
    catalog_object_save(obj=customer.datastore, user=steward)
    return {"entity": customer, "datastore": customer.datastore, "domain": domain}


@pytest.mark.parametrize("model", ["entity", "datastore", "domain"])
def test_a_read_only_owner_is_its_name_in_words_not_a_link_to_a_user_page_the_viewer_may_not_open(
    client, officer, customer, steward, model
):
    obj = owned_objects(customer, steward)[model]
    client.force_login(officer)
    response = client.get(reverse(f"admin:catalog_{model}_change", args=[obj.pk]))
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert "ada (Ada Lovelace)" in page
    assert reverse("admin:auth_user_change", args=[obj.owner.pk]) not in page
    assert client.get(reverse("admin:auth_user_change", args=[obj.owner.pk])).status_code == 403


def test_a_read_only_owner_links_to_the_user_for_who_may_view_users(client, customer, steward):
    from django.contrib.auth.models import Permission

    entity = owned_objects(customer, steward)["entity"]
    auditor = make_user("auditor")
    auditor.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_entity", "view_user"], content_type__app_label__in=["catalog", "auth"]
        )
    )
    client.force_login(auditor)
    page = client.get(entity_url(entity)).content.decode()
    user_url = reverse("admin:auth_user_change", args=[entity.owner.pk])
    assert f'href="{user_url}"' in page
    assert client.get(user_url).status_code == 200


def test_the_history_pages_name_users_without_links_for_who_may_not_view_users(
    client, officer, customer, steward, superuser
):
    entity = owned_objects(customer, steward)["entity"]
    version = entity.history.latest()
    pages = [
        reverse("admin:catalog_entity_history", args=[entity.pk]),
        reverse("admin:catalog_entity_simple_history", args=[entity.pk, version.history_id]),
    ]
    user_pages = {reverse("admin:auth_user_change", args=[user.pk]) for user in (entity.owner, steward)}
    client.force_login(officer)
    history, old_version = (html.unescape(client.get(path).content.decode()) for path in pages)
    assert not any(user_page in history or user_page in old_version for user_page in user_pages)
    assert "steward" in history and "ada (Ada Lovelace)" in old_version
    client.force_login(superuser)
    assert reverse("admin:auth_user_change", args=[steward.pk]) in client.get(pages[0]).content.decode()


def test_steward_makes_a_key_an_identity_on_the_column_page_and_sees_refusals_in_place(
    client, steward, customer
):
    key = customer.columns.get(name="id")
    url = reverse("admin:catalog_column_change", args=[key.pk])
    client.force_login(steward)
    data = browser_form_data(client.get(url))
    data.update({"generation": "always", "identity_options": '{"start": 100, "increment": 5}'})

    response = client.post(url, data)

    assert response.status_code == 302, response.content.decode()[:3000]
    key.refresh_from_db()
    assert (key.generation, key.identity_options) == ("always", {"start": 100, "increment": 5})
    listing = client.get(reverse("admin:catalog_column_changelist") + "?generation=always").content.decode()
    assert "identity, GENERATED ALWAYS" in html.unescape(listing)

    email = customer.columns.get(name="email")
    url = reverse("admin:catalog_column_change", args=[email.pk])
    data = browser_form_data(client.get(url))
    data["generation"] = "serial"
    page = client.post(url, data).content.decode()
    assert "Key generation needs a smallint, integer or bigint column, not varchar." in html.unescape(page)


def test_a_steward_sets_on_update_and_deferrable_beside_on_delete_on_the_column_page(
    client, steward, customer
):
    orders = catalog_object_save(obj=Entity(datastore=customer.datastore, name="orders"), user=steward)
    column = add_column(
        orders, "customer_id", DataType.BIGINT, steward, references=customer.columns.get(name="id")
    )
    url = reverse("admin:catalog_column_change", args=[column.pk])
    client.force_login(steward)
    page = client.get(url)
    content = page.content.decode()
    assert 'name="on_update"' in content and 'name="deferrable"' in content
    assert (
        content.index('name="on_delete"')
        < content.index('name="on_update"')
        < content.index('name="deferrable"')
    )

    refused = {**change_form_data(page), "nullable": "", "on_update": "set_null"}
    response = client.post(url, refused)
    assert response.status_code == 200
    assert "SET NULL needs a nullable column." in response.content.decode()

    data = {**change_form_data(page), "on_update": "cascade", "deferrable": "initially_deferred"}
    assert client.post(url, data).status_code == 302
    column.refresh_from_db()
    assert (column.on_update, column.deferrable) == ("cascade", "initially_deferred")
    latest = Column.history.filter(id=column.pk).latest("history_date")
    assert (latest.on_update, latest.deferrable, latest.history_user) == (
        "cascade",
        "initially_deferred",
        steward,
    )

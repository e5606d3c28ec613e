"""The compliance officer's cross-model audit trail: filters, field-level changes, CSV export."""

import csv
import html
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from catalog.models import Entity, RetentionPolicy, SignInEvent
from catalog.selectors import audit_models
from catalog.services import catalog_object_save
from tests.conftest import make_user

TRAIL = reverse("admin:catalog_audittrail_changelist")
EXPORT = reverse("admin:catalog_audittrail_export")


@pytest.fixture
def edited(customer, steward):
    """A history spanning three models and two users."""
    other = make_user("other")
    customer.description = "People who buy"
    catalog_object_save(obj=customer, user=steward)
    email = customer.columns.get(name="email")
    email.length = 320
    catalog_object_save(obj=email, user=other)
    catalog_object_save(
        obj=RetentionPolicy(
            entity=customer,
            name="short",
            anchor_column=customer.columns.get(name="created_at"),
            keep_for=30,
            keep_unit="days",
        ),
        user=other,
    )
    return customer


CATALOG_MODELS = {"catalog.retentionpolicy", "catalog.column", "catalog.entity"}


def events_of(response):
    return response.context["events"]


def test_trail_lists_every_model_newest_first_with_field_changes(client, officer, edited):
    client.force_login(officer)
    # The catalog's own models (the officer's sign-in and the fixture users' group memberships are newer).
    events = [e for e in events_of(client.get(TRAIL)) if e.model_label in CATALOG_MODELS]
    assert [e.model_label for e in events[:3]] == [
        "catalog.retentionpolicy",
        "catalog.column",
        "catalog.entity",
    ]
    column_change = events[1]
    assert column_change.change_type == "changed" and column_change.username == "other"
    assert [(c.field, c.old, c.new) for c in column_change.changes] == [("length", 200, 320)]
    created = events[0]
    assert created.change_type == "created"
    assert ("keep for", None, 30) in [(c.field, c.old, c.new) for c in created.changes]


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"model": "catalog.column"}, {("catalog.column", "~"), ("catalog.column", "+")}),
        ({"user": "other"}, {("catalog.column", "~"), ("catalog.retentionpolicy", "+")}),
        # The steward's and the other user's groups were set after they were created: changes too.
        ({"change_type": "~"}, {("catalog.column", "~"), ("catalog.entity", "~"), ("auth.user", "~")}),
        ({"model": "catalog.entity", "change_type": "~"}, {("catalog.entity", "~")}),
    ],
)
def test_trail_filters(client, officer, edited, query, expected):
    client.force_login(officer)
    events = events_of(client.get(TRAIL, query))
    assert {(e.model_label, e.history_type) for e in events} == expected


def test_trail_filters_by_object_and_date_range(client, officer, edited):
    client.force_login(officer)
    events = events_of(client.get(TRAIL, {"model": "catalog.entity", "object_id": edited.pk}))
    assert {e.object_id for e in events} == {edited.pk} and len(events) == 2
    today = timezone.localdate()
    assert len(events_of(client.get(TRAIL, {"date_from": today, "date_to": today}))) > 0
    assert events_of(client.get(TRAIL, {"date_to": today - timedelta(days=1)})) == []
    response = client.get(TRAIL, {"date_from": today, "date_to": today - timedelta(days=1)})
    assert response.context["form"].errors["date_to"] == ["'To' is before 'From'."]
    assert events_of(response) == []


def test_trail_paginates(client, officer, customer, steward):
    for i in range(60):
        customer.description = f"v{i}"
        catalog_object_save(obj=customer, user=steward)
    client.force_login(officer)
    first = client.get(TRAIL)
    assert len(events_of(first)) == 50 and first.context["page"].has_next()
    total = sum(model.objects.count() for model in audit_models().values()) + SignInEvent.objects.count()
    assert first.context["page"].paginator.count == total
    assert len(events_of(client.get(TRAIL, {"page": 2}))) == total - 50


def test_export_is_the_filtered_trail_as_csv(client, officer, edited):
    client.force_login(officer)
    response = client.get(EXPORT, {"user": "other"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["date", "user", "change", "model", "object_id", "object", "changes"]
    assert {(r[1], r[2], r[3]) for r in rows[1:]} == {
        ("other", "changed", "catalog.column"),
        ("other", "created", "catalog.retentionpolicy"),
    }
    column_row = next(r for r in rows[1:] if r[3] == "catalog.column")
    assert column_row[6] == "length: 200 → 320"


def test_export_needs_its_permission(client, steward, edited):
    client.force_login(steward)
    assert client.get(EXPORT).status_code == 403
    assert client.get(TRAIL).status_code == 403


def test_trail_page_query_count_is_bounded_by_page_size(
    client, officer, customer, steward, django_assert_max_num_queries
):
    for i in range(30):
        customer.description = f"v{i}"
        catalog_object_save(obj=customer, user=steward)
        email = customer.columns.get(name="email")
        email.description = f"v{i}"
        catalog_object_save(obj=email, user=steward)
    client.force_login(officer)
    with django_assert_max_num_queries(12):
        assert client.get(TRAIL).status_code == 200


def test_changes_name_foreign_keys_and_show_choice_labels(client, officer, customer, steward):
    from catalog.models import Column
    from tests.conftest import add_column

    target = customer.columns.get(name="id")
    column = add_column(customer, "referrer_id", "bigint", steward)
    column.references = target
    column.pii_category = "quasi_identifier"
    catalog_object_save(obj=column, user=steward)
    client.force_login(officer)
    change = events_of(client.get(TRAIL, {"model": "catalog.column", "change_type": "~"}))[0]
    assert {(c.field, c.old, c.new) for c in change.changes} == {
        ("references", None, "customer.id"),
        ("PII category", "Not personal data", "Quasi-identifier"),
    }
    created = events_of(
        client.get(TRAIL, {"model": "catalog.column", "object_id": column.pk, "change_type": "+"})
    )[0]
    assert ("entity", None, "customer") in {(c.field, c.old, c.new) for c in created.changes}
    assert Column.objects.get(pk=column.pk).references == target


def test_audit_trail_works_on_the_embedded_sqlite_default(tmp_path):
    """make run uses SQLite: the UNION of history tables must be valid there too."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    env.pop("REDIS_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=root, env=env, check=True)
    subprocess.run(
        [sys.executable, "manage.py", "load_demo"], cwd=root, env=env, check=True, capture_output=True
    )
    code = (
        "from catalog.selectors import audit_event_rows, audit_events; rows = audit_event_rows(); "
        "print(rows.count(), len(audit_events(list(rows[:50]))))"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=root, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    total, page = map(int, result.stdout.split()[-2:])
    assert total > 100 and page == 50


@pytest.mark.parametrize("field", ["date_from", "date_to"])
@pytest.mark.parametrize("value", ["9999-12-31", "0001-01-01"])
def test_a_date_out_of_range_is_refused_on_its_field_not_with_a_server_error(client, officer, field, value):
    client.force_login(officer)
    response = client.get(TRAIL, {field: value})
    assert response.status_code == 200
    assert response.context["form"].errors[field] == ["Enter a date between 1900-01-01 and 9998-12-31."]
    assert "Enter a date between 1900-01-01 and 9998-12-31." in response.content.decode()
    export = client.get(EXPORT, {field: value}, follow=True)
    assert export.redirect_chain[-1][1] == 302
    assert export.context["form"].errors[field] == ["Enter a date between 1900-01-01 and 9998-12-31."]


def test_exporting_an_invalid_filter_shows_its_errors_on_the_trail_not_a_refusal(client, officer, edited):
    client.force_login(officer)
    query = {"date_from": "2026-12-08", "date_to": "2026-12-01", "user": "other"}
    response = client.get(EXPORT, query)
    assert response.status_code == 302
    assert response["Location"].startswith(TRAIL + "?")
    trail = client.get(response["Location"])
    assert trail.status_code == 200
    assert trail.context["form"].errors["date_to"] == ["'To' is before 'From'."]
    assert trail.context["form"]["user"].value() == "other"
    page = html.unescape(trail.content.decode())
    assert "'To' is before 'From'." in page and "You may not do this" not in page


def test_the_widest_date_range_allowed_works(client, officer, edited):
    client.force_login(officer)
    response = client.get(TRAIL, {"date_from": "1900-01-01", "date_to": "9998-12-31"})
    assert response.status_code == 200 and response.context["form"].is_valid()
    assert len(events_of(response)) > 0


def test_long_values_are_cut_in_the_trail_with_the_whole_value_one_click_away(
    client, officer, customer, steward
):
    long_text = "A long description. " * 50  # 1,000 characters
    customer.description = long_text
    catalog_object_save(obj=customer, user=steward)
    client.force_login(officer)
    response = client.get(TRAIL, {"model": "catalog.entity", "change_type": "~"})
    page = response.content.decode()
    assert long_text not in page and long_text[:199] + "…" in page
    event = events_of(response)[0]
    link = reverse("admin:catalog_audittrail_event", args=["catalog.entity", event.history_id])
    assert f'href="{link}"' in page
    detail = client.get(link)
    assert detail.status_code == 200 and long_text.strip() in detail.content.decode()
    export = b"".join(client.get(EXPORT, {"model": "catalog.entity"}).streaming_content).decode()
    assert long_text.strip() in export


def test_the_unfiltered_trail_stays_small_when_values_are_large(client, officer, customer, steward):
    for i in range(55):
        customer.description = f"{i} " + "x" * 4_000
        catalog_object_save(obj=customer, user=steward)
    client.force_login(officer)
    response = client.get(TRAIL)
    # Whole, 50 changes from one 4,000-character value to another would be over 400 kB.
    assert len(response.content) < 150_000


def test_one_change_page_needs_the_trail_permission_and_an_existing_change(
    client, steward, officer, customer
):
    record = Entity.history.filter(id=customer.pk).first()
    link = reverse("admin:catalog_audittrail_event", args=["catalog.entity", record.history_id])
    client.force_login(steward)
    assert client.get(link).status_code == 403
    client.force_login(officer)
    assert client.get(link).status_code == 200
    missing = reverse("admin:catalog_audittrail_event", args=["catalog.entity", record.history_id + 10_000])
    assert client.get(missing).status_code == 404
    assert client.get(reverse("admin:catalog_audittrail_event", args=["no.such", 1])).status_code == 404


def test_a_sign_in_event_has_its_own_change_page(client, officer):
    from catalog.models import SignInEvent

    client.force_login(officer)
    event = SignInEvent.objects.get(username="officer")
    response = client.get(reverse("admin:catalog_audittrail_event", args=["catalog.signinevent", event.pk]))
    assert response.status_code == 200 and b"signed in" in response.content


def test_the_trail_names_fields_and_values_in_the_users_words(client, officer, customer, steward):
    from quality.models import Rule

    customer.legal_hold, customer.has_audit_columns = True, True
    catalog_object_save(obj=customer, user=steward)
    rule = Rule(entity=customer, name="sold_at_not_null", kind="not_null", columns=["created_at"], params={})
    catalog_object_save(obj=rule, user=steward)
    rule.columns = ["email"]
    catalog_object_save(obj=rule, user=steward)
    volume = Rule(entity=customer, name="some_rows", kind="volume", params={"min_rows": 1})
    catalog_object_save(obj=volume, user=steward)
    client.force_login(officer)

    def changes(**query):
        event = events_of(client.get(TRAIL, query))[0]
        return {c.field: (c.old, c.new) for c in event.changes}

    entity_change = changes(model="catalog.entity", object_id=customer.pk, change_type="~")
    assert entity_change["legal hold"] == (False, True)
    assert entity_change["audit columns"] == (False, True)
    entity_created = changes(model="catalog.entity", object_id=customer.pk, change_type="+")
    assert entity_created["data store"] == (None, "shop")
    rule_created = changes(model="quality.rule", object_id=rule.pk, change_type="+")
    assert rule_created["columns"] == (None, "created_at")
    assert "params" not in rule_created
    rule_changed = changes(model="quality.rule", object_id=rule.pk, change_type="~")
    assert rule_changed["columns"] == ("created_at", "email")
    volume_created = changes(model="quality.rule", object_id=volume.pk, change_type="+")
    assert volume_created["params"] == (None, "min_rows = 1")
    assert "columns" not in volume_created

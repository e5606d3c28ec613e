"""The compliance admin pages: what each role may open, and the flows a compliance officer uses."""

import csv
import io
import json

import pytest
from django.urls import reverse
from django.utils.html import escape

from catalog.models import Entity
from catalog.services import catalog_object_save
from compliance.choices import RequestStatus
from compliance.models import RetentionExecution, SubjectRequest
from compliance.retention import retention_enforce
from tests.compliance.conftest import hold, policy, table

PAGES = {
    # name: (url, roles that may open it)
    "executions": (
        reverse("admin:compliance_retentionexecution_changelist"),
        {"steward", "officer", "platform"},
    ),
    "enforce": (reverse("admin:compliance_retentionexecution_enforce"), {"officer"}),
    "requests": (reverse("admin:compliance_subjectrequest_changelist"), {"officer"}),
    "new request": (reverse("admin:compliance_subjectrequest_add"), {"officer"}),
    "pii overview": (reverse("admin:compliance_compliancereport_changelist"), {"steward", "officer"}),
    "report": (reverse("admin:compliance_compliancereport_report"), {"steward", "officer"}),
    "report csv": (reverse("admin:compliance_compliancereport_csv"), {"steward", "officer"}),
}


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["steward", "officer", "platform"])
def test_each_role_opens_the_pages_its_work_needs_and_no_other(role_client, role, shop):
    client = role_client(role)
    for name, (url, allowed) in PAGES.items():
        status = client.get(url).status_code
        assert status == (200 if role in allowed else 403), f"{role} on {name}: {status}"


@pytest.mark.django_db
def test_records_of_other_roles_are_read_only_and_requests_officer_only(role_client, shop, officer):
    execution = retention_enforce(
        policy=policy(shop.orders, officer, "bookkeeping", "ordered_at", 10), user=officer
    )
    page = reverse("admin:compliance_retentionexecution_change", args=[execution.pk])
    response = role_client("platform").get(page)
    assert response.status_code == 200 and b"Run this policy again" not in response.content
    assert (
        b"app.order_items" in response.content
        and b"ON DELETE CASCADE from the expired rows" in response.content
    )
    record = SubjectRequest.objects.create(datastore=shop.store, identifier="x@example.com")
    assert (
        role_client("steward")
        .get(reverse("admin:compliance_subjectrequest_change", args=[record.pk]))
        .status_code
        == 403
    )


@pytest.mark.django_db
def test_an_officer_dry_runs_then_enforces_a_policy_from_the_admin(
    role_client, shop, officer, django_capture_on_commit_callbacks, settings
):
    settings.CUSTODIAN_JOBS_SYNC = True  # in-process, also when the suite runs with Redis
    bookkeeping = policy(shop.orders, officer, "bookkeeping", "ordered_at", 10)
    client = role_client("officer")
    url = reverse("admin:compliance_retentionexecution_enforce")

    with django_capture_on_commit_callbacks(execute=True):  # the job runs once the request commits
        response = client.post(url, {"policy": bookkeeping.pk, "dry_run": "on"})

    dry = RetentionExecution.objects.get()
    assert (dry.status, dry.dry_run, dry.trigger, dry.requested_by) == ("succeeded", True, "manual", officer)
    assert response["Location"] == reverse("admin:compliance_retentionexecution_change", args=[dry.pk])
    assert b"Sample of the expired rows" in client.get(response["Location"]).content
    assert [o[0] for o in table(shop, "orders")] == [10, 11, 20, 21]

    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"policy": bookkeeping.pk})
    assert [o[0] for o in table(shop, "orders")] == [11, 21]


@pytest.mark.django_db
def test_an_officer_runs_an_erasure_with_dry_run_and_confirmation(role_client, shop, officer):
    client = role_client("officer")
    customers_email = shop.customers.columns.get(name="email")
    response = client.post(
        reverse("admin:compliance_subjectrequest_add"),
        {
            "datastore": shop.store.pk,
            "identifier": "bob@example.com",
            "kind": "erasure",
            "entity": shop.customers.pk,
            "column": customers_email.pk,
            "basis": "Art. 17(1)(b)",
        },
        follow=True,
    )
    record = SubjectRequest.objects.get()
    assert record.status == RequestStatus.AWAITING_CONFIRMATION and record.requested_by == officer
    assert (
        b"Dry run: what the erasure would do" in response.content and b'id="erase-form"' in response.content
    )

    erase = reverse("admin:compliance_subjectrequest_erase", args=[record.pk])
    response = client.post(erase, {"confirm": "someone else"}, follow=True)
    # Said on the confirmation field, and the form is there to correct it
    assert response.context["confirm_form"].errors["confirm"] == [
        f"The confirmation 'someone else' is neither the request's id ({record.pk}) nor its identifier; "
        "nothing was erased."
    ]
    assert 'id="erase-form"' in response.content.decode()
    assert [c[0] for c in table(shop, "customers")] == [1, 2, 3, 4]

    response = client.post(erase, {"confirm": str(record.pk)}, follow=True)
    record.refresh_from_db()
    assert record.status == RequestStatus.COMPLETED
    assert b"What the erasure did" in response.content
    assert [c[0] for c in table(shop, "customers")] == [1, 3, 4]
    report = client.get(reverse("admin:compliance_subjectrequest_report", args=[record.pk]))
    assert report["Content-Disposition"] == f'attachment; filename="subject-request-{record.pk}-report.json"'
    assert json.loads(report.content)["touched"] == record.touched


@pytest.mark.django_db
def test_access_export_download_is_clear_for_officers_only(role_client, shop, officer, superuser):
    response = role_client("officer").post(
        reverse("admin:compliance_subjectrequest_add"),
        {"datastore": shop.store.pk, "identifier": "bob@example.com", "kind": "access"},
        follow=True,
    )
    record = SubjectRequest.objects.get()
    assert record.status == RequestStatus.COMPLETED
    assert b"bob@example.com</td>" not in response.content  # the record's rows are masked
    export = json.loads(
        role_client("officer")
        .post(reverse("admin:compliance_subjectrequest_export", args=[record.pk]))
        .content
    )
    # Reading the data store again is never a GET
    assert (
        role_client("officer")
        .get(reverse("admin:compliance_subjectrequest_export", args=[record.pk]))
        .status_code
        == 405
    )
    customers = next(e for e in export["entities"] if e["entity"] == "customers")
    assert customers["rows"][0]["email"] == "bob@example.com" and export["masked"] is False


@pytest.mark.django_db
def test_the_pii_overview_shows_each_pii_column_and_highlights_gaps(role_client, shop, officer, steward):
    policy(shop.customers, officer, "closed accounts", "closed_at", 2, action="anonymize", regulation="GDPR")
    catalog_object_save(obj=Entity(datastore=shop.store, name="scratch"), user=steward)
    response = role_client("steward").get(reverse("admin:compliance_compliancereport_changelist"))
    overview = response.context["overview"]
    rows = {f"{r.column.entity.name}.{r.column.name}": r for r in overview.columns}
    assert sorted(rows) == [
        "customers.birth_date",
        "customers.email",
        "customers.full_name",
        "newsletter.email",
        "orders.shipping_name",
        "tickets.body",
    ]
    assert rows["customers.email"].gaps == [] and rows["customers.email"].regulations == ["GDPR"]
    assert rows["orders.shipping_name"].gaps == ["no retention policy", "no masking: shown in clear"]
    assert rows["tickets.body"].masking == "redact"  # the category's default
    assert [e.name for e in overview.unowned] == ["scratch"]
    assert b"Entities with no owner: scratch" in response.content


@pytest.mark.django_db
def test_the_compliance_report_lists_activity_as_html_and_csv(
    role_client, shop, officer, django_assert_max_num_queries
):
    bookkeeping = policy(shop.orders, officer, "bookkeeping", "ordered_at", 10)
    retention_enforce(policy=bookkeeping, user=officer)
    client = role_client("officer")
    response = client.get(reverse("admin:compliance_compliancereport_report"))
    assert response.context["activity"].execution_counts == [("Succeeded", 1)]
    assert b"bookkeeping" in response.content and b"Audit trail activity" in response.content

    csv_response = client.get(reverse("admin:compliance_compliancereport_csv"))
    rows = list(csv.reader(io.StringIO(b"".join(csv_response.streaming_content).decode())))
    assert rows[0] == ["section", "data store", "entity", "item", "detail", "status", "count", "when"]
    executions = [r for r in rows if r[0] == "retention execution"]
    assert executions[0][:7] == [
        "retention execution",
        "shop",
        "orders",
        "bookkeeping",
        "delete; command",
        "succeeded",
        "5",
    ]
    assert any(r[0] == "audit" and r[2] == "catalog.retentionpolicy" and r[3] == "created" for r in rows)


@pytest.mark.django_db
def test_list_pages_cost_a_constant_number_of_queries(
    role_client, shop, officer, django_assert_max_num_queries
):
    bookkeeping = policy(shop.orders, officer, "bookkeeping", "ordered_at", 10)
    for _ in range(5):
        retention_enforce(policy=bookkeeping, dry_run=True, user=officer)
        SubjectRequest.objects.create(datastore=shop.store, identifier="x@example.com", requested_by=officer)
    client = role_client("officer")
    for name in ("executions", "requests"):
        with django_assert_max_num_queries(12):
            assert client.get(PAGES[name][0]).status_code == 200


@pytest.mark.django_db
def test_the_new_request_page_says_what_to_change_on_the_field_concerned(role_client, shop):
    client = role_client("officer")
    add = reverse("admin:compliance_subjectrequest_add")
    base = {"datastore": shop.store.pk, "kind": "erasure", "basis": "Art. 17"}

    # A key found in two entities: choose the entity, said on the entity field, in the page's words
    response = client.post(add, {**base, "identifier": "2"})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["entity"] == [
        "'2' is found in customers.id, newsletter.id, which are not the same person. Choose the entity (and "
        "the column) that identify the subject."
    ]
    assert "--entity" not in response.content.decode()
    # A value the column cannot hold: said on the column
    customers_id = shop.customers.columns.get(name="id")
    response = client.post(
        add, {**base, "identifier": "bob@example.com", "entity": shop.customers.pk, "column": customers_id.pk}
    )
    assert response.context["adminform"].form.errors == {
        "column": [
            "'bob@example.com' cannot be a value of customers.id (bigint). Choose the column that holds it."
        ]
    }
    assert not SubjectRequest.objects.exists()  # nothing recorded until the form is right

    # Named by its entity, the same number is one subject and gets its dry run
    response = client.post(add, {**base, "identifier": "2", "entity": shop.customers.pk}, follow=True)
    assert SubjectRequest.objects.get().status == RequestStatus.AWAITING_CONFIRMATION


@pytest.mark.django_db
def test_a_report_range_that_ends_before_it_starts_is_said_on_the_to_field(role_client, shop):
    response = role_client("officer").get(
        reverse("admin:compliance_compliancereport_report"), {"start": "2026-03-02", "end": "2026-03-01"}
    )
    assert response.context["form"].errors == {"end": ["'To' is before 'From'; choose a day on or after it."]}


@pytest.mark.parametrize("suffix", ["1/change/", "1/delete/", "1/history/", "add/"])
def test_the_compliance_report_has_no_object_pages(role_client, suffix):
    """The report is no table: its stock object pages answered 500 (relation does not exist)."""
    response = role_client("officer").get(f"/admin/compliance/compliancereport/{suffix}")
    assert response.status_code == 404


@pytest.mark.parametrize("field", ["start", "end"])
@pytest.mark.parametrize("value", ["9999-12-31", "0001-01-01"])
def test_a_report_date_out_of_range_is_refused_on_its_field_not_with_a_server_error(
    client, officer, field, value
):
    client.force_login(officer)
    query = {"start": "2026-01-01", "end": "2026-01-31", field: value}
    response = client.get(reverse("admin:compliance_compliancereport_report"), query)
    assert response.status_code == 200
    assert response.context["form"].errors[field] == ["Enter a date between 1900-01-01 and 9998-12-31."]
    assert client.get(reverse("admin:compliance_compliancereport_csv"), query).status_code == 403


def test_the_report_accepts_the_last_day_allowed(client, officer):
    client.force_login(officer)
    query = {"start": "1900-01-01", "end": "9998-12-31"}
    response = client.get(reverse("admin:compliance_compliancereport_report"), query)
    assert response.status_code == 200 and response.context["activity"] is not None


@pytest.mark.django_db
def test_the_pii_overview_and_the_report_show_an_entity_on_legal_hold_and_masking_in_words(
    role_client, shop, officer
):
    hold(shop.tickets, officer)
    client = role_client("officer")
    overview = client.get(reverse("admin:compliance_compliancereport_changelist"))
    report = client.get(reverse("admin:compliance_compliancereport_report"))
    rows = {f"{r.column.entity.name}.{r.column.name}": r for r in overview.context["overview"].columns}
    assert rows["tickets.body"].legal_hold and not rows["customers.email"].legal_hold
    for response in (overview, report):
        content = response.content.decode()
        assert "Entity on legal hold: no retention or erasure changes its rows" in content
        # Masking in the words the catalog's forms use, not its codes
        assert "<td>Redact <span" in content and "<td>Hash (peppered)</td>" in content
        assert "<td>redact" not in content and "<td>hash" not in content
    assert '<label for="id_datastore">Data store:</label>' in report.content.decode()

    csv_response = client.get(reverse("admin:compliance_compliancereport_csv"))
    lines = list(csv.reader(io.StringIO(b"".join(csv_response.streaming_content).decode())))
    body = next(line for line in lines if line[0] == "pii column" and line[2:4] == ["tickets", "body"])
    assert body[4] == "Sensitive health (PHI); masking Redact; entity on legal hold"


@pytest.mark.django_db
def test_a_failed_or_blocked_dry_run_says_its_status_and_reason_once_and_why_no_rows_were_looked_for(
    role_client, shop, officer, django_capture_on_commit_callbacks, settings
):
    settings.CUSTODIAN_JOBS_SYNC = True
    # Deleting closed customers would break their orders' RESTRICT keys: the dry run fails
    closed = policy(shop.customers, officer, "closed accounts", "closed_at", 2)
    hold(shop.tickets, officer)
    old_tickets = policy(shop.tickets, officer, "old tickets", "opened_at", 1)
    client = role_client("officer")
    url = reverse("admin:compliance_retentionexecution_enforce")

    pages = {}
    for name, chosen in (("failed", closed), ("blocked", old_tickets)):
        with django_capture_on_commit_callbacks(execute=True):  # the job runs once the request commits
            response = client.post(url, {"policy": chosen.pk, "dry_run": "on"})
        response = client.get(response["Location"])
        execution = RetentionExecution.objects.get(policy=chosen)
        assert execution.status == name
        pages[name] = (response.content.decode(), escape(execution.error))

    content, error = pages["failed"]
    assert "Failed (nothing changed)</span> (dry run)</dd>" in content
    assert "(dry run: nothing was changed)" not in content
    assert content.count(error) == 1  # on the execution, not again in the message above it
    assert "No rows were found" not in content
    assert "No rows were looked for or changed: the dry run stopped" in content

    content, error = pages["blocked"]
    assert content.count(error) == 1
    assert f"No rows were looked for: {error}" in content
    assert "No rows were found" not in content


@pytest.mark.django_db
def test_the_retention_executions_list_filters_by_data_store_in_words(role_client, shop, officer):
    retention_enforce(policy=policy(shop.orders, officer, "bookkeeping", "ordered_at", 10), dry_run=True)
    content = role_client("officer").get(PAGES["executions"][0]).content.decode()
    assert "By data store" in content and "By datastore name" not in content


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_message_after_a_dry_run_points_at_the_reason_instead_of_repeating_it(
    role_client, shop, officer, settings
):
    settings.CUSTODIAN_JOBS_SYNC = True  # outside a transaction the job has run when the page is drawn
    hold(shop.tickets, officer)
    old_tickets = policy(shop.tickets, officer, "old tickets", "opened_at", 1)
    url = reverse("admin:compliance_retentionexecution_enforce")
    response = role_client("officer").post(url, {"policy": old_tickets.pk, "dry_run": "on"}, follow=True)
    execution = RetentionExecution.objects.get(policy=old_tickets)
    assert execution.status == "blocked"
    assert [str(m) for m in response.context["messages"]] == [f"{execution}: see why below."]
    assert response.content.decode().count(escape(execution.error)) == 1

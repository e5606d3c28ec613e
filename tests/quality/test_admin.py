"""The quality admin against real PostgreSQL: who sees and does what, rule forms, Run checks now, the check
run, entity and data store pages, and list pages whose query counts do not grow with the data."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from catalog.models import DataStore, Entity
from catalog.services import catalog_object_save
from core.choices import RunStatus
from quality.admin import params_yaml, trend_chart
from quality.choices import ResultStatus
from quality.models import CheckRun, EntityScore, Incident, QualityAlerting, QualitySchedule, Rule, RuleResult
from quality.runner import check_run_execute
from quality.services import check_run_request
from tests.admin_forms import change_form_data
from tests.quality.conftest import BAD, ROWS

pytestmark = pytest.mark.django_db

ROLES = ["steward", "officer", "platform"]
CUSTOMER_FAILING = {
    "email_not_null": BAD["null_email"],
    "email_pattern": BAD["bad_pattern"],
    "email_unique": BAD["duplicate_rows"],
    "score_range": BAD["out_of_range"],
    "tier_allowed_values": BAD["bad_tier"],
    "country_references_country": BAD["orphans"],
    "primary_key_unique": 0,
    "customer_id_not_null": 0,
}


@pytest.fixture(autouse=True)
def jobs_in_process(settings):
    settings.CUSTODIAN_JOBS_SYNC = True


def check(store, entity=None) -> CheckRun:
    return check_run_execute(check_run_request(datastore=store, entity=entity, enqueue=False).pk)


def post_run(client, url, django_capture_on_commit_callbacks):
    """POST a Run checks button; the job runs when the request's transaction commits, as it does live."""
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(url)


def rule_data(entity, **fields) -> dict:
    data = {
        "entity": entity.pk,
        "name": "tier_is_known",
        "kind": "pattern",
        "columns": "tier",
        "params": "pattern: '^(gold|silver)$'",
        "threshold_percent": "0",
        "severity": "error",
        "dimension": "",
        "enabled": "on",
        "description": "",
        "seen_version": "",
    }
    data.update(fields)
    return data


def grant(user, codename: str):
    user.user_permissions.add(Permission.objects.get(content_type__app_label="quality", codename=codename))


def page_messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# Who sees what -------------------------------------------------------------------------------------------


@pytest.fixture
def checked(dq):
    """The dq store after one check of `customer`: results, scores and six open incidents."""
    run = check(dq, dq.customer)
    assert run.status == RunStatus.SUCCEEDED
    dq.run = run
    dq.rule = Rule.objects.get(entity=dq.customer, name="email_pattern")
    catalog_object_save(obj=QualitySchedule(datastore=dq, cron="0 * * * *"), user=None)
    catalog_object_save(obj=QualityAlerting(datastore=dq, emails="dq@example.com"), user=None)
    return dq


PAGES = {
    "rules": lambda s: reverse("admin:quality_rule_changelist"),
    "rules of entity": lambda s: (
        reverse("admin:quality_rule_changelist") + f"?entity__id__exact={s.customer.pk}"
    ),
    "rules of store": lambda s: (
        reverse("admin:quality_rule_changelist") + f"?entity__datastore__id__exact={s.pk}"
    ),
    "rule": lambda s: reverse("admin:quality_rule_change", args=[s.rule.pk]),
    "rule history": lambda s: reverse("admin:quality_rule_history", args=[s.rule.pk]),
    "check runs": lambda s: reverse("admin:quality_checkrun_changelist"),
    "check run": lambda s: reverse("admin:quality_checkrun_change", args=[s.run.pk]),
    "entity quality": lambda s: reverse("admin:quality_entity", args=[s.customer.pk]),
    "store quality": lambda s: reverse("admin:quality_datastore", args=[s.pk]),
    "stores": lambda s: reverse("admin:quality_datastores"),
    "schedules": lambda s: reverse("admin:quality_qualityschedule_changelist"),
    "alerting": lambda s: reverse("admin:quality_qualityalerting_changelist"),
    "incidents": lambda s: reverse("admin:quality_incident_changelist") + "?state=open",
    "incident": lambda s: reverse("admin:quality_incident_change", args=[Incident.objects.first().pk]),
}
ADD_PAGES = {
    "add rule": lambda s: reverse("admin:quality_rule_add"),
    "add schedule": lambda s: reverse("admin:quality_qualityschedule_add"),
}
STEWARD_ONLY = {"steward": 200, "officer": 403, "platform": 403}


@pytest.mark.parametrize("role", ROLES)
def test_each_quality_page_renders_for_each_role_that_may_see_it(role_client, checked, role):
    client = role_client(role)
    expected = {page: 200 for page in PAGES} | {page: STEWARD_ONLY[role] for page in ADD_PAGES}
    found = {page: client.get(build(checked)).status_code for page, build in (PAGES | ADD_PAGES).items()}
    assert found == expected


def test_a_user_without_quality_permissions_sees_no_quality_page(client, checked):
    from tests.conftest import make_user

    client.force_login(make_user("nobody"))
    for page in ("entity quality", "store quality", "stores", "check run"):
        assert client.get(PAGES[page](checked)).status_code == 403, page


def test_compliance_officer_reads_rules_but_cannot_edit_them_or_run_checks(
    role_client, checked, django_capture_on_commit_callbacks
):
    client = role_client("officer")
    rules = client.get(PAGES["rules of entity"](checked)).content.decode()
    assert "email_pattern" in rules
    assert 'id="quality-run-entity"' not in rules and 'id="quality-refresh-entity"' not in rules
    page = client.get(PAGES["rule"](checked))
    assert page.context["has_change_permission"] is False and 'name="_save"' not in page.content.decode()
    posted = client.post(PAGES["rule"](checked), {"threshold_percent": "50"})
    assert posted.status_code == 403
    assert client.get(PAGES["entity quality"](checked)).content.decode().count("quality-run-entity") == 0
    runs = CheckRun.objects.count()
    for url in (
        reverse("admin:quality_entity_run", args=[checked.customer.pk]),
        reverse("admin:quality_datastore_run", args=[checked.pk]),
    ):
        assert post_run(client, url, django_capture_on_commit_callbacks).status_code == 403
    refresh = client.post(reverse("admin:quality_rule_refresh_implied"), {"entity": checked.customer.pk})
    assert refresh.status_code == 403
    assert CheckRun.objects.count() == runs


def test_platform_admin_runs_checks_but_does_not_write_rules(role_client, checked):
    client = role_client("platform")
    rules = client.get(PAGES["rules of entity"](checked)).content.decode()
    assert 'id="quality-run-entity"' in rules and 'id="quality-refresh-entity"' not in rules
    assert client.post(reverse("admin:quality_rule_add"), rule_data(checked.customer)).status_code == 403


# Writing rules -------------------------------------------------------------------------------------------


def test_steward_adds_a_pattern_rule_through_the_admin_form(role_client, steward, dq):
    client = role_client("steward")
    response = client.post(reverse("admin:quality_rule_add"), rule_data(dq.customer))
    assert response.status_code == 302, response.context["adminform"].form.errors
    rule = Rule.objects.get(entity=dq.customer, name="tier_is_known")
    assert (rule.kind, rule.columns, rule.params) == ("pattern", ["tier"], {"pattern": "^(gold|silver)$"})
    assert rule.dimension == "validity" and rule.origin == "manual"
    assert rule.history.get().history_user == steward


def test_add_rule_from_a_list_filtered_by_entity_starts_with_that_entity(role_client, dq):
    client = role_client("steward")
    filters = f"entity__id__exact={dq.customer.pk}"
    response = client.get(
        reverse("admin:quality_rule_add") + "?_changelist_filters=" + filters.replace("=", "%3D")
    )
    assert str(response.context["adminform"].form.initial["entity"]) == str(dq.customer.pk)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"params": "pattern: '([a-z'"},
            "params",
            "PostgreSQL rejects the pattern: brackets [] not balanced",
        ),
        (
            {"params": "pattern: '(?P<n>[a-z]+)'"},
            "params",
            "PostgreSQL rejects the pattern: invalid embedded",
        ),
        ({"columns": "tier, nope"}, "columns", "customer has no column nope"),
        ({"columns": ""}, "columns", "A pattern rule checks exactly one column"),
        ({"params": "pattern: [unclosed"}, "params", "neither YAML nor JSON (line 1"),
        ({"params": "- just\n- a list"}, "params", "a mapping of name: value"),
        ({"params": "values: [gold]"}, "params", "does not take values (it takes pattern)"),
        (
            {"kind": "freshness", "columns": "tier", "params": "max_age_hours: 2"},
            "columns",
            "date or timestamp",
        ),
        (
            {"kind": "referential", "params": '{"ref_entity": "nowhere", "ref_columns": ["code"]}'},
            "params",
            "nowhere",
        ),
    ],
)
def test_a_bad_rule_definition_is_shown_on_its_field(role_client, dq, fields, field, message):
    response = role_client("steward").post(
        reverse("admin:quality_rule_add"), rule_data(dq.customer, **fields)
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors.get(field, [])), errors
    assert not Rule.objects.filter(name="tier_is_known").exists()


def test_params_are_yaml_or_json_and_yes_no_stay_text(role_client, dq):
    client = role_client("steward")
    as_yaml = rule_data(dq.customer, kind="allowed_values", params="values: [gold, yes, no, 2024-01-01]")
    assert client.post(reverse("admin:quality_rule_add"), as_yaml).status_code == 302
    assert Rule.objects.get(name="tier_is_known").params == {"values": ["gold", "yes", "no", "2024-01-01"]}
    as_json = rule_data(dq.customer, name="score_bounds", kind="range", columns="score", params='{"min": 0}')
    assert client.post(reverse("admin:quality_rule_add"), as_json).status_code == 302
    assert Rule.objects.get(name="score_bounds").params == {"min": 0}
    # The change page shows the parameters back as YAML.
    page = client.get(reverse("admin:quality_rule_change", args=[Rule.objects.get(name="tier_is_known").pk]))
    assert page.context["adminform"].form["params"].value() == "values: [gold, 'yes', 'no', '2024-01-01']\n"
    assert "values: [gold, &#x27;yes&#x27;, &#x27;no&#x27;, &#x27;2024-01-01&#x27;]" in page.content.decode()


def test_custom_sql_shows_as_a_yaml_block():
    text = params_yaml({"sql": "SELECT *\nFROM app.customer\nWHERE score > 100", "timeout_seconds": 5})
    assert text == "sql: |-\n  SELECT *\n  FROM app.customer\n  WHERE score > 100\ntimeout_seconds: 5\n"


CUSTOM = {"kind": "custom_sql", "columns": "", "params": "sql: SELECT * FROM app.customer WHERE score > 100"}


def test_a_steward_without_the_custom_sql_permission_cannot_write_custom_sql(role_client, dq):
    response = role_client("steward").post(
        reverse("admin:quality_rule_add"), rule_data(dq.customer, **CUSTOM)
    )
    assert response.status_code == 200
    assert "Custom SQL rules need the permission" in " ".join(
        response.context["adminform"].form.errors["kind"]
    )
    assert not Rule.objects.filter(kind="custom_sql").exists()


def test_refusing_custom_sql_says_only_that_and_who_gives_the_permission(role_client, dq):
    response = role_client("steward").post(
        reverse("admin:quality_rule_add"), rule_data(dq.customer, **CUSTOM)
    )
    errors = response.context["adminform"].form.errors
    # One message on Kind: the kind the form refused is not judged again as an empty one.
    assert len(errors["kind"]) == 1
    assert "Unknown rule kind" not in response.content.decode()
    assert "params" not in errors and "columns" not in errors
    # Platform admins cannot write rules: the permission is given to a user by an administrator.
    assert "platform admin" not in errors["kind"][0]
    assert "an administrator gives to individual users" in errors["kind"][0]


def test_a_user_granted_custom_sql_writes_it_and_others_may_only_read_it(
    client, role_client, steward, dq, django_capture_on_commit_callbacks
):
    from tests.conftest import make_user

    writer = make_user("sql_writer", "Data steward")
    grant(writer, "write_custom_sql")
    client.force_login(writer)
    response = client.post(
        reverse("admin:quality_rule_add"), rule_data(dq.customer, name="over_100", **CUSTOM)
    )
    assert response.status_code == 302
    rule = Rule.objects.get(name="over_100")
    assert rule.params == {"sql": "SELECT * FROM app.customer WHERE score > 100"}
    run = post_run(
        client, reverse("admin:quality_entity_run", args=[dq.customer.pk]), django_capture_on_commit_callbacks
    )
    assert run.status_code == 302
    assert RuleResult.objects.get(rule=rule).failing_rows == BAD["out_of_range"]
    # A steward without the permission reads the rule and its SQL but cannot change it.
    other = role_client("steward")
    page = other.get(reverse("admin:quality_rule_change", args=[rule.pk]))
    assert page.context["has_change_permission"] is False and 'id="rule-sql-locked"' in page.content.decode()
    assert "score &gt; 100" in page.content.decode()
    data = rule_data(dq.customer, name="over_100", **{**CUSTOM, "params": "sql: SELECT 1"})
    assert other.post(reverse("admin:quality_rule_change", args=[rule.pk]), data).status_code == 403
    rule.refresh_from_db()
    assert rule.params["sql"].endswith("score > 100")


def test_changing_a_rule_into_custom_sql_needs_the_permission(role_client, dq):
    client = role_client("steward")
    client.post(reverse("admin:quality_rule_add"), rule_data(dq.customer))
    rule = Rule.objects.get(name="tier_is_known")
    page = client.get(reverse("admin:quality_rule_change", args=[rule.pk]))
    data = {**change_form_data(page), **CUSTOM}
    response = client.post(reverse("admin:quality_rule_change", args=[rule.pk]), data)
    assert response.status_code == 200 and "kind" in response.context["adminform"].form.errors
    rule.refresh_from_db()
    assert rule.kind == "pattern"


def test_a_new_kind_brings_its_dimension_unless_one_was_chosen(role_client, dq):
    client = role_client("steward")
    client.post(reverse("admin:quality_rule_add"), rule_data(dq.customer, kind="not_null", params=""))
    rule = Rule.objects.get(name="tier_is_known")
    assert rule.dimension == "completeness"
    url = reverse("admin:quality_rule_change", args=[rule.pk])
    data = {**change_form_data(client.get(url)), "kind": "pattern", "params": "pattern: '^g'"}
    assert client.post(url, data).status_code == 302
    rule.refresh_from_db()
    assert rule.dimension == "validity"
    data = {**change_form_data(client.get(url)), "kind": "not_null", "params": "", "dimension": "accuracy"}
    assert client.post(url, data).status_code == 302
    rule.refresh_from_db()
    assert (rule.kind, rule.dimension) == ("not_null", "accuracy")


def test_opening_quality_pages_writes_no_rule_and_no_history_row(role_client, steward, dq):
    """Issue 15 #16: a GET synced implied rules and wrote history under the viewer."""
    client = role_client("steward")
    before = (Rule.objects.count(), Rule.history.count())
    entity_page = client.get(PAGES["entity quality"](dq))
    rules_page = client.get(PAGES["rules of entity"](dq))
    assert entity_page.status_code == rules_page.status_code == 200
    assert (Rule.objects.count(), Rule.history.count()) == before == (0, 0)
    # The pages say the catalog implies rules not yet brought in, and the POST brings them.
    assert 'id="quality-implied-pending"' in entity_page.content.decode()
    assert "8 to be created" in rules_page.content.decode()
    assert 'id="quality-refresh-entity"' in entity_page.content.decode()
    client.post(reverse("admin:quality_rule_refresh_implied"), {"entity": dq.customer.pk})
    assert Rule.objects.filter(entity=dq.customer, origin="catalog").count() == 8
    assert {h.history_user for h in Rule.history.all()} == {steward}
    assert 'id="quality-implied-pending"' not in client.get(PAGES["entity quality"](dq)).content.decode()


def test_a_rule_implied_by_the_catalog_may_only_be_tuned(role_client, steward, dq):
    client = role_client("steward")
    client.post(reverse("admin:quality_rule_refresh_implied"), {"entity": dq.customer.pk})
    rule = Rule.objects.get(entity=dq.customer, name="email_pattern", origin="catalog")
    url = reverse("admin:quality_rule_change", args=[rule.pk])
    page = client.get(url)
    form = page.context["adminform"].form
    assert set(form.fields) >= {"threshold_percent", "severity", "enabled", "description"}
    assert not {"entity", "name", "kind", "columns", "params", "dimension"} & set(form.fields)
    assert 'id="rule-catalog-note"' in page.content.decode()
    data = {
        **change_form_data(page),
        "threshold_percent": "2.5",
        "severity": "warn",
        "params": "pattern: '.*'",
        "kind": "not_null",
    }
    assert client.post(url, data).status_code == 302
    rule.refresh_from_db()
    assert (float(rule.threshold_percent), rule.severity) == (2.5, "warn")
    assert (rule.kind, rule.params) == ("pattern", {"pattern": "^[^@]+@[^@]+$"})
    assert rule.history.order_by("-history_id").first().history_user == steward
    # Deleting it would only bring it back at the next check: it is disabled instead.
    assert client.get(reverse("admin:quality_rule_delete", args=[rule.pk])).status_code == 403


def test_a_broken_read_only_definition_is_named_above_the_form(role_client, dq):
    client = role_client("steward")
    client.post(reverse("admin:quality_rule_refresh_implied"), {"entity": dq.customer.pk})
    rule = Rule.objects.get(entity=dq.customer, name="email_pattern")
    Rule.objects.filter(pk=rule.pk).update(params={"pattern": "(["})  # as if written by an older release
    url = reverse("admin:quality_rule_change", args=[rule.pk])
    response = client.post(url, {**change_form_data(client.get(url)), "threshold_percent": "1"})
    assert response.status_code == 200
    errors = " ".join(response.context["adminform"].form.non_field_errors())
    assert errors.startswith("Params: PostgreSQL rejects the pattern: brackets [] not balanced")


def test_a_second_steward_saving_a_stale_rule_is_refused(client, role_client, steward, dq):
    from tests.conftest import make_user

    first = role_client("steward")
    first.post(reverse("admin:quality_rule_add"), rule_data(dq.customer))
    rule = Rule.objects.get(name="tier_is_known")
    url = reverse("admin:quality_rule_change", args=[rule.pk])
    stale = change_form_data(first.get(url))
    first.post(url, {**stale, "threshold_percent": "1"})
    client.force_login(make_user("steward2", "Data steward"))
    response = client.post(url, {**stale, "threshold_percent": "3"})
    assert response.status_code == 200
    assert "after you opened it" in " ".join(response.context["adminform"].form.non_field_errors())
    rule.refresh_from_db()
    assert float(rule.threshold_percent) == 1


def test_refresh_implied_rules_for_a_data_store_and_by_action(role_client, dq):
    client = role_client("steward")
    response = client.post(reverse("admin:quality_rule_refresh_implied"), {"datastore": dq.pk}, follow=True)
    assert "10 created" in " ".join(page_messages(response))
    assert Rule.objects.filter(origin="catalog", entity=dq.country).exists()
    Rule.objects.filter(name="email_pattern").update(params={"pattern": "x"})
    response = client.post(
        reverse("admin:quality_rule_changelist"),
        {"action": "refresh_implied_rules", "_selected_action": [Rule.objects.get(name="email_pattern").pk]},
        follow=True,
    )
    assert "0 created, 1 updated, 0 deleted" in " ".join(page_messages(response))
    assert Rule.objects.get(name="email_pattern").params == {"pattern": "^[^@]+@[^@]+$"}
    assert client.get(reverse("admin:quality_rule_refresh_implied")).status_code == 405


# Run checks now ------------------------------------------------------------------------------------------


def test_run_checks_now_on_an_entity_finds_the_known_failing_rows(
    role_client, steward, dq, django_capture_on_commit_callbacks
):
    client = role_client("steward")
    url = reverse("admin:quality_entity_run", args=[dq.customer.pk])
    assert client.get(url).status_code == 405
    response = post_run(client, url, django_capture_on_commit_callbacks)
    run = CheckRun.objects.get()
    assert response.status_code == 302 and response.url == reverse(
        "admin:quality_checkrun_change", args=[run.pk]
    )
    assert (run.status, run.entity, run.requested_by, run.trigger) == (
        "succeeded",
        dq.customer,
        steward,
        "manual",
    )
    assert (run.rules_total, run.rules_passed, run.rules_failed) == (8, 2, 6)
    assert {r.rule_name: r.failing_rows for r in run.results.all()} == CUSTOMER_FAILING
    assert all(r.total_rows == ROWS for r in run.results.all())
    page = client.get(response.url)
    assert 'data-status="succeeded"' in page.content.decode()
    # The trigger reads as words: who pressed Run now, not "Run now (admin)".
    assert f"<dd>Run now by {steward}</dd>" in page.content.decode()
    assert "(admin)" not in page.content.decode()


def test_run_checks_now_says_how_the_run_ended(role_client, dq):
    # Outside a test transaction the job runs as the request commits; here on_commit fires at once.
    client = role_client("platform")
    response = client.post(reverse("admin:quality_entity_run", args=[dq.customer.pk]), follow=True)
    text = " ".join(page_messages(response))
    assert re.search(r"Check #\d+</a> of dq.customer (finished|is queued)", text), text


def test_run_checks_now_on_a_data_store_checks_every_entity(
    role_client, dq, django_capture_on_commit_callbacks
):
    client = role_client("platform")
    response = post_run(
        client, reverse("admin:quality_datastore_run", args=[dq.pk]), django_capture_on_commit_callbacks
    )
    run = CheckRun.objects.get()
    assert response.status_code == 302 and run.entity is None and run.status == "succeeded"
    assert set(run.results.values_list("entity__name", flat=True)) == {"country", "customer"}
    page = client.get(response.url).content.decode()
    assert 'id="results-country"' in page and 'id="results-customer"' in page


def test_the_rules_list_of_an_entity_runs_its_checks(role_client, dq, django_capture_on_commit_callbacks):
    client = role_client("steward")
    page = client.get(PAGES["rules of entity"](dq)).content.decode()
    action = reverse("admin:quality_entity_run", args=[dq.customer.pk])
    assert f'action="{action}"' in page and 'id="quality-run-entity"' in page
    post_run(client, action, django_capture_on_commit_callbacks)
    listed = client.get(PAGES["rules of entity"](dq) + "&latest=failed")
    assert {r.name for r in listed.context["cl"].result_list} == {
        name for name, failing in CUSTOMER_FAILING.items() if failing
    }


# The check run, entity and data store pages --------------------------------------------------------------


def test_the_check_run_page_shows_every_result_with_samples_and_sql(role_client, checked):
    page = role_client("officer").get(PAGES["check run"](checked))
    html = page.content.decode()
    group = page.context["groups"][0]
    assert group.name == "customer" and len(group.rows) == 8
    assert [row[0].status for row in group.rows][:6] == ["failed"] * 6  # worst first
    tier = next(row for row in group.rows if row[0].rule_name == "tier_allowed_values")
    columns, rows = tier[1]
    # The rule's column first and marked, then the entity's in catalog order.
    assert columns == [("tier", True), ("customer_id", False), ("email", False), ("score", False)]
    assert {r[0] for r in rows} == {"platinum"} and len(rows) == BAD["bad_tier"]
    assert html.count("platinum") >= BAD["bad_tier"]
    assert "user4-at-example.com" in html  # the officer may see personal data (catalog.view_pii)
    steward_html = role_client("steward").get(PAGES["check run"](checked)).content.decode()
    assert "[redacted]" in steward_html and "user4-at-example.com" not in steward_html  # others may not
    assert 'class="ddl"' in html and "FILTER" in html and "failing" in html  # the SQL that ran, highlighted
    assert "6 of 100 rows fail (6.000%)" in html
    scanned = [row[0] for row in group.rows if row[0].shared_by > 1]  # checked by the one FILTER scan
    assert len(scanned) >= 2 and {r.shared_by for r in scanned} == {len(scanned)}
    assert len({r.sql for r in scanned}) == 1 and "FILTER" in scanned[0].sql
    assert html.count(f"one scan, {len(scanned)} rules") == len(scanned)
    problems = role_client("officer").get(PAGES["check run"](checked) + "?show=problems")
    assert len(problems.context["groups"][0].rows) == 6
    assert all(  # counted over the whole run, not only the rows shown
        row[0].shared_by == len(scanned) for row in problems.context["groups"][0].rows if row[0].shared_by > 1
    )


def test_the_entity_quality_page_draws_the_trend_after_two_runs(role_client, dq):
    client = role_client("officer")
    url = reverse("admin:quality_entity", args=[dq.customer.pk])
    assert "The trend appears after two check runs" in client.get(url).content.decode()
    first = check(dq, dq.customer)
    assert 'id="quality-trend"' not in client.get(url).content.decode()
    Rule.objects.filter(name="score_range").update(enabled=False)  # the second run scores differently
    second = check(dq, dq.customer)
    page = client.get(url)
    html = page.content.decode()
    chart = html.split('id="quality-trend"', 1)[1].split("</figure>")[0]
    assert "<svg" in chart and "<polyline" in chart and "http" not in chart and "<script" not in chart
    overall = page.context["chart"].lines[0]
    assert overall.label == "Overall" and len(overall.points.split()) == 2
    assert {line.label for line in page.context["chart"].lines} >= {"Completeness", "Validity", "Uniqueness"}
    scores = dict(
        EntityScore.objects.filter(entity=dq.customer, dimension="").values_list("check_run", "score")
    )
    assert f"Overall: {scores[first.pk]:.1f} (check #{first.pk})" in html
    assert f"Overall: {scores[second.pk]:.1f} (check #{second.pk})" in html
    assert page.context["current_scores"][0] == ("Overall", scores[second.pk])
    # Latest status per rule, failing samples, open incidents.
    statuses = {rule.name: rule.latest_status for rule in page.context["rules"]}
    assert statuses["email_pattern"] == ResultStatus.FAILED and statuses["primary_key_unique"] == "passed"
    assert statuses["score_range"] == "failed"  # its latest result, from the first run; it is now disabled
    assert len(page.context["failing_results"]) == 5
    still_open = Incident.objects.filter(entity=dq.customer, closed_at__isnull=True)
    assert {i.pk for i in page.context["open_incidents"]} == set(still_open.values_list("pk", flat=True))
    assert {i.rule.name for i in page.context["open_incidents"]} >= {"email_pattern", "tier_allowed_values"}
    assert ('id="entity-catalog"' in html) == page.context["perms"]["catalog"]["view_entity"]


def test_the_data_store_overview_sorts_and_pages_entities(role_client, checked):
    client = role_client("officer")
    url = PAGES["store quality"](checked)
    page = client.get(url + "?o=-failing")
    rows = list(page.context["page"].object_list)
    assert [e.name for e in rows] == ["customer", "country"]
    assert rows[0].failing_rules == 6 and rows[0].open_incidents == 6 and rows[0].score is not None
    assert rows[1].checked_at is None and rows[1].failing_rules == 0
    assert page.context["failing_entities"] == 1
    by_name = client.get(url + "?o=name")
    assert [e.name for e in by_name.context["page"].object_list] == ["country", "customer"]
    assert client.get(url + "?o=password").context["order"] == "score"  # unknown orders fall back


def test_trend_chart_places_scores_between_the_axes():
    now = timezone.now()
    runs = [(1, now - timedelta(hours=2)), (2, now - timedelta(hours=1)), (3, now)]
    chart = trend_chart(runs, {"": {1: 100.0, 2: 50.0, 3: 0.0}, "validity": {2: 80.0}})
    overall, validity = chart.lines
    middle = f"{(chart.left + chart.right) / 2:.1f},{(chart.top + chart.bottom) / 2:.1f}"
    assert overall.points == f"{chart.left}.0,{chart.top}.0 {middle} {chart.right}.0,{chart.bottom}.0"
    assert validity.label == "Validity" and len(validity.dots) == 1
    assert [label for _, label in chart.y_ticks] == ["0", "25", "50", "75", "100"]
    # Scores near 100 get an axis that shows their differences.
    close = trend_chart(runs, {"": {1: 93.0, 2: 97.5, 3: 100.0}})
    assert [label for _, label in close.y_ticks] == ["92", "94", "96", "98", "100"]
    assert close.lines[0].points.endswith(f"{close.right}.0,{close.top}.0")
    assert trend_chart([], {}) is None


# Schedules, alerting, incidents --------------------------------------------------------------------------


def test_steward_schedules_checks_and_sets_alerting(role_client, dq):
    client = role_client("steward")
    bad = client.post(
        reverse("admin:quality_qualityschedule_add"),
        {"datastore": dq.pk, "entity": "", "cron": "every hour", "enabled": "on", "seen_version": ""},
    )
    assert "Not a cron expression" in " ".join(bad.context["adminform"].form.errors["cron"])
    good = client.post(
        reverse("admin:quality_qualityschedule_add"),
        {
            "datastore": dq.pk,
            "entity": dq.customer.pk,
            "cron": "0 6 * * *",
            "enabled": "on",
            "seen_version": "",
        },
    )
    assert good.status_code == 302 and QualitySchedule.objects.get().entity == dq.customer
    alert = client.post(
        reverse("admin:quality_qualityalerting_add"),
        {"datastore": dq.pk, "emails": "a@example.com, nope", "webhook_url": "", "score_drop_points": "5"},
    )
    assert "'nope' is not an e-mail address" in " ".join(alert.context["adminform"].form.errors["emails"])
    assert role_client("officer").post(reverse("admin:quality_qualityalerting_add"), {}).status_code == 403


def test_incidents_are_listed_open_or_closed_and_read_only(role_client, checked):
    client = role_client("steward")
    Incident.objects.filter(rule__name="email_unique").update(closed_at=timezone.now())
    open_list = client.get(PAGES["incidents"](checked))
    assert len(open_list.context["cl"].result_list) == 5
    closed = client.get(reverse("admin:quality_incident_changelist") + "?state=closed")
    assert [i.rule.name for i in closed.context["cl"].result_list] == ["email_unique"]
    incident = Incident.objects.get(rule__name="email_unique")
    page = client.get(reverse("admin:quality_incident_change", args=[incident.pk]))
    assert page.context["has_change_permission"] is False
    assert reverse("admin:quality_checkrun_change", args=[checked.run.pk]) in page.content.decode()


# Query counts --------------------------------------------------------------------------------------------


def build_quality(entities: int, rules_per_entity: int, runs: int) -> DataStore:
    """Entities with rules, check runs with a result per rule, scores and incidents, written in bulk."""
    store = DataStore.objects.create(name=f"q_{entities}_{runs}", engine="postgresql")
    made = Entity.objects.bulk_create(Entity(datastore=store, name=f"e_{i}") for i in range(entities))
    rules = Rule.objects.bulk_create(
        Rule(entity=e, name=f"r_{j}", kind="volume", params={"min_rows": 1}, dimension="completeness")
        for e in made
        for j in range(rules_per_entity)
    )
    for n in range(runs):
        run = CheckRun.objects.create(datastore=store, status=RunStatus.QUEUED)
        RuleResult.objects.bulk_create(
            RuleResult(
                check_run=run,
                rule=r,
                entity_id=r.entity_id,
                rule_name=r.name,
                kind=r.kind,
                severity="error",
                dimension="completeness",
                status="failed" if (r.pk + n) % 3 == 0 else "passed",
                total_rows=10,
                failing_rows=1,
            )
            for r in rules
        )
        EntityScore.objects.bulk_create(
            EntityScore(check_run=run, entity=e, dimension=d, score=90.0 - n)
            for e in made
            for d in ("", "completeness")
        )
        CheckRun.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED, finished_at=timezone.now())
    Incident.objects.bulk_create(
        Incident(datastore=store, entity=e, kind="score_drop", summary=f"{e.name} dropped") for e in made
    )
    QualitySchedule.objects.bulk_create(
        QualitySchedule(datastore=store, entity=e, cron="0 * * * *") for e in made
    )
    return store


LIST_PAGES = [
    ("quality_rule_changelist", False),
    ("quality_checkrun_changelist", False),
    ("quality_incident_changelist", False),
    ("quality_qualityschedule_changelist", False),
    ("quality_datastore", True),
    ("quality_datastores", False),
]


def count_queries(client, url) -> tuple[int, int]:
    """(queries, rows shown) of one list page."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    shown = response.context["cl"].result_list if "cl" in response.context else response.context["page"]
    return len(captured), len(list(shown))


@pytest.mark.parametrize(("page", "per_store"), LIST_PAGES)
def test_list_page_query_count_does_not_grow_with_the_rows(
    client, superuser, page, per_store, django_assert_max_num_queries
):
    client.force_login(superuser)

    def url(store):
        return reverse(f"admin:{page}", args=[store.pk]) if per_store else reverse(f"admin:{page}")

    small = build_quality(entities=2, rules_per_entity=2, runs=1)
    few, rows_before = count_queries(client, url(small))
    big = build_quality(entities=120, rules_per_entity=6, runs=3)
    for _ in range(40):
        CheckRun.objects.create(datastore=big, entity=Entity.objects.filter(datastore=big).first())
    with django_assert_max_num_queries(few):
        _, rows_after = count_queries(client, url(big))
    assert rows_after > rows_before  # the page did show more rows for the same queries


def test_the_entity_quality_page_query_count_does_not_grow_with_runs(
    client, superuser, django_assert_max_num_queries
):
    client.force_login(superuser)
    store = build_quality(entities=1, rules_per_entity=3, runs=2)
    entity = Entity.objects.get(datastore=store)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("admin:quality_entity", args=[entity.pk])).status_code == 200
    few = len(captured)
    more = build_quality(entities=1, rules_per_entity=3, runs=1)  # noqa: F841 - another store, more rows
    Rule.objects.bulk_create(
        Rule(entity=entity, name=f"extra_{i}", kind="volume", params={"min_rows": 1}) for i in range(30)
    )
    for n in range(25):
        run = CheckRun.objects.create(datastore=store, status=RunStatus.QUEUED)
        EntityScore.objects.bulk_create(
            EntityScore(check_run=run, entity=entity, dimension=d, score=50.0 + n) for d in ("", "validity")
        )
    with django_assert_max_num_queries(few):
        response = client.get(reverse("admin:quality_entity", args=[entity.pk]))
    assert len(response.context["chart"].lines[0].points.split()) == 20  # the last 20 runs


def test_reading_a_quality_page_writes_nothing_for_a_reader(dq, role_client, steward):
    from quality.models import Rule

    client = role_client("officer")
    assert client.get(f"/admin/quality/rule/entity/{dq.customer.pk}/").status_code == 200
    assert not Rule.objects.exists()
    # Nor for a steward who may write rules: a GET is no way to write (issue 15 #16).
    role_client("steward").get(f"/admin/quality/rule/entity/{dq.customer.pk}/")
    assert not Rule.objects.exists() and not Rule.history.exists()


def test_entity_and_store_quality_pages_list_their_recent_checks(role_client, checked):
    client = role_client("officer")
    run_link = reverse("admin:quality_checkrun_change", args=[checked.run.pk])
    entity = client.get(PAGES["entity quality"](checked)).content.decode()
    section = entity.split('id="quality-recent-checks"', 1)[1]
    assert run_link in section and "<td>this entity</td>" in section
    store = client.get(PAGES["store quality"](checked)).content.decode()
    section = store.split('id="datastore-recent-checks"', 1)[1]
    assert run_link in section and "<td>customer</td>" in section


def test_a_pattern_rules_samples_show_the_value_to_view_pii_and_its_shape_to_others(role_client, checked):
    """Issue 16 #19: masked pattern examples showed only [redacted]."""
    steward_page = role_client("steward").get(PAGES["check run"](checked)).content.decode()
    assert "aaaa9-aa-aaaaaaa.aaa (20)" in steward_page and "user4-at-example.com" not in steward_page
    assert "dq-masked-note" in steward_page
    for page in ("check run", "entity quality"):
        officer_page = role_client("officer").get(PAGES[page](checked)).content.decode()  # holds view_pii
        assert "user4-at-example.com" in officer_page and "aaaa9-aa-aaaaaaa.aaa" not in officer_page


def test_an_entity_never_checked_says_so_instead_of_a_trend_over_zero_checks(role_client, dq):
    page = role_client("steward").get(PAGES["entity quality"](dq)).content.decode()
    trend = page.split('id="quality-trend-module"')[1].split("</div>")[0]
    assert "No checks yet." in trend
    assert "last 0" not in trend and "<h2>Trend</h2>" in trend
    check(dq, dq.customer)
    page = role_client("steward").get(PAGES["entity quality"](dq)).content.decode()
    assert "<h2>Trend over the last check</h2>" in page and "No checks yet" not in page

"""The permission matrix: every URL the project serves, every admin action and every autocomplete source, for
an anonymous visitor and each role (Data steward, Compliance officer, Platform admin, superuser), by GET and
POST, against the intended policy (README "Roles" and "Permissions", DESIGN "Trust boundary", the roles' data
migrations). Data-driven, as NetBox's view tests: the tables below are the policy, one row per URL name.

Each cell says who gets past authorization. A role in a row's set must get an answer (a page, a download, a
redirect elsewhere, a form with errors); anyone else must be sent to login (anonymous) or refused (403, or 404
where the admin hides a page). No cell may answer 500. Besides the status, every cell checks two promises of
the trust boundary: a GET, a refused request and a POST to a read-only page write nothing to Custodian's
database, and none of them reaches a data store (the matrix's store points at a local port that counts
connections), except a GET whose row names why it may read the store.

A URL, action or autocomplete field without a row fails `test_every_*_has_a_row` with its name.
"""

from dataclasses import dataclass, field
from http.cookies import SimpleCookie

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.http import (
    HttpResponse,
    HttpResponseForbidden,
    HttpResponseNotAllowed,
    HttpResponseNotFound,
    HttpResponseRedirect,
    HttpResponseServerError,
)
from django.test import Client
from django.test.utils import CaptureQueriesContext

from catalog.roles import COMPLIANCE_OFFICER, DATA_STEWARD, PLATFORM_ADMIN
from tests.conftest import make_user
from tests.security import permission_matrix as matrix
from tests.security.permission_matrix import DENIED, HIDDEN, LOGIN, METHOD, OK

ANON, STEWARD, OFFICER, PLATFORM, SUPERUSER = "anon", "steward", "officer", "platform", "superuser"
STAFF = frozenset({STEWARD, OFFICER, PLATFORM, SUPERUSER})
EVERYONE = STAFF | {ANON}
NOBODY = frozenset()
THIS_FILE = "tests/security/test_permission_matrix.py"


@dataclass(frozen=True)
class Row:
    """Who gets past authorization on one URL, by method.

    get_405 / post_405: the URL does not take that method (405 is then fine for anyone, as is being refused).
    missing_ok: for roles that may, a 404 is fine too (django-rq pages of a worker, result or scheduler that
    does not exist). read_only_post: a POST changes nothing (the page only reads), so it must write nothing.
    store_on_get: why a GET may read the data store; empty means it must not connect at all.
    post_data: form fields the POST sends (names of world objects in braces are filled in).
    query: a query string added to the URL.
    """

    get: frozenset
    post: frozenset
    get_405: bool = False
    post_405: bool = False
    missing_ok: bool = False
    read_only_post: bool = False
    store_on_get: str = ""
    post_data: dict = field(default_factory=dict)
    query: str = ""


def page(view, *, post=None, **extra) -> Row:
    """A page that only reads: GET for `view`; a POST renders it again (or is refused) and writes nothing."""
    return Row(frozenset(view), frozenset(view if post is None else post), read_only_post=True, **extra)


def form(roles, **extra) -> Row:
    """A page with a form: GET shows it, POST submits it, both for `roles`."""
    return Row(frozenset(roles), frozenset(roles), **extra)


def post_only(roles, **extra) -> Row:
    """A button: GET is not allowed (405, or refused first); POST does the work for `roles`."""
    return Row(NOBODY, frozenset(roles), get_405=True, **extra)


def read_only(view, **extra) -> Row:
    """A page that refuses POST (405) for everyone: GET for `view`."""
    return Row(frozenset(view), NOBODY, post_405=True, **extra)


def superuser_only(**extra) -> Row:
    """django-rq: every page, button and JSON is for superusers only (DESIGN "Trust boundary"); a superuser
    may get 404 for a job, worker or scheduler that is not there, or 405 for the other method."""
    return Row(
        frozenset({SUPERUSER}), frozenset({SUPERUSER}), get_405=True, post_405=True, missing_ok=True, **extra
    )


def model_rows(
    label: str,
    *,
    view,
    add=NOBODY,
    change=NOBODY,
    delete=NOBODY,
    imports=None,
    exports=None,
    versions=None,
    change_page: Row | None = None,
) -> dict[str, Row]:
    """The stock admin URLs of one model: list, add, change, delete, history, the `<id>/` redirect, and when
    given, import/export (django-import-export) and single history versions (simple-history)."""
    app, model = label.split(".")
    name = f"admin:{app}_{model}"
    rows = {
        f"{name}_changelist": page(view),
        f"{name}_add": form(add),
        f"{name}_change": change_page or Row(frozenset(view) | frozenset(change), frozenset(change)),
        f"{name}_delete": form(delete),
        f"{name}_history": page(view),
        # A bare object URL only redirects to its change page, which then decides.
        f"admin/{app}/{model}/<path:object_id>/": page(STAFF),
    }
    if imports is not None:
        rows[f"{name}_import"] = form(imports)
        rows[f"{name}_process_import"] = post_only(imports)
    if exports is not None:
        rows[f"{name}_export"] = page(exports)
    if versions is not None:
        rows[f"{name}_simple_history"] = read_only(versions)
    return rows


STEWARD_EDITS = {STEWARD, SUPERUSER}
OFFICER_EDITS = {OFFICER, SUPERUSER}
PLATFORM_EDITS = {PLATFORM, SUPERUSER}
COMPLIANCE_READERS = {STEWARD, OFFICER, SUPERUSER}  # the PII overview and compliance report


# Who may do what (README "Roles", "Permissions"; DESIGN "Trust boundary"; */migrations/*roles*).
URLS: dict[str, Row] = {
    # The site
    "": page(EVERYONE),  # redirects to the admin
    "dashboard": page(STAFF),
    "admin:index": page(STAFF),
    "admin:login": page(EVERYONE),
    "admin:logout": Row(frozenset({ANON}), EVERYONE, get_405=True),  # anonymous: sent to the index
    "admin:password_change": form(STAFF),
    "admin:password_change_done": read_only(STAFF),
    "admin:autocomplete": Row(NOBODY, NOBODY, post_405=True),  # without a source: refused (rows below)
    "admin:jsi18n": read_only(STAFF),
    "admin:view_on_site": page(NOBODY),  # no model has a public page
    # An app's index shows the models the user may see; with none, the admin answers 404.
    "admin:app_list[auth]": page({SUPERUSER}),
    "admin:app_list[catalog]": page(STAFF),
    "admin:app_list[compliance]": page(STAFF),
    "admin:app_list[pipelines]": page(STAFF),
    "admin:app_list[quality]": page(STAFF),
    "admin/(?P<url>.*)$": page(NOBODY),
    # Users and groups: superusers only
    **model_rows("auth.group", view={SUPERUSER}, add={SUPERUSER}, change={SUPERUSER}, delete={SUPERUSER}),
    **model_rows("auth.user", view={SUPERUSER}, add={SUPERUSER}, change={SUPERUSER}, delete={SUPERUSER}),
    "admin:auth_user_password_change": form({SUPERUSER}),
    # Catalog
    **model_rows(
        "catalog.datastore",
        view=STAFF,
        add=PLATFORM_EDITS,
        change=PLATFORM_EDITS,
        delete=PLATFORM_EDITS,
        imports=PLATFORM_EDITS,
        exports=STAFF,
        versions=STAFF,
    ),
    "admin:catalog_datastore_er_diagram": page(STAFF),
    "admin:catalog_datastore_lineage": page(STAFF),
    "admin:catalog_datastore_code": page(STAFF),
    "admin:catalog_datastore_ddl": page(STAFF),
    # Drift connects to the store: the GET only offers the button, the POST compares (reads, writes nothing)
    "admin:catalog_datastore_drift": page(STAFF),
    **model_rows(
        "catalog.domain",
        view=STAFF,
        add=STEWARD_EDITS,
        change=STEWARD_EDITS,
        delete=STEWARD_EDITS,
        imports=STEWARD_EDITS,
        exports=STAFF,
        versions=STAFF,
    ),
    "admin:catalog_domain_er_diagram": page(STAFF),
    **model_rows(
        "catalog.entity",
        view=STAFF,
        add=STEWARD_EDITS,
        change={STEWARD, OFFICER, SUPERUSER},  # officers: sensitivity and legal hold only
        delete=STEWARD_EDITS,
        imports=STEWARD_EDITS,
        exports=STAFF,
        versions=STAFF,
    ),
    "admin:catalog_entity_code": page(STAFF),
    "admin:catalog_entity_ddl": page(STAFF),
    **model_rows(
        "catalog.column",
        view=STAFF,
        add=STEWARD_EDITS,
        change={STEWARD, OFFICER, SUPERUSER},  # officers: PII category and masking only
        delete=STEWARD_EDITS,
        imports=STEWARD_EDITS,
        exports=STAFF,
        versions=STAFF,
    ),
    **model_rows(
        "catalog.index",
        view=STAFF,
        add=STEWARD_EDITS,
        change=STEWARD_EDITS,
        delete=STEWARD_EDITS,
        imports=STEWARD_EDITS,
        exports=STAFF,
        versions=STAFF,
    ),
    **model_rows(
        "catalog.regulation",
        view=STAFF,
        add=OFFICER_EDITS,
        change=OFFICER_EDITS,
        delete=OFFICER_EDITS,
        imports=OFFICER_EDITS,
        exports=STAFF,
        versions=STAFF,
    ),
    **model_rows(
        "catalog.retentionpolicy",
        view=STAFF,
        add=OFFICER_EDITS,
        change=OFFICER_EDITS,
        delete=OFFICER_EDITS,
        imports=OFFICER_EDITS,
        exports=STAFF,
        versions=STAFF,
    ),
    "admin:catalog_audittrail_changelist": page(OFFICER_EDITS),
    "admin:catalog_audittrail_export": page(OFFICER_EDITS),
    # One change of the trail with its values whole (the list cuts them at 200 characters)
    "admin:catalog_audittrail_event": page(OFFICER_EDITS),
    # Owners are picked among staff users by who may set the owner (Django's user search stays superusers')
    "admin:catalog_datastore_owner_autocomplete": read_only(PLATFORM_EDITS),
    "admin:catalog_domain_owner_autocomplete": read_only(STEWARD_EDITS),
    "admin:catalog_entity_owner_autocomplete": read_only(STEWARD_EDITS),
    # Releases: stewards publish ("Add" leads to the publish page), platform admins apply, nobody edits one
    **model_rows("catalog.schemarelease", view=STAFF, add=STEWARD_EDITS),
    "admin:catalog_schemarelease_publish": form(STEWARD_EDITS),
    "admin:catalog_schemarelease_download": page(STAFF),
    "admin:catalog_schemarelease_apply": post_only(PLATFORM_EDITS),
    **model_rows("catalog.schemaapply", view=STAFF),
    # Pipelines: platform admins manage and run them; the others read them and their runs
    **model_rows(
        "pipelines.pipeline",
        view=STAFF,
        add=PLATFORM_EDITS,
        change=PLATFORM_EDITS,
        delete=PLATFORM_EDITS,
        imports=NOBODY,  # pipelines as code are YAML files, not CSV rows
        exports=NOBODY,
        versions=STAFF,
    ),
    "admin:pipelines_pipeline_run": post_only(PLATFORM_EDITS),
    # A dry run runs the source's SQL: the page (GET) only offers it; the POST runs it, for those who run.
    "admin:pipelines_pipeline_dry_run": Row(STAFF, frozenset(PLATFORM_EDITS)),
    **model_rows("pipelines.pipelinerun", view=STAFF, change_page=page(STAFF)),
    "admin:pipelines_pipelinerun_progress": page(STAFF),
    "admin:pipelines_pipelinerun_cancel": post_only(PLATFORM_EDITS),
    "admin:pipelines_pipelinerun_retry": post_only(PLATFORM_EDITS),
    "admin:pipelines_pipelinerun_rejected_csv": page(STAFF),
    # Quality: stewards write rules and run checks, platform admins run checks, officers read
    **model_rows(
        "quality.rule",
        view=STAFF,
        add=STEWARD_EDITS,
        change=STEWARD_EDITS,
        delete=STEWARD_EDITS,
        imports=NOBODY,  # imported rows would skip the custom SQL permission
        exports=STAFF,
        versions=STAFF,
    ),
    "admin:quality_entity": page(STAFF),
    "admin:quality_entity_run": post_only({STEWARD, PLATFORM, SUPERUSER}),
    "admin:quality_datastores": page(STAFF),
    "admin:quality_datastore": page(STAFF),
    "admin:quality_datastore_run": post_only({STEWARD, PLATFORM, SUPERUSER}),
    "admin:quality_rule_refresh_implied": post_only(STEWARD_EDITS, post_data={"entity": "{catalog.entity}"}),
    **model_rows("quality.checkrun", view=STAFF, change_page=page(STAFF)),
    **model_rows(
        "quality.qualityschedule",
        view=STAFF,
        add=STEWARD_EDITS,
        change=STEWARD_EDITS,
        delete=STEWARD_EDITS,
        imports=NOBODY,
        exports=NOBODY,
        versions=STAFF,
    ),
    **model_rows(
        "quality.qualityalerting",
        view=STAFF,
        add=STEWARD_EDITS,
        change=STEWARD_EDITS,
        delete={SUPERUSER},  # stewards set alerting up and change it; nobody's role removes it
        imports=NOBODY,
        exports=NOBODY,
        versions=STAFF,
    ),
    **model_rows("quality.incident", view=STAFF),
    # Compliance: officers enforce retention and answer subject requests
    **model_rows("compliance.retentionexecution", view=STAFF, change_page=page(STAFF)),
    "admin:compliance_retentionexecution_enforce": form(OFFICER_EDITS),
    # The compliance report is not a model: its list is the PII overview, and it has no object pages.
    "admin:compliance_compliancereport_changelist": page(COMPLIANCE_READERS),
    "admin:compliance_compliancereport_report": page(COMPLIANCE_READERS),
    "admin:compliance_compliancereport_csv": page(COMPLIANCE_READERS),
    # Subject requests name people: compliance officers only
    **model_rows(
        "compliance.subjectrequest", view=OFFICER_EDITS, add=OFFICER_EDITS, change_page=page(OFFICER_EDITS)
    ),
    "admin:compliance_subjectrequest_report": page(OFFICER_EDITS),
    # An access export reads the subject's rows again from the store: a POST (GET answers 405)
    "admin:compliance_subjectrequest_export": Row(
        NOBODY, frozenset(OFFICER_EDITS), get_405=True, read_only_post=True
    ),
    "admin:compliance_subjectrequest_erase": post_only(OFFICER_EDITS),
}

# django-rq, under /django-rq/ only (its mount inside the admin is switched off): superusers only. The
# rq-scheduler page (scheduler_jobs) is not served: Custodian runs RQ's own scheduler.
RQ_VIEWS = [
    "home_json()",
    "home_json(token)",
    "home",
    "jobs",
    "queue_details",
    "finished_jobs",
    "failed_jobs",
    "delete_failed_jobs",
    "scheduled_jobs",
    "started_jobs",
    "deferred_jobs",
    "clear",
    "requeue_all",
    "job_detail",
    "result_detail",
    "delete_job",
    "requeue_job",
    "enqueue_job",
    "stop_job",
    "confirm_action",
    "actions",
    "workers",
    "worker_details",
    "cron_scheduler_detail",
    "cron_job_detail",
]
URLS.update({f"django_rq:{view}": superuser_only() for view in RQ_VIEWS})

# Admin actions: a POST to the list with `action` and one selected object.
ACTIONS: dict[str, frozenset] = {
    "auth.group:delete_selected": frozenset({SUPERUSER}),
    "auth.user:delete_selected": frozenset({SUPERUSER}),
    "auth.user:lift_signin_lockout": frozenset({SUPERUSER}),
    "catalog.column:delete_selected": frozenset(STEWARD_EDITS),
    "catalog.datastore:apply_newest_release": frozenset(PLATFORM_EDITS),
    "catalog.datastore:delete_selected": frozenset(PLATFORM_EDITS),
    "catalog.domain:delete_selected": frozenset(STEWARD_EDITS),
    "catalog.entity:delete_selected": frozenset(STEWARD_EDITS),
    "catalog.entity:place_on_legal_hold": frozenset(OFFICER_EDITS),
    "catalog.entity:release_legal_hold": frozenset(OFFICER_EDITS),
    "catalog.index:delete_selected": frozenset(STEWARD_EDITS),
    "catalog.regulation:delete_selected": frozenset(OFFICER_EDITS),
    "catalog.retentionpolicy:delete_selected": frozenset(OFFICER_EDITS),
    "pipelines.pipeline:delete_selected": frozenset(PLATFORM_EDITS),
    "quality.qualityalerting:delete_selected": frozenset({SUPERUSER}),
    "quality.qualityschedule:delete_selected": frozenset(STEWARD_EDITS),
    "quality.rule:delete_selected": frozenset(STEWARD_EDITS),
    "quality.rule:refresh_implied_rules": frozenset(STEWARD_EDITS),
}

# Autocomplete sources (GET /admin/autocomplete/?app_label=..&model_name=..&field_name=..): whoever may see
# the objects offered. Users are the user admin's: Django's own autocomplete of an owner lists any user, so
# it is the superuser's; owners are picked through each admin's own owner picker (issue 16 #3), whose URL
# has its row in URLS.
AUTOCOMPLETE: dict[str, frozenset] = {
    "catalog.column.entity": STAFF,
    "catalog.column.references": STAFF,
    "catalog.datastore.owner": frozenset({SUPERUSER}),
    "catalog.domain.owner": frozenset({SUPERUSER}),
    "catalog.entity.datastore": STAFF,
    "catalog.entity.domain": STAFF,
    "catalog.entity.owner": frozenset({SUPERUSER}),
    "catalog.index.entity": STAFF,
    "catalog.retentionpolicy.anchor_column": STAFF,
    "catalog.retentionpolicy.entity": STAFF,
    "pipelines.pipeline.run_after": STAFF,
    "pipelines.pipeline.source_datastore": STAFF,
    "pipelines.pipeline.target": STAFF,
    "quality.qualityalerting.datastore": STAFF,
    "quality.qualityschedule.datastore": STAFF,
    "quality.qualityschedule.entity": STAFF,
    "quality.rule.entity": STAFF,
}

# Query strings the matrix adds, so a page is opened the way users open it.
QUERIES = {
    # The rules list filtered by entity, as the entity's quality page links to it.
    "admin:quality_rule_changelist": "?entity__id__exact={catalog.entity}",
}

SERVED = matrix.served_urls()
SERVED_ACTIONS = matrix.admin_actions()
SERVED_AUTOCOMPLETE = matrix.autocomplete_sources()


# The world: users in each role and one object of each kind, built once for the module ---------------------


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    import os

    if not os.environ.get("REDIS_URL"):
        pytest.fail(
            "The permission matrix posts to django-rq's views as a superuser: "
            "set REDIS_URL to the test Redis database."
        )
    listener = matrix.StoreListener()
    previous = os.environ.get(matrix.STORE_URL_ENV)
    os.environ[matrix.STORE_URL_ENV] = listener.url
    with django_db_blocker.unblock():
        with transaction.atomic():
            users = {
                STEWARD: make_user("matrix_steward", DATA_STEWARD),
                OFFICER: make_user("matrix_officer", COMPLIANCE_OFFICER),
                PLATFORM: make_user("matrix_platform", PLATFORM_ADMIN),
                SUPERUSER: make_user("matrix_root", is_superuser=True),
            }
            built = matrix.world_build(users)
            built.listener = listener
            built.sessions = {role: _session_key(user) for role, user in users.items()}
            built.clients = {role: Client(raise_request_exception=False) for role in matrix.ROLES}
            yield built
            transaction.set_rollback(True)
    matrix.rq_objects_remove()
    listener.close()
    if previous is None:
        os.environ.pop(matrix.STORE_URL_ENV, None)
    else:
        os.environ[matrix.STORE_URL_ENV] = previous


def _session_key(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def _client(world, role: str) -> Client:
    # One client per role, its cookies reset before each request: a logout or a message cookie of one cell
    # does not reach the next, and the middleware chain is built once.
    client = world.clients[role]
    client.cookies = SimpleCookie()
    if role != ANON:
        client.cookies[settings.SESSION_COOKIE_NAME] = world.sessions[role]
    return client


def _filled(text: str, world) -> str:
    for label, obj in world.objects.items():
        text = text.replace("{" + label + "}", str(obj.pk))
    return text


# Reading a cell ------------------------------------------------------------------------------------------


def expected_outcomes(row: Row, role: str, method: str) -> set[str]:
    allowed = row.get if method == "GET" else row.post
    refuses_method = row.get_405 if method == "GET" else row.post_405
    if role in allowed:
        outcomes = {OK}
        if row.missing_ok:
            outcomes.add(HIDDEN)
    elif role == ANON:
        outcomes = {LOGIN, DENIED, HIDDEN}
    else:
        outcomes = {DENIED, HIDDEN}
    if refuses_method:
        outcomes.add(METHOD)
    return outcomes


def must_stay_read_only(row: Row, role: str, method: str, outcome: str) -> bool:
    return method == "GET" or outcome != OK or row.read_only_post


def request_cell(world, role: str, method: str, url: str, data: dict | None = None, *, rq: bool = False):
    """One request in a savepoint rolled back after it, so no cell sees another's changes. Returns the
    response, the writes it made and how many connections it opened to the data store."""
    if rq:
        matrix.rq_objects_ensure()
    client = _client(world, role)
    before = world.listener.connections
    savepoint = transaction.savepoint()
    try:
        with CaptureQueriesContext(connection) as queries:
            if method == "GET":
                response = client.get(url)
            else:
                response = client.post(url, data or {})
    finally:
        transaction.savepoint_rollback(savepoint)
    return response, matrix.writes_in(queries.captured_queries), world.listener.connections - before


def _error_text(response) -> str:
    if response.status_code >= 500 and getattr(response, "exc_info", None):
        exc = response.exc_info[1]
        return f": {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return ""


# The tests -----------------------------------------------------------------------------------------------


def test_every_served_url_has_a_row():
    served = {target.key for target in SERVED}
    missing = sorted(served - URLS.keys())
    stale = sorted(URLS.keys() - served)
    assert not missing, (
        f"URLs without a row in the permission matrix: {missing}. Add a row per URL to URLS in {THIS_FILE} "
        "saying which roles may GET and POST it."
    )
    assert not stale, f"Rows in URLS of {THIS_FILE} for URLs the project no longer serves: {stale}."


def test_every_admin_action_has_a_row():
    served = {key for key, _ in SERVED_ACTIONS}
    missing = sorted(served - ACTIONS.keys())
    stale = sorted(ACTIONS.keys() - served)
    assert not missing, f"Admin actions without a row: {missing}. Add them to ACTIONS in {THIS_FILE}."
    assert not stale, f"Rows in ACTIONS of {THIS_FILE} for actions that no longer exist: {stale}."


def test_every_autocomplete_field_has_a_row():
    served = {key for key, _ in SERVED_AUTOCOMPLETE}
    missing = sorted(served - AUTOCOMPLETE.keys())
    stale = sorted(AUTOCOMPLETE.keys() - served)
    assert not missing, (
        f"Autocomplete fields without a row: {missing}. Add them to AUTOCOMPLETE in {THIS_FILE}."
    )
    assert not stale, f"Rows in AUTOCOMPLETE of {THIS_FILE} for fields that no longer autocomplete: {stale}."


@pytest.mark.parametrize("target", SERVED, ids=[target.key or "/" for target in SERVED])
def test_each_role_gets_what_the_matrix_says(world, db, target):
    row = URLS.get(target.key)
    assert row is not None, f"{target.key} has no row: add one to URLS in {THIS_FILE}."
    target.query = _filled(row.query or QUERIES.get(target.key, ""), world)
    url = matrix.url_for(target, world)
    rq = "job_id" in target.params or "key" in target.params
    post_data = {name: _filled(value, world) for name, value in row.post_data.items()}
    wrong = []
    for method in ("GET", "POST"):
        for role in matrix.ROLES:
            response, writes, store_connections = request_cell(world, role, method, url, post_data, rq=rq)
            outcome = matrix.outcome_of(response)
            expected = expected_outcomes(row, role, method)
            cell = f"{method} {url} as {role}"
            if outcome not in expected:
                wrong.append(
                    f"{cell}: expected {'/'.join(sorted(expected))}, got {response.status_code} ({outcome})"
                    + _error_text(response)
                )
            if writes and must_stay_read_only(row, role, method, outcome):
                wrong.append(f"{cell}: wrote to Custodian's database: {writes[0]}")
            if store_connections and not (outcome == OK and (method == "POST" or row.store_on_get)):
                wrong.append(f"{cell}: connected to the data store ({store_connections} connection(s))")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("key, model_admin", SERVED_ACTIONS, ids=[key for key, _ in SERVED_ACTIONS])
def test_each_role_runs_only_the_actions_the_matrix_gives_it(world, db, key, model_admin):
    allowed = ACTIONS.get(key)
    assert allowed is not None, f"Action {key} has no row: add one to ACTIONS in {THIS_FILE}."
    label, action = key.split(":")
    opts = model_admin.model._meta
    url = f"/admin/{opts.app_label}/{opts.model_name}/"
    obj = world.objects[label]
    data = {"action": action, "_selected_action": [str(obj.pk)], "index": "0"}
    wrong = []
    for role in matrix.ROLES:
        response, writes, store_connections = request_cell(world, role, "POST", url, data)
        outcome = matrix.action_outcome_of(response)
        expected = {OK} if role in allowed else ({LOGIN} if role == ANON else {DENIED, HIDDEN})
        if outcome not in expected:
            wrong.append(
                f"action {key} as {role}: expected {'/'.join(sorted(expected))}, got {response.status_code} "
                f"({outcome})" + _error_text(response)
            )
        if outcome != OK and (writes or store_connections):
            wrong.append(f"action {key} as {role}: refused, yet wrote {writes[:1]} / connected to the store")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("key, query", SERVED_AUTOCOMPLETE, ids=[key for key, _ in SERVED_AUTOCOMPLETE])
def test_each_role_gets_only_the_autocomplete_the_matrix_gives_it(world, db, key, query):
    allowed = AUTOCOMPLETE.get(key)
    assert allowed is not None, f"Autocomplete {key} has no row: add one to AUTOCOMPLETE in {THIS_FILE}."
    from urllib.parse import urlencode

    url = "/admin/autocomplete/?" + urlencode(query)
    wrong = []
    for role in matrix.ROLES:
        response, writes, _ = request_cell(world, role, "GET", url)
        outcome = matrix.outcome_of(response)
        expected = {OK} if role in allowed else ({LOGIN} if role == ANON else {DENIED, HIDDEN})
        if outcome not in expected:
            wrong.append(
                f"autocomplete {key} as {role}: expected {'/'.join(sorted(expected))}, got "
                f"{response.status_code} ({outcome})" + _error_text(response)
            )
        if writes:
            wrong.append(f"autocomplete {key} as {role}: wrote to Custodian's database: {writes[0]}")
    assert not wrong, "\n".join(wrong)


# The reading of a cell can itself go wrong: these keep it strict ------------------------------------------

CELLS = [(key, role, method) for key in URLS for role in matrix.ROLES for method in ("GET", "POST")]


def test_no_cell_accepts_a_server_error_and_no_outsider_gets_through():
    loose = []
    for key, role, method in CELLS:
        row = URLS[key]
        expected = expected_outcomes(row, role, method)
        allowed = row.get if method == "GET" else row.post
        if matrix.ERROR in expected or (OK in expected and role not in allowed):
            loose.append(f"{method} {key} as {role}: {sorted(expected)}")
    assert not loose, "\n".join(loose)


@pytest.mark.parametrize(
    "response, outcome",
    [
        (HttpResponseRedirect("/admin/login/?next=/admin/catalog/entity/"), LOGIN),
        (HttpResponseRedirect("/admin/catalog/entity/1/change/"), OK),
        (HttpResponse(status=200), OK),
        (HttpResponse(status=400), OK),
        (HttpResponse(status=401), DENIED),
        (HttpResponseForbidden(), DENIED),
        (HttpResponseNotFound(), HIDDEN),
        (HttpResponseNotAllowed(["POST"]), METHOD),
        (HttpResponseServerError(), matrix.ERROR),
    ],
)
def test_an_answer_is_read_as_the_user_meets_it(response, outcome):
    assert matrix.outcome_of(response) == outcome

"""The machinery of the permission matrix test: every URL the project serves, every admin action, a small
world of objects to fill their parameters, and how an answer is read (got past authorization or not).

The expectations themselves live in test_permission_matrix.py; nothing here says who may do what.
"""

import re
import socket
import threading
from dataclasses import dataclass, field
from types import SimpleNamespace

from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages import get_messages
from django.test import RequestFactory
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse

__all__ = [
    "ROLES",
    "OK",
    "LOGIN",
    "DENIED",
    "HIDDEN",
    "METHOD",
    "ERROR",
    "Target",
    "StoreListener",
    "STORE_URL_ENV",
    "served_urls",
    "admin_actions",
    "autocomplete_sources",
    "world_build",
    "url_for",
    "rq_objects_ensure",
    "rq_objects_remove",
    "outcome_of",
    "action_outcome_of",
    "writes_in",
]

ROLES = ("anon", "steward", "officer", "platform", "superuser")

# The ways a request can end, as the matrix reads them.
OK = "ok"  # got past authorization: a page, a download, a redirect elsewhere, a form with errors (400)
LOGIN = "login"  # sent to the login page (anonymous)
DENIED = "denied"  # 403 (401 from django-rq's token-or-session JSON)
HIDDEN = "hidden"  # 404: the admin hides what the user may not see, or the object is not there
METHOD = "method"  # 405: the URL does not take this method (checked before or after authorization)
ERROR = "error"  # 500 or anything else: never expected


@dataclass
class Target:
    """One URL pattern as served: its key in the expectation table, the model admin it belongs to (if any),
    and the names of the parameters its path needs."""

    key: str
    route: str
    name: str | None
    params: list[str]
    positional: bool
    model_admin: object | None = None
    query: str = ""
    overrides: dict = field(default_factory=dict)


def _route_text(pattern) -> str:
    return str(pattern.pattern)


def _params_of(pattern) -> tuple[list[str], bool]:
    regex = pattern.pattern.regex
    named = sorted(regex.groupindex, key=regex.groupindex.get)
    if named:
        return named, False
    return [f"arg{i}" for i in range(regex.groups)], True


def _model_admin_prefixes() -> dict[str, object]:
    return {
        f"admin/{model._meta.app_label}/{model._meta.model_name}/": model_admin
        for model, model_admin in admin.site._registry.items()
    }


def _walk(resolver, prefix: str = "", namespace: str | None = None):
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from _walk(pattern, prefix + _route_text(pattern), inner)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            yield prefix + _route_text(pattern), name, pattern


def served_urls() -> list[Target]:
    """Every URL pattern the project serves, found by walking the root resolver (the admin's model URLs,
    custom admin views, django-rq, the dashboard). A name used by several patterns gets one key per
    pattern: `name(param,...)`. The admin's app index is one target per app: `admin:app_list[label]`."""
    prefixes = _model_admin_prefixes()
    walked = list(_walk(get_resolver()))
    name_counts: dict[str, int] = {}
    for _, name, _ in walked:
        if name:
            name_counts[name] = name_counts.get(name, 0) + 1
    targets = []
    for route, name, pattern in walked:
        params, positional = _params_of(pattern)
        key = name or route
        if name and name_counts[name] > 1:
            key = f"{name}({','.join(params)})"
        model_admin = next((ma for p, ma in prefixes.items() if route.startswith(p)), None)
        if name == "admin:app_list":
            targets += [
                Target(f"{key}[{label}]", route, name, params, positional, overrides={"app_label": label})
                for label in sorted({model._meta.app_label for model in admin.site._registry})
            ]
            continue
        targets.append(Target(key, route, name, params, positional, model_admin))
    return targets


def admin_actions() -> list[tuple[str, object]]:
    """Every action of every ModelAdmin, as `app_label.model_name:action`, with its model admin. Read as a
    superuser sees them, so no action hides behind a permission the reader lacks."""
    request = RequestFactory().get("/admin/")
    request.user = SimpleNamespace(
        is_active=True, is_staff=True, is_superuser=True, has_perm=lambda *a, **k: True, pk=None
    )
    found = []
    for model, model_admin in admin.site._registry.items():
        for action in model_admin.get_actions(request):
            found.append((f"{model._meta.label_lower}:{action}", model_admin))
    return sorted(found, key=lambda pair: pair[0])


def autocomplete_sources() -> list[tuple[str, dict]]:
    """Every autocomplete field of every ModelAdmin (and of its inlines), as `app.model.field`, with the
    query string Django's autocomplete view needs."""
    request = RequestFactory().get("/admin/")
    request.user = SimpleNamespace(is_superuser=True, has_perm=lambda *a, **k: True)
    found = {}
    for model, model_admin in admin.site._registry.items():
        holders = [(model, model_admin)] + [
            (inline.model, inline) for inline in model_admin.get_inline_instances(request)
        ]
        for source_model, holder in holders:
            for field_name in holder.get_autocomplete_fields(request):
                key = f"{source_model._meta.label_lower}.{field_name}"
                found[key] = {
                    "app_label": source_model._meta.app_label,
                    "model_name": source_model._meta.model_name,
                    "field_name": field_name,
                    "term": "",
                }
    return sorted(found.items())


class StoreListener:
    """A TCP port the matrix's data stores point at: it accepts each connection, counts it and closes it at
    once, so a view that reaches for a data store fails fast (no network, no real store) and the test knows
    that it tried."""

    def __init__(self):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.connections = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while True:
            try:
                peer, _ = self.socket.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            peer.close()

    @property
    def url(self) -> str:
        return f"postgresql://matrix@127.0.0.1:{self.port}/matrix_store?sslmode=disable"

    def close(self):
        self.socket.close()


STORE_URL_ENV = "CUSTODIAN_MATRIX_STORE_URL"


def _catalog_world(steward, officer, platform) -> dict:
    from catalog.choices import DataType, PIICategory
    from catalog.models import DataStore, Domain, Entity, Index, Regulation, RetentionPolicy, SchemaApply
    from catalog.schema.releases import release_publish
    from catalog.services import catalog_object_save as save
    from catalog.services import index_columns_set
    from tests.conftest import add_column

    store = save(
        obj=DataStore(name="shop", engine="postgresql", schema_name="public", url_env=STORE_URL_ENV),
        user=platform,
    )
    domain = save(obj=Domain(name="Sales", owner=steward), user=steward)
    entity = save(obj=Entity(datastore=store, domain=domain, name="customer", owner=steward), user=steward)
    add_column(entity, "id", DataType.BIGINT, steward, primary_key_position=1, nullable=False)
    email = add_column(
        entity,
        "email",
        DataType.VARCHAR,
        steward,
        length=200,
        is_unique=True,
        pii_category=PIICategory.DIRECT_IDENTIFIER,
        masking_strategy="hash",
    )
    created = add_column(entity, "created_at", DataType.TIMESTAMPTZ, steward, nullable=False)
    index = save(obj=Index(entity=entity, name="customer_created_idx"), user=steward)
    index_columns_set(index=index, key_columns=[("created_at", "asc")], included_columns=[], user=steward)
    # The data migration wrote the regulations without history: one save gives the history pages a row.
    regulation = save(obj=Regulation.objects.get(code="GDPR"), user=officer)
    policy = RetentionPolicy(
        entity=entity, name="closed accounts", anchor_column=created, keep_for=5, regulation=regulation
    )
    release = release_publish(datastore=store, user=steward, message="First cut")
    return {
        "catalog.datastore": store,
        "catalog.domain": domain,
        "catalog.entity": entity,
        "catalog.column": email,
        "catalog.index": index,
        "catalog.regulation": regulation,
        "catalog.retentionpolicy": save(obj=policy, user=officer),
        "catalog.schemarelease": release,
        "catalog.schemaapply": SchemaApply.objects.create(
            datastore=store, release=release, requested_by=platform
        ),
    }


def _pipelines_world(objects: dict, platform) -> dict:
    from catalog.services import catalog_object_save as save
    from pipelines.models import FieldMapping, Pipeline, PipelineRun, RejectedRow

    pipeline = Pipeline(
        name="customers_from_sql",
        target=objects["catalog.entity"],
        source_kind="sql_query",
        source_datastore=objects["catalog.datastore"],
        source_query="SELECT 1 AS id, 'ada@example.com' AS email",
    )
    pipeline = save(obj=pipeline, user=platform)
    key = objects["catalog.entity"].columns.get(name="id")
    save(obj=FieldMapping(pipeline=pipeline, column=key, source_field="id"), user=platform)
    run = PipelineRun.objects.create(
        pipeline=pipeline, pipeline_version=pipeline.version, status="failed", requested_by=platform
    )
    RejectedRow.objects.create(run=run, row_number=1, raw={"id": "x"}, errors={"id": "not a number"})
    return {"pipelines.pipeline": pipeline, "pipelines.pipelinerun": run}


def _quality_world(objects: dict, steward) -> dict:
    from catalog.services import catalog_object_save as save
    from quality.models import CheckRun, Incident, QualityAlerting, QualitySchedule, Rule

    store, entity = objects["catalog.datastore"], objects["catalog.entity"]
    rule = save(
        obj=Rule(entity=entity, name="email_not_null", kind="not_null", columns=["email"]), user=steward
    )
    return {
        "quality.rule": rule,
        "quality.checkrun": CheckRun.objects.create(datastore=store, entity=entity, requested_by=steward),
        "quality.qualityschedule": save(obj=QualitySchedule(datastore=store, cron="0 * * * *"), user=steward),
        "quality.qualityalerting": save(obj=QualityAlerting(datastore=store), user=steward),
        "quality.incident": Incident.objects.create(
            datastore=store, entity=entity, kind="rule", rule=rule, summary="failing"
        ),
    }


def _compliance_world(objects: dict, officer) -> dict:
    from compliance.choices import RequestKind, RequestStatus
    from compliance.models import RetentionExecution, SubjectRequest

    policy, entity = objects["catalog.retentionpolicy"], objects["catalog.entity"]
    execution = RetentionExecution.objects.create(
        policy=policy,
        policy_version=policy.version,
        policy_name=policy.name,
        datastore_name=entity.datastore.name,
        entity_name=entity.name,
        action=policy.action,
        dry_run=True,
    )
    # A completed access request: its export reads the store again on download.
    subject_request = SubjectRequest.objects.create(
        datastore=entity.datastore,
        identifier="ada@example.com",
        kind=RequestKind.ACCESS,
        status=RequestStatus.COMPLETED,
        entity=entity,
        column=objects["catalog.column"],
        requested_by=officer,
    )
    return {"compliance.retentionexecution": execution, "compliance.subjectrequest": subject_request}


def world_build(users: dict) -> SimpleNamespace:
    """One object of each kind the admin pages open, built once for the module, keyed by model label: a
    data store (pointing at the listener), a domain, an entity with columns, an index and a retention policy,
    a published release and an apply, a pipeline with a mapping, a run with a rejected row, a rule, a check
    run, a schedule, alerting, an incident, a retention execution and an access request."""
    steward, officer, platform = users["steward"], users["officer"], users["platform"]
    objects = _catalog_world(steward, officer, platform)
    objects |= _pipelines_world(objects, platform)
    objects |= _quality_world(objects, steward)
    objects |= _compliance_world(objects, officer)
    objects |= {
        "auth.group": Group.objects.get(name="Data steward"),
        "auth.user": steward,
        # Admin pages of models without a table (the compliance report, django-rq's dashboard).
        "compliance.compliancereport": SimpleNamespace(pk=1),
        "django_rq.dashboard": SimpleNamespace(pk=1),
    }
    return SimpleNamespace(users=users, objects=objects)


RQ_JOB_ID = "permission-matrix-job"
RQ_WORKER_NAME = "permission-matrix-worker"
RQ_WORKER_KEY = f"rq:worker:{RQ_WORKER_NAME}"


def _object_for(target: Target, world) -> object:
    if target.model_admin is None:
        raise LookupError(f"{target.key}: no model admin, so no object to fill <object_id> with.")
    label = target.model_admin.model._meta.label_lower
    if label not in world.objects:
        raise LookupError(
            f"{target.key}: the matrix world has no {label} object; add one to world_build() in "
            "tests/security/permission_matrix.py."
        )
    return world.objects[label]


def _param_value(target: Target, param: str, world) -> str:
    objects = world.objects
    values = {
        "entity_id": objects["catalog.entity"].pk,
        "datastore_id": objects["catalog.datastore"].pk,
        "direction": "up",
        "queue_index": 0,
        "scheduler_index": 0,
        "connection_index": 0,
        "scheduler_name": "matrix",
        "cron_job_name": "matrix",
        "job_id": RQ_JOB_ID,
        "result_id": "matrix-result",
        "key": RQ_WORKER_KEY,
        "token": "matrix-token",
        "app_label": "catalog",
        "url": "no-such-page/",
        "content_type_id": ContentType.objects.get_for_model(objects["catalog.entity"]).pk,
        "id": world.users["steward"].pk,
        # One change on the audit trail: the entity's newest history row.
        "model_label": "catalog.entity",
        "history_id": objects["catalog.entity"].history.order_by("-history_id")[0].history_id,
    }
    if param in target.overrides:
        return str(target.overrides[param])
    if param == "object_id" and target.model_admin is not None:
        return str(_object_for(target, world).pk)
    if param == "object_id":  # view_on_site: an entity
        return str(objects["catalog.entity"].pk)
    if target.positional:  # simple_history's <object_id>/history/<history_id>/
        obj = _object_for(target, world)
        if param == "arg0":
            return str(obj.pk)
        return str(obj.history.order_by("-history_id").values_list("history_id", flat=True)[0])
    if param not in values:
        raise LookupError(
            f"{target.key}: no value for URL parameter <{param}>; add one to _param_value() in "
            "tests/security/permission_matrix.py."
        )
    return str(values[param])


def url_for(target: Target, world) -> str:
    """The path of one target with its parameters filled from the world."""
    args = [_param_value(target, param, world) for param in target.params]
    try:
        if not target.name:
            raise NoReverseMatch
        if target.positional:
            path = reverse(target.name, args=args)
        else:
            path = reverse(target.name, kwargs=dict(zip(target.params, args, strict=True)))
    except NoReverseMatch:
        # Unnamed patterns, and regexes reverse() cannot build (an optional group): fill the route itself.
        path = "/" + target.route
        for param, value in zip(target.params, args, strict=True):
            path = re.sub(rf"\(\?P<{param}>[^)]*\)|<(?:\w+:)?{param}>", value, path)
        path = re.sub(r"[\^$?]", "", path).replace("\\", "")
    return path + target.query


def rq_objects_ensure() -> None:
    """A job and a worker the django-rq pages can show, in the test's Redis database: the job failed (so it
    may be requeued), not enqueued (no worker may pick it up), the worker registered, not running. Made
    again before each request, since a superuser's POST may delete or requeue them."""
    import django_rq
    from rq.job import Job, JobStatus
    from rq.registry import FailedJobRegistry
    from rq.worker import Worker

    queue = django_rq.get_queue("etl")
    connection = queue.connection
    queue.remove(RQ_JOB_ID)
    job = Job.create("builtins.len", args=([],), id=RQ_JOB_ID, connection=connection, origin=queue.name)
    job.set_status(JobStatus.FAILED, pipeline=None)
    job.save()
    FailedJobRegistry(queue=queue).add(job, ttl=3600, exc_string="permission matrix")
    if not connection.exists(RQ_WORKER_KEY):
        Worker([queue], name=RQ_WORKER_NAME, connection=connection).register_birth()


def rq_objects_remove() -> None:
    """Leave the test Redis database as the matrix found it: no job, no registered worker of its own."""
    import django_rq
    from rq.registry import FailedJobRegistry

    queue = django_rq.get_queue("etl")
    FailedJobRegistry(queue=queue).remove(RQ_JOB_ID)
    queue.remove(RQ_JOB_ID)
    connection = queue.connection
    connection.delete(f"rq:job:{RQ_JOB_ID}", RQ_WORKER_KEY)
    connection.srem("rq:workers", RQ_WORKER_KEY)
    connection.srem(f"rq:workers:{queue.name}", RQ_WORKER_KEY)


def _login_url() -> str:
    return reverse("admin:login")


def outcome_of(response) -> str:
    """How the matrix reads a response: got past authorization (ok), sent to login, denied, wrong method,
    or an error."""
    status = response.status_code
    if status in (301, 302, 303, 307, 308):
        location = response.headers.get("Location", "")
        return LOGIN if location.split("?")[0].endswith(_login_url()) else OK
    if status in (200, 201, 204, 400):
        return OK
    if status in (401, 403):
        return DENIED
    if status == 404:
        return HIDDEN
    if status == 405:
        return METHOD
    return ERROR


def action_outcome_of(response) -> str:
    """An admin action answers like its changelist: it was refused when the user was sent to login, got
    403/404, was told "No action selected." (the action is not offered to them) or got the changelist back
    without the action running."""
    outcome = outcome_of(response)
    if outcome != OK:
        return outcome
    told = [str(message) for message in get_messages(response.wsgi_request)]
    if any("No action selected" in text for text in told):
        return DENIED
    if response.status_code == 200 and response.context is not None and "cl" in response.context:
        return DENIED
    return OK


WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)
# Django's own bookkeeping of a signed-in browser is not a write of the request's doing.
BOOKKEEPING = re.compile(r'"django_session"', re.IGNORECASE)


def writes_in(queries) -> list[str]:
    """The INSERT/UPDATE/DELETE statements among captured queries, session bookkeeping left out."""
    return [q["sql"][:160] for q in queries if WRITE.match(q["sql"]) and not BOOKKEEPING.search(q["sql"])]

"""Admin for schema as code: DDL previews, releases (publish, read, download), applies and drift reports.

The pages are thin: each calls a service or selector of `catalog.schema` and shows its `SchemaError` in place.
"""

from functools import cache

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import SqlLexer

from catalog.choices import DatabaseEngine, LintSeverity
from catalog.models import DataStore, SchemaApply, SchemaRelease
from catalog.schema.apply import schema_apply_enqueue
from catalog.schema.ddl import ddl_render, schema_ddl
from catalog.schema.dialects import profile_for
from catalog.schema.releases import release_preview, release_publish
from catalog.schema.snapshot import snapshot_build
from core.admin import RunRecordAdmin, run_label
from core.choices import RunStatus
from core.errors import CustodianError, SchemaError

__all__ = [
    "sql_highlight",
    "highlight_css",
    "SchemaDDLMixin",
    "DataStoreSchemaMixin",
    "SchemaReleaseAdmin",
    "SchemaApplyAdmin",
]

# The release's large fields: a list page shows none of them, so it never loads them.
RELEASE_SCRIPT_FIELDS = [
    "snapshot",
    "up_sql",
    "down_sql",
    "up_statements",
    "down_statements",
    "lint_findings",
]
SEVERITY_ORDER = {LintSeverity.ERROR: 0, LintSeverity.WARNING: 1, LintSeverity.INFO: 2}
DOWNLOAD_PREFIX = {"up": "V", "down": "U"}  # Flyway: V3__x.sql migrates to 3, U3__x.sql undoes it


def _formatter() -> HtmlFormatter:
    return HtmlFormatter(cssclass="ddl")


def sql_highlight(sql: str) -> SafeString:
    """SQL as highlighted HTML; Pygments escapes the text, so the result is safe to render."""
    return mark_safe(highlight(sql, SqlLexer(), _formatter()))


@cache
def highlight_css() -> SafeString:
    """The style rules of `sql_highlight`'s output (Pygments' own, scoped to `.ddl`)."""
    return mark_safe(_formatter().get_style_defs(".ddl"))


def _page(admin_site, request, title: str, **context) -> dict:
    return {**admin_site.each_context(request), "title": title, "highlight_css": highlight_css(), **context}


def _object_or_404(model_admin, request, object_id: str):
    obj = model_admin.get_object(request, unquote(object_id))
    if obj is None:
        raise Http404(f"No {model_admin.opts.verbose_name} with id {object_id!r}.")
    return obj


def _sql_download(script: str, filename: str) -> HttpResponse:
    response = HttpResponse(script, content_type="application/sql; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# DDL preview (data store and entity pages)


class SchemaDDLMixin:
    """Adds `<id>/ddl/` to a catalog admin: the object's DDL in a chosen dialect, highlighted or as a file.

    The admin says what the DDL covers with `ddl_scope(obj)`: the data store and the ids of the entities to
    render (None for all of them). Whoever may view the object may read its DDL.
    """

    def ddl_scope(self, obj) -> tuple[DataStore, set[str] | None]:
        raise NotImplementedError

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_ddl"
        ddl = path("<path:object_id>/ddl/", self.admin_site.admin_view(self.ddl_view), name=name)
        # Before the model's own URLs: their "<path:object_id>/" catch-all would take "<id>/ddl/".
        return [ddl, *super().get_urls()]

    def ddl_view(self, request, object_id):
        obj = _object_or_404(self, request, object_id)
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        store, entity_ids = self.ddl_scope(obj)
        dialect = request.GET.get("dialect") or store.engine
        script, error = "", ""
        try:
            script = ddl_render(schema_ddl(snapshot_build(store), profile_for(dialect), entity_ids))
        except SchemaError as exc:
            error = exc.message
        if script and request.GET.get("download"):
            stem = store.name if entity_ids is None else f"{store.name}_{obj.name}"
            return _sql_download(script, f"{stem}_{dialect}.sql")
        context = _page(
            self.admin_site,
            request,
            f"DDL of {self.opts.verbose_name} {obj.name}",
            opts=self.opts,
            original=obj,
            dialects=DatabaseEngine.choices,
            dialect=dialect,
            script=script,
            script_html=sql_highlight(script) if script else "",
            error=error,
        )
        return TemplateResponse(request, "admin/catalog/schema_ddl.html", context)


# Data store: drift report and applying the newest release


def _apply_outcome(run: SchemaApply) -> tuple[int, str]:
    """The message level and text telling how an apply stands, linked to its page."""
    link = reverse("admin:catalog_schemaapply_change", args=[run.pk])
    target = f"'{run.datastore.name}' to version {run.release.version}"
    if run.status == RunStatus.SUCCEEDED:
        text = format_html(
            '<a href="{}">Apply #{}</a> brought {}: {} statement(s) ran.',
            link,
            run.pk,
            target,
            run.statements_run,
        )
        return messages.SUCCESS, text
    if run.status == RunStatus.FAILED:
        # An unexpected failure keeps its traceback after a blank line; the run's page shows it.
        reason = run.error.split("\n\n")[0]
        return messages.ERROR, format_html(
            '<a href="{}">Apply #{}</a> of {} failed: {}', link, run.pk, target, reason
        )
    return messages.INFO, format_html(
        '<a href="{}">Apply #{}</a> of {} is {}; its page shows how it ends.',
        link,
        run.pk,
        target,
        run.get_status_display().lower(),
    )


def _apply_and_report(
    model_admin, request, *, datastore: DataStore, version: int | None
) -> SchemaApply | None:
    try:
        run = schema_apply_enqueue(datastore=datastore, user=request.user, version=version)
    except SchemaError as exc:
        model_admin.message_user(request, exc.message, messages.ERROR)
        return None
    # Without Redis the job ran when the apply was recorded; with it, the run is still queued.
    run.refresh_from_db(fields=["status", "error", "statements_run"])
    level, text = _apply_outcome(run)
    model_admin.message_user(request, text, level)
    return run


class DataStoreSchemaMixin:
    """The data store admin's schema tools: `<id>/drift/` and the "apply newest release" action."""

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_drift"
        drift = path("<path:object_id>/drift/", self.admin_site.admin_view(self.drift_view), name=name)
        return [drift, *super().get_urls()]

    def has_drift_permission(self, request, obj=None) -> bool:
        # The report compares the live database with the release it is at: it is read as a release is.
        return self.has_view_permission(request, obj) and request.user.has_perm("catalog.view_schemarelease")

    def drift_view(self, request, object_id):
        store = _object_or_404(self, request, object_id)
        if not self.has_drift_permission(request, store):
            raise PermissionDenied
        # Imported when used, as apply.py does: the admin does not need drift.py to load.
        from catalog.schema.drift import schema_drift

        # Comparing connects to the data store, so it is a POST (DESIGN, "Trust boundary"); the GET only
        # offers the button.
        report, error = None, ""
        if request.method == "POST":
            try:
                report = schema_drift(datastore=store)
            except CustodianError as exc:
                error = exc.message
        context = _page(
            self.admin_site,
            request,
            f"Drift of data store {store.name}",
            opts=self.opts,
            original=store,
            report=report,
            drift_sections=[
                ("Missing from the database", report.missing),
                ("Not in the release", report.extra),
                ("Different", report.different),
            ]
            if report
            else [],
            error=error,
            checked=request.method == "POST",
        )
        return TemplateResponse(request, "admin/catalog/schema_drift.html", context)

    def has_apply_permission(self, request) -> bool:
        return request.user.has_perm("catalog.apply_schemarelease")

    @admin.action(permissions=["apply"], description="Apply the newest release to the selected data stores")
    def apply_newest_release(self, request, queryset):
        for store in queryset:
            _apply_and_report(self, request, datastore=store, version=None)


# Releases


class ReleaseChangeList(ChangeList):
    def get_queryset(self, request, exclude_parameters=None):
        return super().get_queryset(request, exclude_parameters).defer(*RELEASE_SCRIPT_FIELDS)


class StorePickForm(forms.Form):
    datastore = forms.ModelChoiceField(
        queryset=DataStore.objects.order_by("name"), label="Data store", empty_label="choose a data store"
    )


class ReleasePublishForm(forms.Form):
    message = forms.CharField(
        max_length=200,
        widget=forms.TextInput(attrs={"size": 80}),
        help_text="What this release changes; it names the migration files (V3__add_orders.sql).",
    )
    confirm_errors = forms.BooleanField(
        required=False, label="I confirm the error-level findings", label_suffix=""
    )
    checksum = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args, preview, **kwargs):
        super().__init__(*args, **kwargs)
        self.preview = preview
        if not preview.errors:
            del self.fields["confirm_errors"]

    def clean_checksum(self):
        # What is confirmed is what was reviewed: a catalog changed meanwhile is shown again first.
        if self.cleaned_data["checksum"] != self.preview.checksum:
            raise forms.ValidationError(
                f"The catalog of '{self.preview.datastore.name}' changed after you opened this page; "
                "review the new preview below and publish again."
            )
        return self.cleaned_data["checksum"]


def _by_severity(findings: list[dict]) -> list[dict]:
    return sorted(findings, key=lambda f: SEVERITY_ORDER.get(f["severity"], len(SEVERITY_ORDER)))


@admin.register(SchemaRelease)
class SchemaReleaseAdmin(admin.ModelAdmin):
    """Releases are read, downloaded and applied here; they are made on the publish page, never edited."""

    list_display = [
        "datastore",
        "version",
        "message",
        "created_by",
        "created_at",
        "has_lint_errors",
        "destructive_confirmed",
        "change_count",
    ]
    list_display_links = ["version"]
    list_filter = ["datastore"]
    list_select_related = ["datastore", "created_by"]
    search_fields = ["message", "datastore__name"]
    fields = [
        "datastore",
        "version",
        "message",
        "dialect",
        "checksum",
        "created_by",
        "created_at",
        "has_lint_errors",
        "destructive_confirmed",
    ]
    readonly_fields = fields
    actions = None
    list_per_page = 50
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("datastore", "created_by")

    def get_changelist(self, request, **kwargs):
        return ReleaseChangeList

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="changes")
    def change_count(self, obj):
        return len(obj.changes)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("publish/", wrap(self.publish_view), name="catalog_schemarelease_publish"),
            path(
                "<path:object_id>/download/<str:direction>/",
                wrap(self.download_view),
                name="catalog_schemarelease_download",
            ),
            path("<path:object_id>/apply/", wrap(self.apply_view), name="catalog_schemarelease_apply"),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        # A release is published from the catalog, not typed in: "Add" leads to the publish page.
        if not self.has_add_permission(request):
            raise PermissionDenied
        return redirect("admin:catalog_schemarelease_publish")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        release = self.get_object(request, unquote(object_id))
        if release is not None and self.has_view_permission(request, release):
            extra_context = {**(extra_context or {}), **self._release_context(request, release)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _release_context(self, request, release: SchemaRelease) -> dict:
        last_applied = (
            SchemaApply.objects.filter(datastore=release.datastore_id, status=RunStatus.SUCCEEDED)
            .order_by("-finished_at", "-pk")
            .values("pk", "finished_at", "release__version")
            .first()
        )
        return {
            "highlight_css": highlight_css(),
            "changes": release.changes,
            "findings": _by_severity(release.lint_findings),
            "up_html": sql_highlight(release.up_sql),
            "down_html": sql_highlight(release.down_sql),
            "downloads": [
                (direction, f"{DOWNLOAD_PREFIX[direction]}{release.version}__{release.slug}.sql")
                for direction in ("up", "down")
            ],
            "can_apply": request.user.has_perm("catalog.apply_schemarelease"),
            "last_applied": last_applied,
        }

    def download_view(self, request, object_id, direction):
        release = _object_or_404(self, request, object_id)
        if not self.has_view_permission(request, release):
            raise PermissionDenied
        if direction not in DOWNLOAD_PREFIX:
            raise Http404("A release downloads as its up or its down script.")
        script = release.up_sql if direction == "up" else release.down_sql
        return _sql_download(script, f"{DOWNLOAD_PREFIX[direction]}{release.version}__{release.slug}.sql")

    def apply_view(self, request, object_id):
        if not request.user.has_perm("catalog.apply_schemarelease"):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        release = _object_or_404(self, request, object_id)
        if not self.has_view_permission(request, release):
            raise PermissionDenied
        # Changing a live database is deliberate: the admin confirms having read the scripts and lint.
        if not request.POST.get("confirm"):
            self.message_user(
                request,
                "Nothing was applied: tick the confirmation that you have read the "
                "scripts and lint findings, then apply.",
                messages.ERROR,
            )
            return redirect("admin:catalog_schemarelease_change", release.pk)
        run = _apply_and_report(self, request, datastore=release.datastore, version=release.version)
        if run is None:
            return redirect("admin:catalog_schemarelease_change", release.pk)
        return redirect("admin:catalog_schemaapply_change", run.pk)

    def publish_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        picker = StorePickForm(request.GET or None)
        store = picker.cleaned_data["datastore"] if picker.is_valid() else None
        preview, form, error = None, None, ""
        if store is not None:
            try:
                preview = release_preview(datastore=store)
            except SchemaError as exc:
                error = exc.message
        if preview is not None and not preview.unchanged:
            form = ReleasePublishForm(
                request.POST if request.method == "POST" else None,
                preview=preview,
                initial={"checksum": preview.checksum},
            )
            if form.is_bound and form.is_valid():
                release = self._publish(request, store, form)
                if release is not None:
                    return redirect("admin:catalog_schemarelease_change", release.pk)
        context = _page(
            self.admin_site,
            request,
            f"Publish a release of {store.name}" if store else "Publish a release",
            opts=self.opts,
            picker=picker,
            datastore=store,
            preview=preview,
            form=form,
            error=error,
            up_html=sql_highlight(preview.script(preview.up, "up", "")) if preview else "",
            down_html=sql_highlight(preview.script(preview.down, "down", "")) if preview else "",
        )
        return TemplateResponse(request, "admin/catalog/schema_publish.html", context)

    def _publish(self, request, store: DataStore, form: ReleasePublishForm) -> SchemaRelease | None:
        try:
            release = release_publish(
                datastore=store,
                user=request.user,
                message=form.cleaned_data["message"],
                allow_destructive=form.cleaned_data.get("confirm_errors", False),
                expected_checksum=form.cleaned_data["checksum"],
            )
        except SchemaError as exc:
            form.add_error(None, exc.message)
            return None
        self.message_user(request, f"Published {release}: {release.message}", messages.SUCCESS)
        return release


# Applies


class ApplyChangeList(ChangeList):
    def get_queryset(self, request, exclude_parameters=None):
        deferred = ["log", "error", *(f"release__{name}" for name in RELEASE_SCRIPT_FIELDS)]
        return super().get_queryset(request, exclude_parameters).defer(*deferred)


@admin.register(SchemaApply)
class SchemaApplyAdmin(RunRecordAdmin):
    """Runs of applies: records of what ran on a data store, read-only for everyone."""

    list_display = [
        "run_label",
        "status_badge",
        "datastore",
        "target_version",
        "from_version",
        "requested_by",
        "started_at",
        "finished_at",
        "statements_run",
    ]
    list_display_links = ["run_label"]
    list_filter = ["status", "datastore"]
    list_select_related = ["datastore", "release", "requested_by"]
    fields = [
        "datastore",
        "release",
        "status",
        "from_version",
        "requested_by",
        "created_at",
        "started_at",
        "finished_at",
        "statements_run",
    ]
    readonly_fields = fields
    run_label = run_label("run")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("datastore", "release", "requested_by")

    def get_changelist(self, request, **kwargs):
        return ApplyChangeList

    @admin.display(description="target version", ordering="release__version")
    def target_version(self, obj):
        return obj.release.version

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, unquote(object_id))
        if run is not None and self.has_view_permission(request, run):
            extra_context = {
                **(extra_context or {}),
                "highlight_css": highlight_css(),
                "run": run,
                "log_html": sql_highlight(run.log) if run.log else "",
            }
        return super().change_view(request, object_id, form_url, extra_context)

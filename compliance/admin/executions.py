"""Admin for retention executions: read-only records, and a form to enforce (or dry-run) a policy now."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path

from catalog.models import RetentionPolicy
from compliance.choices import ExecutionStatus, ExecutionTrigger
from compliance.exceptions import RetentionBusy
from compliance.models import RetentionExecution
from compliance.retention import retention_execution_request
from core.admin import RunRecordAdmin, run_label

__all__ = ["RetentionExecutionAdmin", "EnforceForm", "EXECUTE_PERMISSION"]

EXECUTE_PERMISSION = "compliance.execute_retention"
LARGE_FIELDS = ["samples", "statements", "policy_snapshot"]


class EnforceForm(forms.Form):
    policy = forms.ModelChoiceField(
        queryset=RetentionPolicy.objects.select_related("entity__datastore").order_by(
            "entity__datastore__name", "entity__name", "name"
        )
    )
    dry_run = forms.BooleanField(
        required=False,
        initial=True,
        label="Dry run",
        help_text="Count and sample the expired rows; change nothing.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["policy"].label_from_instance = lambda p: (
            f"{p.entity.datastore.name}.{p.entity.name}: {p.name} ({p.get_action_display().lower()} "
            f"after {p.period_label})"
        )


class DataStoreNameFilter(admin.AllValuesFieldListFilter):
    """The data store names the records keep, titled in the words used elsewhere ("By data store")."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = "data store"


class ExecutionChangeList(ChangeList):
    """The list never shows samples, statements or snapshots: they are not loaded."""

    def get_queryset(self, request, exclude_parameters=None):
        return super().get_queryset(request, exclude_parameters).defer(*LARGE_FIELDS)


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


@admin.register(RetentionExecution)
class RetentionExecutionAdmin(RunRecordAdmin):
    list_display = [
        "execution_label",
        "policy_name",
        "table_label",
        "action",
        "dry_run",
        "trigger",
        "status_badge",
        "rows_expired",
        "rows_changed_display",
        "requested_by",
        "created_at",
    ]
    list_display_links = ["execution_label"]
    list_filter = ["status", "dry_run", "trigger", "action", ("datastore_name", DataStoreNameFilter)]
    list_select_related = ["requested_by"]
    search_fields = ["policy_name", "entity_name", "error"]
    execution_label = run_label("execution")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("requested_by")

    def get_changelist(self, request, **kwargs):
        return ExecutionChangeList

    @admin.display(description="table", ordering="entity_name")
    def table_label(self, obj):
        return f"{obj.datastore_name}.{obj.entity_name}"

    @admin.display(description="rows changed")
    def rows_changed_display(self, obj):
        return "—" if obj.dry_run else obj.rows_changed

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("enforce/", wrap(self.enforce_view), name="compliance_retentionexecution_enforce"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra = {"can_enforce": request.user.has_perm(EXECUTE_PERMISSION), **(extra_context or {})}
        return super().changelist_view(request, extra)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        execution = self.get_object(request, unquote(object_id))
        if execution is None:
            raise Http404(f"No retention execution with id {object_id!r}.")
        if not self.has_view_permission(request, execution):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": str(execution),
            "opts": self.opts,
            "execution": execution,
            "duration": _seconds(execution.duration),
            "sample_columns": list(execution.samples[0]) if execution.samples else [],
            "can_enforce": request.user.has_perm(EXECUTE_PERMISSION) and execution.policy_id is not None,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/compliance/retentionexecution/execution.html", context)

    def enforce_view(self, request):
        if not request.user.has_perm(EXECUTE_PERMISSION):
            raise PermissionDenied
        form = EnforceForm(request.POST or None, initial={"policy": request.GET.get("policy")})
        if request.method == "POST" and form.is_valid():
            try:
                execution = retention_execution_request(
                    policy=form.cleaned_data["policy"],
                    dry_run=form.cleaned_data["dry_run"],
                    trigger=ExecutionTrigger.MANUAL,
                    user=request.user,
                )
            except RetentionBusy as exc:
                form.add_error("policy", exc.message)
            else:
                # Without Redis it has run by now; with it, it is queued and its page says so.
                execution.refresh_from_db()
                # The page shows the reason once, on the execution: the message only points at it
                level = {
                    ExecutionStatus.FAILED: messages.ERROR,
                    ExecutionStatus.BLOCKED: messages.WARNING,
                }.get(execution.status, messages.SUCCESS)
                where = "see why below." if execution.error else "see the rows per table below."
                self.message_user(request, f"{execution}: {where}", level)
                return redirect("admin:compliance_retentionexecution_change", execution.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": "Enforce a retention policy",
            "opts": self.opts,
            "form": form,
        }
        return TemplateResponse(request, "admin/compliance/retentionexecution/enforce.html", context)

"""What every catalog admin page shares: audited saves, read-only history, refusal of stale edits."""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed
from django.utils.html import format_html
from import_export.admin import ImportExportModelAdmin
from import_export.forms import ImportForm
from import_export.resources import modelresource_factory
from simple_history.admin import SimpleHistoryAdmin

from catalog.imports import read_error_message, upload_problem
from catalog.resources import FormulaSafeResource

__all__ = ["VersionedModelForm", "CatalogModelAdmin", "ReadOnlyAdmin", "RunRecordAdmin", "duration_text"]


class VersionedModelForm(forms.ModelForm):
    """Carries the version the editor loaded; a changed form whose object moved on since is refused."""

    seen_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["seen_version"] = self.instance.version

    def clean(self):
        cleaned = super().clean()
        seen = cleaned.get("seen_version")
        if self.instance.pk and seen is not None and self.has_changed():
            current = (
                type(self.instance)
                ._base_manager.filter(pk=self.instance.pk)
                .values_list("version", flat=True)
                .first()
            )
            if current is not None and current != seen:
                raise ValidationError(self.instance.concurrent_edit_message(), code="stale")
            # The save compares against the version this editor saw, not the one loaded for this request.
            self.instance.version = seen
        return cleaned


class CatalogImportForm(ImportForm):
    """The import form, refusing empty, oversized and zip-bomb files before they are read."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["format"].initial = "0"  # CSV, the first format

    def clean_import_file(self):
        upload = self.cleaned_data["import_file"]
        head = upload.read(4096)
        upload.seek(0)
        problem = upload_problem(
            source=upload, size=upload.size, is_blank=upload.size <= len(head) and not head.strip()
        )
        if problem:
            raise ValidationError(problem)
        return upload


class CatalogModelAdmin(ImportExportModelAdmin, SimpleHistoryAdmin):
    """Base admin: import/export, history with field-level changes, optimistic locking."""

    form = VersionedModelForm
    import_form_class = CatalogImportForm
    list_per_page = 50
    show_full_result_count = False

    def save_model(self, request, obj, form, change):
        # An unchanged main object is not saved: no empty history row, no version bump that would make
        # another editor's open form stale for nothing.
        if change and not form.has_changed():
            return
        super().save_model(request, obj, form, change)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        # History is read-only for everyone: the page may be looked at, never posted back as a revert.
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"], "The audit trail is read-only.")
        return super().history_form_view(request, object_id, version_id, extra_context)

    def has_change_history_permission(self, request, obj=None):
        return False

    def get_resource_classes(self, request):
        # A page without its own resource still exports formula-safe cells (regulations, quality rules).
        if not self.resource_classes:
            return [modelresource_factory(self.model, resource_class=FormulaSafeResource)]
        return super().get_resource_classes(request)

    def get_import_resource_kwargs(self, request, **kwargs):
        kwargs = super().get_import_resource_kwargs(request, **kwargs)
        kwargs["user"] = request.user
        return kwargs

    def add_data_read_fail_error_to_form(self, form, exc):
        file_format = form.cleaned_data.get("import_file").name.rsplit(".", 1)[-1].lower()
        form.add_error("import_file", read_error_message(exc, file_format))

    def get_export_queryset(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return super().get_export_queryset(request)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Pages of records nobody adds, changes or deletes from the admin (runs, applies, incidents, the audit
    trail, reports); who may view them is each admin's own business."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def duration_text(seconds: float | None) -> str:
    """A run's duration for people: '4.2 s', '3 min 05 s', '2 h 07 min'; '—' when unknown."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


class RunRecordAdmin(ReadOnlyAdmin):
    """Records of work that ran (pipeline runs, check runs, retention executions), read-only; their list
    shows a coloured status."""

    list_per_page = 50
    show_full_result_count = False

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return format_html('<span class="run-badge run-{}">{}</span>', obj.status, obj.get_status_display())

"""What every catalog admin page shares: audited saves, read-only history, refusal of stale edits."""

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import NON_FIELD_ERRORS, FieldDoesNotExist, PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.utils.functional import cached_property
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from import_export.admin import ImportExportModelAdmin
from import_export.forms import ImportForm
from import_export.resources import modelresource_factory
from simple_history.admin import SimpleHistoryAdmin

from catalog.admin.owners import OwnerPickerMixin
from catalog.exceptions import ConcurrentEditError
from catalog.imports import read_error_message, upload_problem
from catalog.resources import FormulaSafeResource

__all__ = [
    "VersionedModelForm",
    "VersionedInlineMixin",
    "form_for_user",
    "with_version_field",
    "CatalogModelAdmin",
    "text_preview",
    "breakable",
]


class VersionedModelForm(forms.ModelForm):
    """Carries the version the editor loaded; a changed form whose object moved on since, or that does not say
    which version it was loaded at, is refused.

    `guarded_fields` maps a field to the permission needed to change it on an existing object; the admin sets
    `user_permissions` per request, and a field the user may not change is shown disabled and keeps its stored
    value whatever a POST says.
    """

    seen_version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    guarded_fields: dict[str, str] = {}
    user_permissions: frozenset[str] | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["seen_version"] = self.instance.version
            for name in self.denied_field_names():
                self.fields[name].disabled = True

    def denied_field_names(self) -> list[str]:
        """The guarded fields of this form its user may not change (none unless the admin said)."""
        if self.user_permissions is None:
            return []
        return [
            name
            for name, permission in self.guarded_fields.items()
            if name in self.fields and permission not in self.user_permissions
        ]

    @cached_property
    def changed_data(self):
        # The version is bookkeeping, not an edit: a row the editor left alone is unchanged, whatever version
        # it was loaded at, so it is neither saved nor written to history.
        return [name for name in super().changed_data if name != "seen_version"]

    def add_error(self, field, error):
        # The model's checks name its fields; one this form leaves out (ON DELETE is on the column's own page,
        # not in the entity's columns inline) is told above the form, under its label, instead of failing.
        if field is None and isinstance(error, ValidationError) and hasattr(error, "error_dict"):
            absent = [
                name for name in error.error_dict if name != NON_FIELD_ERRORS and name not in self.fields
            ]
            for name in absent:
                label = capfirst(self._field_label(name))
                told = [f"{label}: {message}" for message in ValidationError(error.error_dict[name])]
                super().add_error(None, ValidationError(told))
            remaining = {k: v for k, v in error.error_dict.items() if k not in absent}
            if not remaining:
                return
            error = ValidationError(remaining)
        super().add_error(field, error)

    def _field_label(self, name: str) -> str:
        try:
            return str(self.instance._meta.get_field(name).verbose_name)
        except FieldDoesNotExist:
            return name.replace("_", " ")

    def clean(self):
        cleaned = super().clean()
        if not (self.instance.pk and self.has_changed()):
            return cleaned
        seen = cleaned.get("seen_version")
        if seen is None:
            raise ValidationError(
                _(
                    "This form did not say which version of %(model)s '%(name)s' you opened, so it could "
                    "not be checked against later changes and was not saved: reload the page, then apply "
                    "your edits again."
                )
                % {"model": self.instance._meta.verbose_name, "name": self.instance},
                code="version_missing",
            )
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


def form_for_user(form_class: type[VersionedModelForm], request) -> type[VersionedModelForm]:
    """`form_class` knowing, for this request, which guarded fields its user may change."""
    if not getattr(form_class, "guarded_fields", None):
        return form_class
    permissions = frozenset(
        permission for permission in form_class.guarded_fields.values() if request.user.has_perm(permission)
    )
    return type(form_class.__name__, (form_class,), {"user_permissions": permissions})


def with_version_field(fieldsets: list) -> list:
    """`fieldsets` with the hidden version field in the first one, so the page sends back what it loaded."""
    if not fieldsets or "seen_version" in flatten_fieldsets(fieldsets):
        return fieldsets
    (name, options), *rest = fieldsets
    return [(name, {**options, "fields": [*options["fields"], "seen_version"]}), *rest]


class VersionedInlineMixin:
    """An inline of versioned objects: each row carries the version it was loaded at (CatalogModelAdmin puts
    it on the page), and guarded fields follow the user's permissions (see VersionedModelForm)."""

    form = VersionedModelForm

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.form = form_for_user(formset.form, request)
        return formset


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


class CatalogModelAdmin(OwnerPickerMixin, ImportExportModelAdmin, SimpleHistoryAdmin):
    """Base admin: import/export, history with field-level changes, optimistic locking, the owner picker."""

    form = VersionedModelForm
    import_form_class = CatalogImportForm
    list_per_page = 50
    show_full_result_count = False

    def get_form(self, request, obj=None, change=False, **kwargs):
        return form_for_user(super().get_form(request, obj, change, **kwargs), request)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # The version goes back with the page and each inline row whatever the admin's fieldsets (some
        # admins and inlines build their own), so a save from a stale page is always checked.
        adminform = context.get("adminform")
        if obj is not None and adminform is not None and "seen_version" in adminform.form.fields:
            if self.has_change_permission(request, obj):
                adminform.fieldsets = with_version_field(list(adminform.fieldsets))
        for inline in context.get("inline_admin_formsets", []):
            if "seen_version" in inline.formset.form.base_fields and inline.has_change_permission:
                inline.fieldsets = with_version_field(list(inline.fieldsets))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # The form's check and the save are apart by a moment: an edit saved in between makes the save's
        # compare-and-set fail. The whole save is rolled back, and the editor is told who came first.
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ConcurrentEditError as refused:
            self.message_user(request, refused.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

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


def breakable(name) -> str:
    """A SQL name (or dotted names) that a narrow table cell may wrap after its underscores and dots, and
    nowhere else: customer_<wbr>contact_<wbr>points."""
    text = escape(str(name)) if name is not None else "—"
    return mark_safe(text.replace("_", "_<wbr>").replace(".", ".<wbr>"))


def text_preview(text: str, limit: int = 80) -> str:
    """The start of a long text for a list page, whole when short; the full text is on the object's page
    (and in the cell's tooltip)."""
    if len(text) <= limit:
        return text or "—"
    return format_html('<span title="{}">{}…</span>', text[:2000], text[: limit - 1].rstrip())

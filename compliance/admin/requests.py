"""Admin for data subject requests: start one (find, access or an erasure's dry run), read the record,
download its report, and confirm an erasure."""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path

from catalog.models import Column, Entity
from compliance.choices import RequestKind, RequestStatus
from compliance.exceptions import ComplianceError, ConfirmationMismatch
from compliance.models import SubjectRequest
from compliance.subject_search import identifier_fits
from compliance.subjects import (
    erasure_ambiguous_matches,
    subject_access_document,
    subject_request_create,
    subject_request_erase,
    subject_request_export,
    subject_request_find,
)
from core.admin import RunRecordAdmin, run_label
from core.errors import SchemaError
from core.masking import may_see_pii

__all__ = ["SubjectRequestAdmin", "SubjectRequestForm", "ERASE_PERMISSION"]

ERASE_PERMISSION = "compliance.erase_subject"
RUNS = {
    RequestKind.FIND: lambda request, user: subject_request_find(request=request, user=user),
    RequestKind.ACCESS: lambda request, user: subject_request_export(request=request, user=user),
    RequestKind.ERASURE: lambda request, user: subject_request_erase(request=request, user=user),
}


class SubjectRequestForm(forms.ModelForm):
    class Meta:
        model = SubjectRequest
        fields = ["datastore", "identifier", "kind", "entity", "column", "regulation", "basis"]
        widgets = {"basis": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["entity"].queryset = Entity.objects.select_related("datastore").order_by(
            "datastore__name", "name"
        )
        self.fields["entity"].label_from_instance = lambda e: e.qualified_name
        self.fields["column"].queryset = Column.objects.select_related("entity__datastore").order_by(
            "entity__datastore__name", "entity__name", "position"
        )
        self.fields["column"].label_from_instance = lambda c: f"{c.entity.qualified_name}.{c.name}"

    def clean(self):
        """What the request would be refused for, on the field to change, before it is recorded."""
        cleaned = super().clean()
        identifier, column = (cleaned.get("identifier") or "").strip(), cleaned.get("column")
        if self.errors or not identifier:
            return cleaned
        # A value the chosen column cannot hold is found nowhere
        if column is not None and not identifier_fits(column, identifier):
            where = f"{column.entity.name}.{column.name} ({column.sql_type})"
            self.add_error(
                "column", f"'{identifier}' cannot be a value of {where}. Choose the column that holds it."
            )
            return cleaned
        # An erasure erases one person: a number found as a key in several entities names several
        if cleaned.get("kind") == RequestKind.ERASURE and column is None:
            matches = erasure_ambiguous_matches(
                datastore=cleaned["datastore"], identifier=identifier, entity=cleaned.get("entity")
            )
            if matches:
                self.add_error(
                    "entity",
                    f"'{identifier}' is found in {', '.join(matches)}, which are not the same person. Choose "
                    "the entity (and the column) that identify the subject.",
                )
        return cleaned


class ConfirmForm(forms.Form):
    confirm = forms.CharField(
        label="Confirmation", help_text="Type the request's id or the subject's identifier to erase."
    )


@admin.register(SubjectRequest)
class SubjectRequestAdmin(RunRecordAdmin):
    form = SubjectRequestForm
    list_display = [
        "request_label",
        "kind",
        "datastore",
        "identifier",
        "status_badge",
        "requested_by",
        "created_at",
        "finished_at",
    ]
    list_display_links = ["request_label"]
    list_filter = ["kind", "status", "datastore"]
    list_select_related = ["datastore", "requested_by"]
    search_fields = ["identifier"]
    request_label = run_label("request")

    def has_add_permission(self, request):
        # Officers record requests here; the record is then the service's to keep.
        return admin.ModelAdmin.has_add_permission(self, request)

    def save_model(self, request, obj, form, change):
        """Record the request through the service, then run it at once: find, export, or an erasure's dry
        run (the erasure itself waits for confirmation on the request's page)."""
        created = subject_request_create(user=request.user, **form.cleaned_data)
        RUNS[created.kind](created, request.user)
        obj.pk, obj._state.adding = created.pk, False

    def response_add(self, request, obj, post_url_continue=None):
        record = SubjectRequest.objects.get(pk=obj.pk)
        failed = record.status in (RequestStatus.REFUSED, RequestStatus.FAILED)
        self.message_user(request, record.outcome, messages.ERROR if failed else messages.SUCCESS)
        return redirect("admin:compliance_subjectrequest_change", record.pk)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/report.json",
                wrap(self.report_view),
                name="compliance_subjectrequest_report",
            ),
            path(
                "<path:object_id>/export.json",
                wrap(self.export_view),
                name="compliance_subjectrequest_export",
            ),
            path("<path:object_id>/erase/", wrap(self.erase_view), name="compliance_subjectrequest_erase"),
            *super().get_urls(),
        ]

    def _request(self, request, object_id) -> SubjectRequest:
        record = self.get_object(request, unquote(object_id))
        if record is None:
            raise Http404(f"No subject request with id {object_id!r}.")
        if not self.has_view_permission(request, record):
            raise PermissionDenied
        return record

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("datastore", "entity", "column", "requested_by")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        record = self._request(request, object_id)
        can_erase = request.user.has_perm(ERASE_PERMISSION)
        context = {
            **self.admin_site.each_context(request),
            "title": str(record),
            "opts": self.opts,
            "record": record,
            "entities": record.report.get("entities", []),
            "confirm_form": ConfirmForm() if can_erase else None,
            "awaiting": record.status == RequestStatus.AWAITING_CONFIRMATION,
            "can_export": record.kind == RequestKind.ACCESS and record.status == RequestStatus.COMPLETED,
            "sees_pii": may_see_pii(request.user),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/compliance/subjectrequest/request.html", context)

    def report_view(self, request, object_id):
        """The record's report as stored: counts, and found rows masked."""
        record = self._request(request, object_id)
        return _json_download(record.report, f"subject-request-{record.pk}-report.json")

    def export_view(self, request, object_id):
        """An access request's export read now: every row, in clear only for readers allowed to see PII.

        A POST: it reads the data store again (DESIGN: what runs SQL on a data store is never a GET)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        record = self._request(request, object_id)
        try:
            document = subject_access_document(request=record, user=request.user)
        except (ComplianceError, SchemaError) as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return redirect("admin:compliance_subjectrequest_change", record.pk)
        return _json_download(document, f"subject-request-{record.pk}-export.json")

    def erase_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm(ERASE_PERMISSION):
            raise PermissionDenied
        record = self._request(request, object_id)
        form = ConfirmForm(request.POST)
        if not form.is_valid():
            return self.change_view(request, object_id, extra_context={"confirm_form": form})
        confirm = form.cleaned_data["confirm"]
        try:
            record = subject_request_erase(request=record, user=request.user, confirm=confirm)
        except ConfirmationMismatch as exc:
            if record.status != RequestStatus.AWAITING_CONFIRMATION:
                self.message_user(request, exc.message, messages.ERROR)
                return redirect("admin:compliance_subjectrequest_change", record.pk)
            # A wrong confirmation is said on its field, where the user corrects it
            form.add_error("confirm", exc.message)
            return self.change_view(request, object_id, extra_context={"confirm_form": form})
        except ComplianceError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            failed = record.status in (RequestStatus.REFUSED, RequestStatus.FAILED)
            self.message_user(request, record.outcome, messages.ERROR if failed else messages.SUCCESS)
        return redirect("admin:compliance_subjectrequest_change", record.pk)


def _json_download(document: dict, filename: str) -> HttpResponse:
    response = HttpResponse(
        json.dumps(document, indent=2, ensure_ascii=False), content_type="application/json; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response

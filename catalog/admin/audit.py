"""The cross-model audit trail for compliance officers: filter, read field-level changes, export CSV."""

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from catalog.admin.date_range import RangeDateField
from catalog.models import AuditTrail
from catalog.selectors import (
    HISTORY_TYPES,
    audit_event,
    audit_event_rows,
    audit_events,
    audit_events_iter,
    audit_model_choices,
)
from core.admin import ReadOnlyAdmin
from core.exports import csv_download

__all__ = ["AuditTrailAdmin", "AuditFilterForm"]


class AuditFilterForm(forms.Form):
    model = forms.ChoiceField(required=False)
    object_id = forms.IntegerField(required=False, min_value=1, label="Object id")
    user = forms.CharField(required=False, label="User name")
    date_from = RangeDateField(required=False, label="From")
    date_to = RangeDateField(required=False, label="To")
    change_type = forms.ChoiceField(
        required=False,
        choices=[("", "any change")] + [(k, v) for k, v in HISTORY_TYPES.items()],
        label="Change",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [("", "any model")] + audit_model_choices()

    def clean(self):
        cleaned = super().clean()
        # The range must run forwards; the error sits on 'To', the end the user reads last
        if cleaned.get("date_from") and cleaned.get("date_to") and cleaned["date_from"] > cleaned["date_to"]:
            self.add_error("date_to", "'To' is before 'From'.")
        return cleaned

    def selection(self) -> dict:
        data = self.cleaned_data
        return {
            "model": data.get("model") or None,
            "object_id": data.get("object_id"),
            "username": data.get("user") or None,
            "date_from": data.get("date_from"),
            "date_to": data.get("date_to"),
            "change_type": data.get("change_type") or None,
        }


@admin.register(AuditTrail)
class AuditTrailAdmin(ReadOnlyAdmin):
    """Not a model page: the changelist is the audit trail, read from every history table."""

    page_size = 50

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("catalog.view_audit_trail")

    def get_urls(self):
        return [
            path("", self.admin_site.admin_view(self.changelist_view), name="catalog_audittrail_changelist"),
            path("export/", self.admin_site.admin_view(self.export_view), name="catalog_audittrail_export"),
            path(
                "<str:model_label>/<int:history_id>/",
                self.admin_site.admin_view(self.event_view),
                name="catalog_audittrail_event",
            ),
        ]

    def event_view(self, request, model_label: str, history_id: int):
        """One change with its values whole: the list cuts values longer than TRAIL_VALUE_LIMIT."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        event = audit_event(model_label=model_label, history_id=history_id)
        if event is None:
            raise Http404("No such change on the audit trail.")
        context = {
            **self.admin_site.each_context(request),
            "title": f"{event.change_type.capitalize()}: {event.model_name} {event.object_repr}",
            "opts": self.model._meta,
            "event": event,
        }
        return TemplateResponse(request, "admin/catalog/audit_event.html", context)

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = AuditFilterForm(request.GET or None)
        rows = audit_event_rows(**form.selection()) if form.is_valid() else audit_event_rows()
        if form.is_bound and not form.is_valid():
            rows = rows.none()
        page = Paginator(rows, self.page_size).get_page(request.GET.get("page"))
        query = request.GET.copy()
        query.pop("page", None)
        context = {
            **self.admin_site.each_context(request),
            "title": "Audit trail",
            "opts": self.model._meta,
            "form": form,
            "page": page,
            "events": audit_events(list(page.object_list)),
            "query": query.urlencode(),
            "can_export": request.user.has_perm("catalog.export_audit_trail"),
            "user_model_label": get_user_model()._meta.label_lower,
        }
        return TemplateResponse(request, "admin/catalog/audit_trail.html", context)

    def export_view(self, request):
        """The filtered trail as CSV; an invalid filter goes back to the trail, which shows its errors."""
        if not request.user.has_perm("catalog.export_audit_trail"):
            raise PermissionDenied
        form = AuditFilterForm(request.GET or None)
        if form.is_bound and not form.is_valid():
            trail = reverse(f"{self.admin_site.name}:catalog_audittrail_changelist")
            return HttpResponseRedirect(f"{trail}?{request.GET.urlencode()}")
        rows = (
            [
                event.history_date.isoformat(),
                event.username,
                event.change_type,
                event.model_label,
                event.object_id,
                event.object_repr,
                event.changes_text,
            ]
            for event in audit_events_iter(audit_event_rows(**(form.selection() if form.is_bound else {})))
        )
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        return csv_download(
            filename=f"custodian-audit-{stamp}.csv",
            header=["date", "user", "change", "model", "object_id", "object", "changes"],
            rows=rows,
            numeric_columns=["object_id"],
        )

"""The PII overview of a data store and the compliance report (printable HTML and CSV) for a date range.

Not a model page: the "compliance report" entry's list is the PII overview; both read the catalog and the
compliance records (compliance.view_compliance_report)."""

from datetime import timedelta

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from catalog.admin.date_range import RangeDateField
from catalog.models import DataStore
from compliance.models import ComplianceReport
from compliance.selectors import pii_overview, report_activity
from core.admin import ReadOnlyAdmin
from core.exports import csv_download

__all__ = ["ComplianceReportAdmin", "ReportForm", "REPORT_PERMISSION"]

REPORT_PERMISSION = "compliance.view_compliance_report"
DEFAULT_DAYS = 30


class ReportForm(forms.Form):
    datastore = forms.ModelChoiceField(
        queryset=DataStore.objects.order_by("name"),
        required=False,
        empty_label="every data store",
        label="Data store",
    )
    start = RangeDateField(label="From")
    end = RangeDateField(label="To")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("start") and cleaned.get("end") and cleaned["start"] > cleaned["end"]:
            self.add_error("end", "'To' is before 'From'; choose a day on or after it.")
        return cleaned


def report_form(request) -> ReportForm:
    """The form as submitted, or the last DEFAULT_DAYS days over every data store."""
    today = timezone.localdate()
    data = (
        request.GET
        if "start" in request.GET
        else {"start": today - timedelta(days=DEFAULT_DAYS), "end": today}
    )
    return ReportForm(data)


@admin.register(ComplianceReport)
class ComplianceReportAdmin(ReadOnlyAdmin):
    def has_view_permission(self, request, obj=None):
        return request.user.has_perm(REPORT_PERMISSION)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("report/", wrap(self.report_view), name="compliance_compliancereport_report"),
            path("report.csv", wrap(self.report_csv_view), name="compliance_compliancereport_csv"),
            # Not a table: no object, add, change, delete or history pages (they answered 500).
            path("", wrap(self.changelist_view), name="compliance_compliancereport_changelist"),
        ]

    def _require(self, request) -> None:
        if not self.has_view_permission(request):
            raise PermissionDenied

    def changelist_view(self, request, extra_context=None):
        """The PII overview of one data store (the first, unless ?datastore= names another)."""
        self._require(request)
        stores = list(DataStore.objects.order_by("name"))
        chosen = next(
            (s for s in stores if str(s.pk) == request.GET.get("datastore")), stores[0] if stores else None
        )
        context = {
            **self.admin_site.each_context(request),
            "title": "PII overview",
            "opts": self.opts,
            "stores": stores,
            "overview": pii_overview(chosen) if chosen else None,
        }
        return TemplateResponse(request, "admin/compliance/pii_overview.html", context)

    def _report(self, request):
        form = report_form(request)
        if not form.is_valid():
            return form, None, []
        data = form.cleaned_data
        stores = [data["datastore"]] if data["datastore"] else list(DataStore.objects.order_by("name"))
        activity = report_activity(start=data["start"], end=data["end"], datastore=data["datastore"])
        return form, activity, [pii_overview(store) for store in stores]

    def report_view(self, request):
        self._require(request)
        form, activity, overviews = self._report(request)
        context = {
            **self.admin_site.each_context(request),
            "title": "Compliance report",
            "opts": self.opts,
            "form": form,
            "activity": activity,
            "overviews": overviews,
            "csv_query": request.GET.urlencode(),
            "generated_at": timezone.now(),
        }
        return TemplateResponse(request, "admin/compliance/report.html", context)

    def report_csv_view(self, request):
        self._require(request)
        form, activity, overviews = self._report(request)
        if activity is None:
            raise PermissionDenied("Give a valid date range.")
        return csv_download(
            filename="compliance-report.csv",
            header=["section", "data store", "entity", "item", "detail", "status", "count", "when"],
            rows=_report_rows(activity, overviews),
            numeric_columns=["count"],
        )


def _report_rows(activity, overviews):
    """The report's lines: PII columns and gaps per data store, then executions, requests and audit counts."""
    for overview in overviews:
        for row in overview.columns:
            yield [
                "pii column",
                overview.datastore.name,
                row.column.entity.name,
                row.column.name,
                f"{row.column.get_pii_category_display()}; masking {row.masking_label}; "
                f"{row.retention_words}",
                ", ".join(row.gaps) or "ok",
                "",
                "",
            ]
        for entity in overview.unowned:
            yield ["gap", overview.datastore.name, entity.name, "owner", "no owner", "gap", "", ""]
    for e in activity.executions:
        yield [
            "retention execution",
            e.datastore_name,
            e.entity_name,
            e.policy_name,
            f"{e.action}{' (dry run)' if e.dry_run else ''}; {e.trigger}",
            e.status,
            e.rows_changed,
            e.created_at.isoformat(),
        ]
    for r in activity.requests:
        yield [
            "subject request",
            r.datastore.name,
            "",
            f"#{r.pk}",
            r.kind,
            r.status,
            sum(f.get("count", 0) for f in r.found),
            r.created_at.isoformat(),
        ]
    for label, change, total in activity.audit_counts:
        yield ["audit", "", label, change, "", "", total, ""]

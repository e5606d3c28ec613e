"""Schedules, alerting and incidents."""

from django import forms
from django.contrib import admin
from django.db.models import F
from django.urls import reverse
from django.utils.html import format_html

from catalog.admin.base import CatalogModelAdmin, VersionedModelForm
from core.admin import ReadOnlyAdmin
from quality.models import (
    Incident,
    QualityAlerting,
    QualitySchedule,
)

__all__ = [
    "QualityScheduleAdmin",
    "QualityAlertingForm",
    "QualityAlertingAdmin",
    "IncidentStateFilter",
    "IncidentAdmin",
]

# Schedules, alerting, incidents ---------------------------------------------------------------------------


class _NoImportExport:
    def has_import_permission(self, request):
        return False

    def has_export_permission(self, request):
        return False


@admin.register(QualitySchedule)
class QualityScheduleAdmin(_NoImportExport, CatalogModelAdmin):
    list_display = ["__str__", "datastore", "entity", "cron", "enabled", "next_run_at"]
    list_filter = [("datastore", admin.RelatedOnlyFieldListFilter), "enabled"]
    list_select_related = ["datastore", "entity"]
    search_fields = ["datastore__name", "entity__name", "cron"]
    autocomplete_fields = ["datastore", "entity"]
    fields = ["datastore", "entity", "cron", "enabled", "next_run_at"]
    readonly_fields = ["next_run_at"]


class QualityAlertingForm(VersionedModelForm):
    webhook_url = forms.URLField(
        required=False,
        max_length=200,
        assume_scheme="https",
        label="Webhook URL",
        help_text=QualityAlerting._meta.get_field("webhook_url").help_text,
    )

    class Meta:
        model = QualityAlerting
        fields = ["datastore", "emails", "webhook_url", "score_drop_points"]


@admin.register(QualityAlerting)
class QualityAlertingAdmin(_NoImportExport, CatalogModelAdmin):
    form = QualityAlertingForm
    list_display = ["datastore", "emails", "webhook_url", "score_drop_points"]
    list_select_related = ["datastore"]
    search_fields = ["datastore__name", "emails"]
    autocomplete_fields = ["datastore"]
    fields = ["datastore", "emails", "webhook_url", "score_drop_points"]


class IncidentStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("closed", "Closed")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(closed_at__isnull=True)
        if self.value() == "closed":
            return queryset.filter(closed_at__isnull=False)
        return queryset


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdmin):
    """Incidents are opened and closed by check runs; people read them here."""

    list_display = [
        "summary",
        "state",
        "kind",
        "entity_display",
        "rule",
        "opened_at",
        "closed_at",
        "notified",
    ]
    list_filter = [IncidentStateFilter, "kind", ("datastore", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["datastore", "entity", "rule"]
    search_fields = ["summary", "entity__name", "rule__name"]
    date_hierarchy = "opened_at"
    actions = None
    list_per_page = 50
    show_full_result_count = False
    fields = [
        "summary",
        "kind",
        "datastore",
        "entity",
        "rule",
        "first_check",
        "baseline_score",
        "opened_at",
        "closed_at",
        "notified_at",
        "notify_error",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(first_run_id=F("first_result__check_run_id"))

    @admin.display(description="state", ordering="closed_at")
    def state(self, obj):
        if obj.closed_at:
            return format_html('<span class="run-badge dq-passed">{}</span>', "Closed")
        return format_html('<span class="run-badge dq-failed">{}</span>', "Open")

    @admin.display(description="entity", ordering="entity__name")
    def entity_display(self, obj):
        if not obj.entity_id:
            return "—"
        return format_html(
            '<a href="{}">{}.{}</a>',
            reverse("admin:quality_entity", args=[obj.entity_id]),
            obj.datastore.name,
            obj.entity.name,
        )

    @admin.display(description="first failing check")
    def first_check(self, obj):
        if not obj.first_run_id:
            return "—"
        return format_html(
            '<a href="{}">Check #{}</a>',
            reverse("admin:quality_checkrun_change", args=[obj.first_run_id]),
            obj.first_run_id,
        )

    @admin.display(description="announced")
    def notified(self, obj):
        if obj.notify_error:
            return format_html('<span class="errornote-inline" title="{}">failed</span>', obj.notify_error)
        return obj.notified_at.strftime("%Y-%m-%d %H:%M") if obj.notified_at else "—"

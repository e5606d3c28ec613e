"""Admin for regulations and retention policies."""

from django.contrib import admin
from django.db.models import Count

from catalog.admin.base import CatalogModelAdmin, text_preview
from catalog.models import Column, Regulation, RetentionPolicy
from catalog.resources import RetentionPolicyResource

__all__ = ["RegulationAdmin", "RetentionPolicyAdmin"]


@admin.register(Regulation)
class RegulationAdmin(CatalogModelAdmin):
    list_display = ["code", "name", "policy_count", "short_description"]
    search_fields = ["code", "name"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(policy_total=Count("retention_policies"))

    @admin.display(description="retention policies", ordering="policy_total")
    def policy_count(self, obj):
        return obj.policy_total

    @admin.display(description="description")
    def short_description(self, obj):
        return text_preview(obj.description)


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(CatalogModelAdmin):
    resource_classes = [RetentionPolicyResource]
    list_display = [
        "name",
        "entity",
        "datastore",
        "anchor_column",
        "period",
        "action",
        "regulation",
        "legal_hold",
    ]
    list_filter = ["regulation", "action", "legal_hold", "entity__datastore"]
    list_select_related = ["entity__datastore", "anchor_column__entity", "regulation"]
    search_fields = ["name", "entity__name", "legal_basis"]
    autocomplete_fields = ["entity", "anchor_column"]

    @admin.display(description="data store", ordering="entity__datastore__name")
    def datastore(self, obj):
        return obj.entity.datastore

    @admin.display(description="keep for", ordering="keep_for")
    def period(self, obj):
        return obj.period_label

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "anchor_column":
            kwargs["queryset"] = Column.objects.select_related("entity")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

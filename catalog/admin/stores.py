"""Admin for data stores and domains."""

from django.contrib import admin
from django.db.models import Count

from catalog.admin.base import CatalogModelAdmin
from catalog.admin.codegen import CodegenMixin
from catalog.admin.schema import DataStoreSchemaMixin, SchemaDDLMixin
from catalog.models import DataStore, Domain
from catalog.resources import DataStoreResource, DomainResource

__all__ = ["DataStoreAdmin", "DomainAdmin"]


@admin.register(DataStore)
class DataStoreAdmin(CodegenMixin, DataStoreSchemaMixin, SchemaDDLMixin, CatalogModelAdmin):
    resource_classes = [DataStoreResource]
    # The change page links to the store's DDL, drift report, releases and publish page.
    change_form_template = "admin/catalog/datastore/change_form.html"
    actions = ["apply_newest_release"]
    list_display = ["name", "engine", "schema_name", "connection", "entity_count", "owner"]
    list_filter = ["engine", ("owner", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["owner"]
    search_fields = ["name", "description"]
    autocomplete_fields = ["owner"]
    fieldsets = [
        (None, {"fields": ["name", "engine", "schema_name", "description", "owner"]}),
        (
            "Connection",
            {
                "fields": ["connection_alias", "url_env"],
                "description": "Where Custodian finds the connection. No password is stored here.",
            },
        ),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(entity_total=Count("entities"))

    @admin.display(description="connection")
    def connection(self, obj):
        if obj.connection_alias:
            return f"DATABASES['{obj.connection_alias}']"
        if obj.url_env:
            return f"${obj.url_env}"
        return "catalog only"

    @admin.display(description="entities", ordering="entity_total")
    def entity_count(self, obj):
        return obj.entity_total

    def ddl_scope(self, obj):
        return obj, None


@admin.register(Domain)
class DomainAdmin(CatalogModelAdmin):
    resource_classes = [DomainResource]
    list_display = ["name", "owner", "entity_count"]
    list_select_related = ["owner"]
    search_fields = ["name", "description"]
    autocomplete_fields = ["owner"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(entity_total=Count("entities"))

    @admin.display(description="entities", ordering="entity_total")
    def entity_count(self, obj):
        return obj.entity_total

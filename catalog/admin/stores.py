"""Admin for data stores and domains, with their ER diagrams and the data store's lineage graph."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.safestring import mark_safe
from django.utils.text import slugify

from catalog.admin.base import CatalogModelAdmin, text_preview
from catalog.admin.codegen import CodegenMixin
from catalog.admin.schema import DataStoreSchemaMixin, SchemaDDLMixin, _object_or_404, _page
from catalog.diagrams import DIAGRAM_FORMATS, DiagramError, er_diagram, svg_sanitize
from catalog.lineage_graph import lineage_graph
from catalog.models import DataStore, Domain, Entity
from catalog.resources import DataStoreResource, DomainResource

__all__ = ["DiagramMixin", "DataStoreAdmin", "DomainAdmin"]


# Diagrams (ER on data stores and domains, lineage on data stores and their entities)


def _diagram_download(drawing: bytes, format: str, filename: str) -> HttpResponse:
    if format == "svg":
        drawing = ('<?xml version="1.0" encoding="UTF-8"?>\n' + svg_sanitize(drawing)).encode("utf-8")
    response = HttpResponse(drawing, content_type=DIAGRAM_FORMATS[format])
    response["Content-Disposition"] = f'attachment; filename="{filename}.{format}"'
    # Opened on its own, the file may show the drawing and nothing else: no script, no outside resource.
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


class DiagramMixin:
    """Adds `<id>/er-diagram/` (and, with `has_lineage_graph`, `<id>/lineage/`) to an admin whose
    `diagram_scope(obj)` gives the `er_diagram` keywords for the object. Whoever may view the object and its
    entities may see its diagrams; `?format=svg|png` downloads one."""

    has_lineage_graph = False

    def diagram_scope(self, obj) -> dict:
        raise NotImplementedError

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        urls = [
            path(
                "<path:object_id>/er-diagram/",
                self.admin_site.admin_view(self.er_diagram_view),
                name=f"{prefix}_er_diagram",
            )
        ]
        if self.has_lineage_graph:
            lineage = self.admin_site.admin_view(self.lineage_graph_view)
            urls.append(path("<path:object_id>/lineage/", lineage, name=f"{prefix}_lineage"))
        # Before the model's own URLs: their "<path:object_id>/" catch-all would take these.
        return [*urls, *super().get_urls()]

    def _viewable_object(self, request, object_id):
        obj = _object_or_404(self, request, object_id)
        if not (self.has_view_permission(request, obj) and request.user.has_perm("catalog.view_entity")):
            raise PermissionDenied
        return obj

    def er_diagram_view(self, request, object_id):
        obj = self._viewable_object(request, object_id)
        return self._diagram_page(
            request,
            obj,
            page_name="ER diagram",
            stem=f"{slugify(obj.name) or obj.pk}_er",
            draw=lambda format: er_diagram(**self.diagram_scope(obj), format=format, user=request.user),
        )

    def lineage_graph_view(self, request, object_id):
        """A data store's lineage graph, or with `?entity=<id>` that of one of its entities."""
        store = self._viewable_object(request, object_id)
        entity, entity_id = None, request.GET.get("entity", "")
        if entity_id:
            entity = (
                Entity.objects.filter(datastore=store, pk=entity_id).first() if entity_id.isdigit() else None
            )
            if entity is None:
                raise Http404(f"Data store {store.name} has no entity with id {entity_id!r}.")
        return self._diagram_page(
            request,
            store,
            page_name=f"Lineage of entity {entity.name}" if entity else "Lineage",
            stem=slugify(f"{store.name}_{entity.name}_lineage" if entity else f"{store.name}_lineage"),
            draw=lambda format: lineage_graph(store, entity, format=format, user=request.user),
            entity=entity,
        )

    def _diagram_page(self, request, obj, *, page_name: str, stem: str, draw, entity=None):
        format = request.GET.get("format")
        if format not in (None, *DIAGRAM_FORMATS):
            raise Http404(f"No diagram format {format!r}; choose one of {', '.join(DIAGRAM_FORMATS)}.")
        svg, error = "", ""
        try:
            if format:
                return _diagram_download(draw(format), format, stem)
            svg = svg_sanitize(draw("svg"))
        except DiagramError as exc:
            error = exc.message
        query = f"entity={entity.pk}&" if entity else ""
        context = _page(
            self.admin_site,
            request,
            f"{page_name}: {self.opts.verbose_name} {obj.name}",
            opts=self.opts,
            original=obj,
            page_name=page_name,
            entity=entity,
            # Drawn by dot from escaped labels, then stripped of anything but SVG shapes and site links.
            svg=mark_safe(svg),
            downloads=[(kind.upper(), f"?{query}format={kind}") for kind in ("svg", "png")],
            error=error,
        )
        return TemplateResponse(request, "admin/catalog/diagrams/diagram.html", context)


@admin.register(DataStore)
class DataStoreAdmin(DiagramMixin, CodegenMixin, DataStoreSchemaMixin, SchemaDDLMixin, CatalogModelAdmin):
    resource_classes = [DataStoreResource]
    # The change page links to the store's DDL, drift report, releases and publish page.
    change_form_template = "admin/catalog/datastore/change_form.html"
    actions = ["apply_newest_release"]
    has_lineage_graph = True
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
                "fields": ["connection_alias", "url_env", "read_role"],
                "description": (
                    "Where Custodian finds the connection. No password is stored here. Never Custodian's "
                    "own database. User-written SQL runs read-only, with a timeout, and as the read-only "
                    "role when one is named."
                ),
            },
        ),
    ]

    def get_queryset(self, request):
        # An aggregate drops Meta.ordering (Django 3.1+): order again, so autocomplete pages are stable.
        return super().get_queryset(request).annotate(entity_total=Count("entities")).order_by("name")

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

    def diagram_scope(self, obj):
        return {"datastore": obj}


@admin.register(Domain)
class DomainAdmin(DiagramMixin, CatalogModelAdmin):
    resource_classes = [DomainResource]
    list_display = ["name", "owner", "entity_count", "short_description"]
    list_select_related = ["owner"]
    search_fields = ["name", "description"]
    autocomplete_fields = ["owner"]

    def get_queryset(self, request):
        # An aggregate drops Meta.ordering (Django 3.1+): order again, so autocomplete pages are stable.
        return super().get_queryset(request).annotate(entity_total=Count("entities")).order_by("name")

    @admin.display(description="entities", ordering="entity_total")
    def entity_count(self, obj):
        return obj.entity_total

    def diagram_scope(self, obj):
        return {"domain": obj}

    @admin.display(description="description")
    def short_description(self, obj):
        return text_preview(obj.description)

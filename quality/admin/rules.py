"""Rules (written by stewards and implied by the catalog), Run checks now, an entity's quality page with
its score trend and a data store's overview."""

from collections import defaultdict
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Avg, Count, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404, HttpResponseNotAllowed, QueryDict
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from catalog.admin.base import CatalogModelAdmin
from catalog.models import DataStore, Entity
from core.choices import RunStatus
from core.masking import may_see_pii
from quality.admin.common import (
    CATALOG_DEFINITION_FIELDS,
    CUSTOM_SQL_PERMISSION,
    OVERVIEW_PER_PAGE,
    RECENT_RUNS,
    RUN_PERMISSION,
    STATUS_ORDER,
    TREND_RUNS,
    _column_positions,
    _implied_refresh_report,
    _page,
    _require_quality_view,
    _samples_for,
    _samples_table,
    _status_badge,
    entities_with_quality,
    rules_with_latest_result,
)
from quality.admin.forms import RuleForm
from quality.admin.trend import trend_chart
from quality.choices import Dimension, ResultStatus, RuleOrigin
from quality.kinds import kind_runs_user_sql
from quality.models import (
    CheckRun,
    EntityScore,
    Incident,
    Rule,
    RuleResult,
)
from quality.rules import rules_implied_pending
from quality.services import check_run_request

__all__ = ["RuleAdmin", "LatestStatusFilter"]

# Rules ----------------------------------------------------------------------------------------------------


class LatestStatusFilter(admin.SimpleListFilter):
    title = "latest result"
    parameter_name = "latest"

    def lookups(self, request, model_admin):
        return [*ResultStatus.choices, ("never", "Never checked")]

    def queryset(self, request, queryset):
        if self.value() == "never":
            return queryset.filter(latest_status__isnull=True)
        if self.value():
            return queryset.filter(latest_status=self.value())
        return queryset


ENTITY_FILTER = "entity__id__exact"
STORE_FILTER = "entity__datastore__id__exact"


def _id_param(value) -> int | None:
    return int(value) if value and str(value).isdigit() else None


@admin.register(Rule)
class RuleAdmin(CatalogModelAdmin):
    """Rules written by stewards beside those the catalog implies; the entity and data store quality
    pages and Run checks now hang off this admin."""

    form = RuleForm
    change_list_template = "admin/quality/rule/change_list.html"
    change_form_template = "admin/quality/rule/change_form.html"
    list_display = [
        "name",
        "entity_display",
        "kind",
        "columns_display",
        "severity",
        "dimension",
        "threshold_display",
        "enabled",
        "origin",
        "latest_display",
    ]
    list_filter = [
        ("entity__datastore", admin.RelatedOnlyFieldListFilter),
        ("entity", admin.RelatedOnlyFieldListFilter),
        "kind",
        "severity",
        "dimension",
        "origin",
        "enabled",
        LatestStatusFilter,
    ]
    list_select_related = ["entity__datastore"]
    search_fields = ["name", "entity__name", "description"]
    autocomplete_fields = ["entity"]
    actions = ["refresh_implied_rules"]

    def init_change_list_template(self):
        # The list has its own tools (run, refresh, quality pages) that must show to users who cannot add
        # rules; import/export's template shows tools only to those who can. Export is included by hand.
        self.ie_base_change_list_template = "admin/change_list.html"

    def has_import_permission(self, request):
        return False  # imported rows would skip the custom SQL permission; rules are written here

    def get_queryset(self, request):
        return rules_with_latest_result(super().get_queryset(request).select_related("entity__datastore"))

    # Who may do what

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        if allowed and obj is not None and kind_runs_user_sql(obj.kind):
            return request.user.has_perm(CUSTOM_SQL_PERMISSION)
        return allowed

    def has_delete_permission(self, request, obj=None):
        # A rule implied by the catalog comes back at the next check: it is disabled, not deleted.
        if obj is not None and obj.origin == RuleOrigin.CATALOG:
            return False
        return super().has_delete_permission(request, obj)

    def has_refresh_permission(self, request) -> bool:
        return self.has_add_permission(request)

    # The form

    def get_fieldsets(self, request, obj=None):
        definition = ["entity", "name", "kind", "columns", "params"]
        tuning = ["threshold_percent", "severity", "dimension", "enabled"]
        about = ["description"] if obj is None else ["description", "origin", "implied_key"]
        return [
            ("Definition", {"fields": definition}),
            ("Tolerance", {"fields": tuning}),
            ("About", {"fields": about}),
        ]

    def get_readonly_fields(self, request, obj=None):
        readonly = ["origin", "implied_key"] if obj is not None else []
        if obj is not None and obj.origin == RuleOrigin.CATALOG:
            readonly += CATALOG_DEFINITION_FIELDS
        return readonly

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        form.may_write_custom_sql = request.user.has_perm(CUSTOM_SQL_PERMISSION)
        return form

    def get_changeform_initial_data(self, request):
        # "Add rule" from a list filtered by entity starts with that entity.
        initial = super().get_changeform_initial_data(request)
        filters = QueryDict(request.GET.get("_changelist_filters", ""))
        if "entity" not in initial and _id_param(filters.get(ENTITY_FILTER)):
            initial["entity"] = filters[ENTITY_FILTER]
        return initial

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        recent = []
        if obj is not None:
            results = obj.results.defer("samples", "samples_pii", "sql").order_by("-created_at", "-id")
            recent = list(results[:RECENT_RUNS])
        context.update(
            recent_results=recent,
            is_catalog_rule=obj is not None and obj.origin == RuleOrigin.CATALOG,
            sql_locked=obj is not None
            and kind_runs_user_sql(obj.kind)
            and not request.user.has_perm(CUSTOM_SQL_PERMISSION),
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # List columns

    @admin.display(description="entity", ordering="entity__name")
    def entity_display(self, obj):
        return format_html(
            '<a href="{}" title="Quality of {}">{}.{}</a>',
            reverse("admin:quality_entity", args=[obj.entity_id]),
            obj.entity.name,
            obj.entity.datastore.name,
            obj.entity.name,
        )

    @admin.display(description="columns")
    def columns_display(self, obj):
        return ", ".join(obj.columns) if obj.columns else "—"

    @admin.display(description="threshold", ordering="threshold_percent")
    def threshold_display(self, obj):
        return f"{float(obj.threshold_percent):g} %"

    @admin.display(description="latest result", ordering="latest_status")
    def latest_display(self, obj):
        if not obj.latest_status:
            return _status_badge(None)
        return _status_badge(
            obj.latest_status,
            href=reverse("admin:quality_checkrun_change", args=[obj.latest_run_id]),
            title=f"check #{obj.latest_run_id} at {obj.latest_at:%Y-%m-%d %H:%M}. {obj.latest_measured}",
        )

    # The list, filtered by entity or data store, with its tools

    def _filtered_scope(self, request) -> tuple[Entity | None, DataStore | None]:
        entity_id, store_id = (
            _id_param(request.GET.get(ENTITY_FILTER)),
            _id_param(request.GET.get(STORE_FILTER)),
        )
        entity = (
            Entity.objects.select_related("datastore").filter(pk=entity_id).first() if entity_id else None
        )
        store = entity.datastore if entity else None
        if store_id and store is None:
            store = DataStore.objects.filter(pk=store_id).first()
        return entity, store

    def changelist_view(self, request, extra_context=None):
        entity, store = self._filtered_scope(request)
        # Reading a page writes nothing: implied rules are synced before each check and by the
        # "Refresh implied rules" POST; the page only says how far they are out of step.
        context = {
            "implied_pending": _pending_note(entity) if entity is not None else "",
            "quality_entity": entity,
            "quality_datastore": store,
            "can_run": request.user.has_perm(RUN_PERMISSION),
            "can_refresh": self.has_refresh_permission(request),
            **(extra_context or {}),
        }
        return super().changelist_view(request, context)

    @admin.action(
        permissions=["refresh"], description="Refresh rules implied by the catalog (selected rules' entities)"
    )
    def refresh_implied_rules(self, request, queryset):
        entities = Entity.objects.filter(pk__in=queryset.values("entity_id")).select_related("datastore")
        _implied_refresh_report(self, request, list(entities))

    # Pages and buttons

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("entity/<int:entity_id>/", wrap(self.entity_quality_view), name="quality_entity"),
            path("entity/<int:entity_id>/run/", wrap(self.entity_run_view), name="quality_entity_run"),
            path("datastore/", wrap(self.datastores_view), name="quality_datastores"),
            path(
                "datastore/<int:datastore_id>/", wrap(self.datastore_quality_view), name="quality_datastore"
            ),
            path(
                "datastore/<int:datastore_id>/run/",
                wrap(self.datastore_run_view),
                name="quality_datastore_run",
            ),
            path("refresh-implied/", wrap(self.refresh_implied_view), name="quality_rule_refresh_implied"),
            *super().get_urls(),
        ]

    def entity_run_view(self, request, entity_id):
        refused = self._run_refused(request)
        if refused is not None:
            return refused
        entity = get_object_or_404(Entity.objects.select_related("datastore"), pk=entity_id)
        run = check_run_request(datastore=entity.datastore, entity=entity, user=request.user)
        return self._run_requested(request, run)

    def datastore_run_view(self, request, datastore_id):
        refused = self._run_refused(request)
        if refused is not None:
            return refused
        store = get_object_or_404(DataStore, pk=datastore_id)
        run = check_run_request(datastore=store, user=request.user)
        return self._run_requested(request, run)

    def _run_refused(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm(RUN_PERMISSION):
            raise PermissionDenied
        return None

    def _run_requested(self, request, run: CheckRun):
        # Without Redis the check has run by the time the request commits; with it, it is queued.
        run.refresh_from_db()
        self.message_user(request, *_run_outcome(run))
        return redirect("admin:quality_checkrun_change", run.pk)

    def refresh_implied_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_refresh_permission(request):
            raise PermissionDenied
        entity_id, store_id = _id_param(request.POST.get("entity")), _id_param(request.POST.get("datastore"))
        if entity_id:
            entities = Entity.objects.filter(pk=entity_id)
            back = {ENTITY_FILTER: entity_id}
        elif store_id:
            entities = Entity.objects.filter(datastore_id=store_id)
            back = {STORE_FILTER: store_id}
        else:
            raise Http404("Say which entity or data store to refresh.")
        _implied_refresh_report(self, request, list(entities.select_related("datastore")))
        return redirect(f"{reverse('admin:quality_rule_changelist')}?{urlencode(back)}")

    def entity_quality_view(self, request, entity_id):
        _require_quality_view(request)
        entity = get_object_or_404(Entity.objects.select_related("datastore"), pk=entity_id)
        context = _page(
            self.admin_site,
            request,
            f"Quality of {entity.datastore.name}.{entity.name}",
            opts=self.opts,
            entity=entity,
            can_run=request.user.has_perm(RUN_PERMISSION),
            can_refresh=self.has_refresh_permission(request),
            implied_pending=_pending_note(entity),
            **_entity_quality(entity, sees_pii=may_see_pii(request.user)),
        )
        return TemplateResponse(request, "admin/quality/entity_quality.html", context)

    def datastore_quality_view(self, request, datastore_id):
        _require_quality_view(request)
        store = get_object_or_404(DataStore, pk=datastore_id)
        order = request.GET.get("o") or "score"
        if order.lstrip("-") not in OVERVIEW_ORDERS:
            order = "score"
        entities = entities_with_quality(Entity.objects.filter(datastore=store))
        summary = entities.aggregate(
            average=Avg("score"), checked=Count("pk", filter=Q(checked_at__isnull=False))
        )
        page = Paginator(entities.order_by(*_overview_ordering(order)), OVERVIEW_PER_PAGE).get_page(
            request.GET.get("p")
        )
        context = _page(
            self.admin_site,
            request,
            f"Quality of data store {store.name}",
            opts=self.opts,
            datastore=store,
            page=page,
            order=order,
            headers=_overview_headers(order),
            summary=summary,
            entity_total=page.paginator.count,
            failing_entities=entities.filter(failing_rules__gt=0).count(),
            recent_runs=list(
                CheckRun.objects.filter(datastore=store).select_related("entity", "requested_by")[
                    :RECENT_RUNS
                ]
            ),
            can_run=request.user.has_perm(RUN_PERMISSION),
        )
        return TemplateResponse(request, "admin/quality/datastore_quality.html", context)

    def datastores_view(self, request):
        _require_quality_view(request)
        latest = CheckRun.objects.filter(datastore=OuterRef("pk")).order_by("-created_at", "-id")
        open_incidents = (
            Incident.objects.filter(datastore=OuterRef("pk"), closed_at__isnull=True)
            .order_by()
            .values("datastore")
            .annotate(n=Count("pk"))
            .values("n")
        )
        stores = DataStore.objects.annotate(
            entity_total=Count("entities"),
            last_run_id=Subquery(latest.values("pk")[:1]),
            last_run_at=Subquery(latest.values("created_at")[:1]),
            open_incidents=Coalesce(Subquery(open_incidents[:1]), Value(0)),
        ).order_by("name")
        page = Paginator(stores, OVERVIEW_PER_PAGE).get_page(request.GET.get("p"))
        context = _page(self.admin_site, request, "Data quality by data store", opts=self.opts, page=page)
        return TemplateResponse(request, "admin/quality/datastores.html", context)

    def get_view_on_site_url(self, obj=None):
        return None


def _run_outcome(run: CheckRun) -> tuple[str, int]:
    """The message text and level telling how a check run stands, linked to its page."""
    link = reverse("admin:quality_checkrun_change", args=[run.pk])
    scope = f"{run.datastore.name}.{run.entity.name}" if run.entity_id else f"data store {run.datastore.name}"
    if run.status == RunStatus.SUCCEEDED:
        text = format_html(
            '<a href="{}">Check #{}</a> of {} finished: {} rules, {} passed, {} warned, {} failed, '
            "{} could not run.",
            link,
            run.pk,
            scope,
            run.rules_total,
            run.rules_passed,
            run.rules_warned,
            run.rules_failed,
            run.rules_errored,
        )
        return text, messages.WARNING if run.rules_failed or run.rules_errored else messages.SUCCESS
    if run.status == RunStatus.FAILED:
        return (
            format_html('<a href="{}">Check #{}</a> of {} failed: {}', link, run.pk, scope, run.error),
            messages.ERROR,
        )
    return (
        format_html(
            '<a href="{}">Check #{}</a> of {} is {}; its page shows the results when it finishes.',
            link,
            run.pk,
            scope,
            run.get_status_display().lower(),
        ),
        messages.INFO,
    )


def _pending_note(entity: Entity) -> str:
    """What refreshing the entity's implied rules would change, in words; '' when they are in step."""
    pending = rules_implied_pending(entity)
    if not any(pending.values()):
        return ""
    parts = [f"{count} to be {action}" for action, count in pending.items() if count]
    return "The catalog has changed since its rules were last refreshed: " + ", ".join(parts) + "."


def _entity_quality(entity: Entity, *, sees_pii: bool = False) -> dict:
    """The entity's quality page: rules with their latest result, scores, trend, samples, incidents."""
    rules = list(rules_with_latest_result(Rule.objects.filter(entity=entity)).order_by("name"))
    rank = {status: i for i, status in enumerate(STATUS_ORDER)}
    rules.sort(key=lambda r: (rank.get(r.latest_status, len(rank)) if r.enabled else len(rank) + 1, r.name))
    for rule in rules:
        rule.latest_status_label = ResultStatus(rule.latest_status).label if rule.latest_status else ""
    runs = list(
        EntityScore.objects.filter(entity=entity, dimension="")
        .order_by("-created_at", "-id")
        .values_list("check_run_id", "created_at")[:TREND_RUNS]
    )[::-1]
    series: dict[str, dict[int, float]] = defaultdict(dict)
    for run_id, dimension, score in EntityScore.objects.filter(
        entity=entity, check_run_id__in=[pk for pk, _ in runs]
    ).values_list("check_run_id", "dimension", "score"):
        series[dimension][run_id] = score
    latest_run = runs[-1][0] if runs else None
    current = [
        (Dimension(d).label if d else "Overall", series[d][latest_run])
        for d in ["", *Dimension.values]
        if latest_run in series.get(d, {})
    ]
    last_checked = RuleResult.objects.filter(entity=entity).order_by("-created_at", "-id").first()
    failing = []
    if last_checked is not None:
        failing = list(
            RuleResult.objects.filter(
                entity=entity,
                check_run_id=last_checked.check_run_id,
                status__in=[ResultStatus.FAILED, ResultStatus.WARNED],
            )
            .select_related("rule")
            .order_by("rule_name")
        )
    positions = _column_positions([entity.pk]).get(entity.pk, {})
    return {
        "rules": rules,
        "current_scores": current,
        "chart": trend_chart(runs, series),
        "trend_table": [
            (pk, at, [series.get(d, {}).get(pk) for d in ["", *Dimension.values]]) for pk, at in runs[::-1]
        ],
        "trend_dimensions": ["Overall", *Dimension.labels],
        "last_checked": last_checked,
        "failing_results": [
            (
                result,
                _samples_table(
                    _samples_for(result, sees_pii),
                    checked=result.rule.columns if result.rule_id else [],
                    positions=positions,
                ),
            )
            for result in failing
        ],
        "open_incidents": list(
            Incident.objects.filter(entity=entity, closed_at__isnull=True).select_related("rule")
        ),
        "recent_runs": list(
            CheckRun.objects.filter(
                pk__in=RuleResult.objects.filter(entity=entity).values("check_run_id")
            ).select_related("requested_by")[:RECENT_RUNS]
        ),
    }


# The data store overview's columns: (query parameter, label, ordering expression).
OVERVIEW_ORDERS = {
    "name": ("Entity", "name"),
    "score": ("Score", "score"),
    "failing": ("Failing error rules", "failing_rules"),
    "incidents": ("Open incidents", "open_incidents"),
    "checked": ("Last checked", "checked_at"),
}


def _overview_ordering(order: str) -> list:
    key = OVERVIEW_ORDERS[order.lstrip("-")][1]
    expression = F(key).desc(nulls_last=True) if order.startswith("-") else F(key).asc(nulls_last=True)
    return [expression, "name"]


def _overview_headers(order: str) -> list[tuple[str, str, str]]:
    """(label, link, arrow) per sortable column; a sorted column's link reverses it."""
    headers = []
    for key, (label, _) in OVERVIEW_ORDERS.items():
        arrow = "▲" if order == key else ("▼" if order == f"-{key}" else "")
        headers.append((label, "?" + urlencode({"o": f"-{key}" if order == key else key}), arrow))
    return headers

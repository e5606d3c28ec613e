"""Admin for data quality: rules (written by stewards and implied by the catalog), Run checks now, check runs
with every result, an entity's quality page with its score trend, a data store's overview, schedules,
alerting and incidents.

The pages are thin: they call `quality.services` and `quality.rules`, and read with the small queries below,
each list page costing a constant number of queries. Samples on results were masked when they were taken.
"""

import json
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlencode

import yaml
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Avg, Count, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404, HttpResponseNotAllowed, QueryDict
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from catalog.admin.base import CatalogModelAdmin, RunRecordAdmin, VersionedModelForm
from catalog.admin.schema import highlight_css, sql_highlight
from catalog.models import Column, DataStore, Entity
from quality.choices import KIND_DIMENSIONS, Dimension, ResultStatus, RuleKind, RuleOrigin, RunStatus
from quality.models import (
    CheckRun,
    EntityScore,
    Incident,
    QualityAlerting,
    QualitySchedule,
    Rule,
    RuleResult,
)
from quality.rules import rules_implied_sync
from quality.services import check_run_request

__all__ = [
    "RuleParamsField",
    "ColumnNamesField",
    "RuleForm",
    "RuleAdmin",
    "CheckRunAdmin",
    "QualityScheduleAdmin",
    "QualityAlertingAdmin",
    "IncidentAdmin",
    "TrendChart",
    "trend_chart",
    "params_yaml",
    "params_help",
    "rules_with_latest_result",
    "entities_with_quality",
]

RUN_PERMISSION = "quality.run_quality"
CUSTOM_SQL_PERMISSION = "quality.write_custom_sql"
TREND_RUNS = 20
OVERVIEW_PER_PAGE = 50
RECENT_RUNS = 10
# Worst first: how results are ordered within an entity on a check run's page.
STATUS_ORDER = [ResultStatus.FAILED, ResultStatus.ERROR, ResultStatus.WARNED, ResultStatus.PASSED]
# Fields a rule implied by the catalog takes from the catalog; a steward tunes only the others.
CATALOG_DEFINITION_FIELDS = ["entity", "name", "kind", "columns", "params", "dimension"]


def _page(admin_site, request, title: str, **context) -> dict:
    return {**admin_site.each_context(request), "title": title, "highlight_css": highlight_css(), **context}


def _may_view_quality(request) -> bool:
    return request.user.has_perm("quality.view_rule") and request.user.has_perm("quality.view_checkrun")


def _require_quality_view(request) -> None:
    if not _may_view_quality(request):
        raise PermissionDenied


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 60:
        return f"{value:.1f} s"
    minutes, seconds = divmod(int(round(value)), 60)
    return f"{minutes} min {seconds:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def _run_duration(run: CheckRun) -> float | None:
    if run.started_at and run.finished_at:
        return (run.finished_at - run.started_at).total_seconds()
    return None


def _status_badge(status: str | None, *, href: str = "", title: str = "") -> str:
    if not status:
        return format_html('<span class="quiet">{}</span>', "never checked")
    label = ResultStatus(status).label
    if href:
        return format_html(
            '<a href="{}" class="run-badge dq-{}" title="{}">{}</a>', href, status, title, label
        )
    return format_html('<span class="run-badge dq-{}" title="{}">{}</span>', status, title, label)


# Reading: latest results, scores and trends ------------------------------------------------------------


def _latest_result(rule_ref="pk"):
    return RuleResult.objects.filter(rule=OuterRef(rule_ref)).order_by("-created_at", "-id")


def rules_with_latest_result(queryset):
    """Rules annotated with their latest result: its status, check run, time and measure."""
    latest = _latest_result()
    return queryset.annotate(
        latest_status=Subquery(latest.values("status")[:1]),
        latest_run_id=Subquery(latest.values("check_run_id")[:1]),
        latest_at=Subquery(latest.values("created_at")[:1]),
        latest_measured=Subquery(latest.values("measured")[:1]),
    )


def _failing_rule_count():
    """Per entity (the outer query): enabled rules whose latest result failed at error severity."""
    failing = (
        Rule.objects.filter(entity=OuterRef("pk"), enabled=True)
        .annotate(status=Subquery(_latest_result().values("status")[:1]))
        .filter(status=ResultStatus.FAILED)
        .order_by()
        .values("entity")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(failing[:1]), Value(0))


def _entity_count(queryset):
    counted = queryset.order_by().values("entity").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted[:1]), Value(0))


def entities_with_quality(queryset):
    """Entities annotated with their latest overall score, last check, failing error rules, open incidents."""
    scores = EntityScore.objects.filter(entity=OuterRef("pk"), dimension="").order_by("-created_at", "-id")
    checked = RuleResult.objects.filter(entity=OuterRef("pk")).order_by("-created_at", "-id")
    return queryset.annotate(
        score=Subquery(scores.values("score")[:1]),
        checked_at=Subquery(checked.values("created_at")[:1]),
        last_run_id=Subquery(checked.values("check_run_id")[:1]),
        failing_rules=_failing_rule_count(),
        rule_total=_entity_count(Rule.objects.filter(entity=OuterRef("pk"), enabled=True)),
        open_incidents=_entity_count(Incident.objects.filter(entity=OuterRef("pk"), closed_at__isnull=True)),
    )


def _implied_refresh(entities, user=None) -> tuple[Counter, list[str]]:
    """Sync each entity's catalog-implied rules; totals of what changed, and the entities that could not."""
    totals: Counter = Counter()
    problems = []
    for entity in entities:
        try:
            with transaction.atomic():
                totals.update(rules_implied_sync(entity, user=user))
        except ValidationError as exc:
            problems.append(f"{entity.name}: {'; '.join(exc.messages)}")
    return totals, problems


def _implied_refresh_report(model_admin, request, entities, *, quiet: bool = False) -> None:
    totals, problems = _implied_refresh(entities, request.user)
    for problem in problems:
        model_admin.message_user(
            request, f"The rules implied by the catalog could not be refreshed for {problem}", messages.ERROR
        )
    if quiet and not any(totals.values()):
        return
    model_admin.message_user(
        request,
        "Rules implied by the catalog: {created} created, {updated} updated, {deleted} deleted.".format(
            **{k: totals.get(k, 0) for k in ("created", "updated", "deleted")}
        ),
        messages.SUCCESS,
    )


# The score trend, drawn on the server as an inline SVG ---------------------------------------------------

SERIES_COLOURS = {
    "": "#263238",
    Dimension.COMPLETENESS: "#2e7d32",
    Dimension.VALIDITY: "#ef6c00",
    Dimension.UNIQUENESS: "#6a1b9a",
    Dimension.CONSISTENCY: "#0277bd",
    Dimension.TIMELINESS: "#ad1457",
    Dimension.ACCURACY: "#6d4c41",
}


# The score axis starts where the scores are: (lowest tick, step), the first whose tick is at most the
# lowest score. Scores of 93 to 100 drawn from 0 would be one flat line at the top.
Y_SCALES = [(98, 0.5), (96, 1), (92, 2), (80, 5), (60, 10), (0, 25)]


@dataclass
class TrendLine:
    label: str
    colour: str
    width: float
    points: str
    dots: list[tuple[str, str, str]] = field(default_factory=list)  # (x, y, tooltip)


@dataclass
class TrendChart:
    """An SVG line chart of scores (0–100) over check runs, oldest on the left; coordinates pre-formatted."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    y_ticks: list[tuple[str, str]]  # (y, label)
    x_ticks: list[tuple[str, str, str]]  # (x, label, text-anchor): the last label ends at the right edge
    lines: list[TrendLine]
    runs: int


def trend_chart(
    runs: list[tuple[int, datetime]], series: dict[str, dict[int, float]], *, width=760, height=260
) -> TrendChart | None:
    """The chart of `series` (dimension, '' = overall → {check run id: score}) over `runs`, oldest first."""
    if not runs:
        return None
    left, right, top, bottom = 40, width - 14, 14, height - 36
    last = len(runs) - 1
    lowest = min((score for scores in series.values() for score in scores.values()), default=0.0)
    floor, tick = next((f, t) for f, t in Y_SCALES if f <= lowest)

    def x(position: int) -> float:
        return left + (right - left) * (position / last if last else 0.5)

    def y(score: float) -> float:
        return bottom - (bottom - top) * (max(floor, min(100.0, score)) - floor) / (100 - floor)

    every = max(1, math.ceil(len(runs) / 6))  # at most about six dates under the axis
    lines = [
        _trend_line(
            dimension,
            [
                (x(i), y(series[dimension][pk]), series[dimension][pk], pk)
                for i, (pk, _) in enumerate(runs)
                if pk in series[dimension]
            ],
        )
        for dimension in ["", *Dimension.values]
        if series.get(dimension)
    ]
    return TrendChart(
        width=width,
        height=height,
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        y_ticks=[
            (f"{y(v):.1f}", f"{v:g}")
            for v in (floor + i * tick for i in range(round((100 - floor) / tick) + 1))
        ],
        x_ticks=[
            (f"{x(i):.1f}", runs[i][1].strftime("%m-%d %H:%M"), "end" if i == last and last else "middle")
            for i in sorted({*range(0, len(runs), every), last})
        ],
        lines=lines,
        runs=len(runs),
    )


def _trend_line(dimension: str, placed: list[tuple[float, float, float, int]]) -> TrendLine:
    """One series: its polyline and a dot per check run (x, y, score, run id) with the score as tooltip."""
    label = Dimension(dimension).label if dimension else "Overall"
    return TrendLine(
        label=label,
        colour=SERIES_COLOURS[dimension],
        width=3 if not dimension else 1.5,
        points=" ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in placed),
        dots=[(f"{px:.1f}", f"{py:.1f}", f"{label}: {s:.1f} (check #{pk})") for px, py, s, pk in placed],
    )


# Forms ----------------------------------------------------------------------------------------------------


class _ParamsLoader(yaml.SafeLoader):
    """YAML as JSON reads it: only true/false are booleans, and dates stay text.

    Allowed values such as yes, no, on and off, or a date bound of a range, must not change type."""


_ParamsLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag.rsplit(":", 1)[-1] not in ("bool", "timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ParamsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class _ParamsDumper(yaml.SafeDumper):
    """Multi-line text (custom SQL) as a `|` block, so it reads as it was written."""


_ParamsDumper.add_representer(
    str,
    lambda dumper, value: dumper.represent_scalar(
        "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None
    ),
)


def params_yaml(params) -> str:
    """A rule's parameters as the YAML an editor types: "pattern: '@'", "values: [gold, silver]"."""
    if not params:
        return ""
    return yaml.dump(
        params, Dumper=_ParamsDumper, sort_keys=False, allow_unicode=True, default_flow_style=None, width=100
    )


# What each kind takes, as shown under the parameters box: (example, explanation).
PARAMS_REFERENCE = {
    RuleKind.NOT_NULL: ("", "no parameters; one column."),
    RuleKind.UNIQUE: ("", "no parameters; the columns together are the key (NULL keys are skipped)."),
    RuleKind.PATTERN: ("pattern: '^[^@]+@[^@]+$'", "a PostgreSQL regular expression; NULLs are not checked."),
    RuleKind.RANGE: ("min: 0\nmax: 100", "either bound may be left out; compared in the column's type."),
    RuleKind.ALLOWED_VALUES: ("values: [gold, silver]", "NULLs are not checked (a not-null rule does that)."),
    RuleKind.REFERENTIAL: (
        "ref_entity: country\nref_columns: [code]",
        "an entity of the same data store and its key, paired with the rule's columns.",
    ),
    RuleKind.FRESHNESS: (
        "max_age_hours: 24",
        "how old the newest value of a date or timestamp column may be.",
    ),
    RuleKind.VOLUME: (
        "min_rows: 1000\nmax_change_percent: 20",
        "also max_rows; max_change_percent compares with the mean of the last checks (history: 10).",
    ),
    RuleKind.CUSTOM_SQL: (
        "sql: SELECT * FROM app.customer WHERE score > 100\ntimeout_seconds: 30",
        "one SELECT returning the failing rows; no columns. Needs the custom SQL permission.",
    ),
}


def _example(text: str) -> str:
    if not text:
        return ""
    lines = format_html_join(mark_safe("<br>"), "{}", ((line,) for line in text.splitlines()))
    return format_html('<code class="dq-example">{}</code> — ', lines)


def params_help(first_kind: str | None = None) -> str:
    """The parameters' help: YAML or JSON, then per kind an example (the rule's own kind first)."""
    kinds = sorted(RuleKind, key=lambda kind: kind != first_kind)
    items = format_html_join(
        "",
        "<li><strong>{}</strong>: {}{}</li>",
        ((kind.label, _example(PARAMS_REFERENCE[kind][0]), PARAMS_REFERENCE[kind][1]) for kind in kinds),
    )
    return format_html(
        'YAML (one <code>name: value</code> per line) or JSON (<code>{{"pattern": "@"}}</code>). '
        'Per kind:<ul class="dq-params-help">{}</ul>',
        items,
    )


class RuleParamsField(forms.CharField):
    """A rule's parameters, typed as YAML or JSON and stored as a JSON mapping."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 70, "class": "dq-params", "spellcheck": "false"})

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", params_help())
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return params_yaml(value) if isinstance(value, dict) else value

    def to_python(self, value):
        if isinstance(value, dict):
            return value
        text = (value or "").strip()
        if not text:
            return {}
        try:
            parsed = yaml.load(text, Loader=_ParamsLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ValidationError(
                f"The parameters are neither YAML nor JSON{where}: {problem}.", code="yaml"
            ) from None
        if not isinstance(parsed, dict):
            raise ValidationError(
                "The parameters are a mapping of name: value, e.g. pattern: '@'.", code="mapping"
            )
        try:
            json.dumps(parsed)
        except (TypeError, ValueError):
            raise ValidationError(
                "Parameter values are text, numbers, true/false or lists of those.", code="json"
            ) from None
        return parsed

    def has_changed(self, initial, data):
        try:
            return self.to_python(data) != (initial or {})
        except ValidationError:
            return True


class ColumnNamesField(forms.CharField):
    """Column names typed as one comma-separated line, stored as a JSON list."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault(
            "help_text",
            "Comma-separated column names of the entity, e.g. <code>email</code> or "
            "<code>country, tier</code>. Volume and custom SQL rules have none.",
        )
        kwargs.setdefault("widget", forms.TextInput(attrs={"size": 60, "spellcheck": "false"}))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return ", ".join(str(v) for v in value) if isinstance(value, list) else value

    def to_python(self, value):
        if isinstance(value, list):
            return value
        return [name.strip() for name in (value or "").split(",") if name.strip()]

    def has_changed(self, initial, data):
        return self.to_python(data) != (initial or [])


class RuleForm(VersionedModelForm):
    """A rule; the model's definition checks land on their fields. Custom SQL needs its own permission."""

    columns = ColumnNamesField()
    params = RuleParamsField(label="Parameters")
    # Set per request by RuleAdmin.get_form.
    may_write_custom_sql = False

    class Meta:
        model = Rule
        fields = [
            "entity",
            "name",
            "kind",
            "columns",
            "params",
            "threshold_percent",
            "severity",
            "dimension",
            "enabled",
            "description",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 2, "cols": 70})}
        help_texts = {"dimension": "Empty: the kind's usual dimension (e.g. completeness for not null)."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "params" in self.fields and self.instance.pk:
            self.fields["params"].help_text = params_help(self.instance.kind)

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind", self.instance.kind)
        was_sql = self.instance.pk and self.instance.kind == RuleKind.CUSTOM_SQL
        # Free-form SQL runs on the data store: writing or changing it is a permission of its own.
        if (kind == RuleKind.CUSTOM_SQL or was_sql) and not self.may_write_custom_sql:
            self.add_error(
                "kind" if "kind" in self.fields else None,
                "Custom SQL rules need the permission “Can write custom SQL quality rules”; ask a platform "
                "admin for it, or use another kind.",
            )
        # The stored dimension was the old kind's default unless someone chose it: a new kind brings its own.
        if (
            self.instance.pk
            and "kind" in self.changed_data
            and "dimension" in self.fields
            and "dimension" not in self.changed_data
            and cleaned.get("dimension") == KIND_DIMENSIONS.get(self.instance.kind)
        ):
            cleaned["dimension"] = ""
        return cleaned

    def _update_errors(self, errors):
        # The model's checks name fields that may be read-only here (a catalog rule's definition):
        # those errors are shown above the form, named, instead of being lost.
        if hasattr(errors, "error_dict"):
            placed = {}
            for name, problems in errors.error_dict.items():
                if name == NON_FIELD_ERRORS or name in self.fields:
                    placed.setdefault(name, []).extend(problems)
                    continue
                label = str(Rule._meta.get_field(name).verbose_name).capitalize()
                placed.setdefault(NON_FIELD_ERRORS, []).extend(
                    ValidationError(f"{label}: {message}")
                    for problem in problems
                    for message in problem.messages
                )
            errors = ValidationError(placed)
        super()._update_errors(errors)


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
        if allowed and obj is not None and obj.kind == RuleKind.CUSTOM_SQL:
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
            recent = list(obj.results.defer("samples", "sql").order_by("-created_at", "-id")[:RECENT_RUNS])
        context.update(
            recent_results=recent,
            is_catalog_rule=obj is not None and obj.origin == RuleOrigin.CATALOG,
            sql_locked=obj is not None
            and obj.kind == RuleKind.CUSTOM_SQL
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
        if entity is not None and request.method == "GET" and self.has_refresh_permission(request):
            # Implied rules appear beside the written ones before any check has run; only for users who
            # may change rules, so that reading a page never writes history in a reader's name.
            _implied_refresh_report(self, request, [entity], quiet=True)
        context = {
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
        if self.has_refresh_permission(request):
            _implied_refresh_report(self, request, [entity], quiet=True)
        context = _page(
            self.admin_site,
            request,
            f"Quality of {entity.datastore.name}.{entity.name}",
            opts=self.opts,
            entity=entity,
            can_run=request.user.has_perm(RUN_PERMISSION),
            **_entity_quality(entity),
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


def _entity_quality(entity: Entity) -> dict:
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
                    result.samples, checked=result.rule.columns if result.rule_id else [], positions=positions
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


def _samples_table(
    samples: list, *, checked: list[str] = (), positions: dict[str, int] | None = None
) -> tuple[list[tuple[str, bool]], list[list]]:
    """Samples (row mappings) as ((column, checked by the rule), ...) and rows of values.

    The rule's own columns come first, then the entity's in catalog order, then anything else (a duplicate
    count): samples are stored as jsonb, which keeps no key order.
    """
    rows = [row for row in samples or [] if isinstance(row, dict)]
    positions = positions or {}
    names = {name for row in rows for name in row}
    first = [name for name in checked if name in names]
    rest = sorted(names - set(first), key=lambda name: (positions.get(name, 1_000_000), name))
    columns = first + rest
    return [(name, name in first) for name in columns], [[row.get(name) for name in columns] for row in rows]


def _column_positions(entity_ids) -> dict[int, dict[str, int]]:
    positions: dict[int, dict[str, int]] = defaultdict(dict)
    for entity_id, name, position in Column.objects.filter(entity_id__in=set(entity_ids)).values_list(
        "entity_id", "name", "position"
    ):
        positions[entity_id][name] = position
    return positions


# Check runs -----------------------------------------------------------------------------------------------


@admin.register(CheckRun)
class CheckRunAdmin(RunRecordAdmin):
    """Check runs are records: read by everyone who may see quality, never edited."""

    list_display = [
        "run_label",
        "datastore",
        "entity",
        "trigger",
        "status_badge",
        "requested_by",
        "started_at",
        "duration_display",
        "rules_passed",
        "rules_warned",
        "rules_failed",
        "rules_errored",
    ]
    list_display_links = ["run_label"]
    list_filter = [
        "status",
        "trigger",
        ("datastore", admin.RelatedOnlyFieldListFilter),
        ("entity", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["datastore", "entity", "requested_by"]
    search_fields = ["datastore__name", "entity__name", "error"]
    date_hierarchy = "created_at"
    actions = None
    list_per_page = 50
    show_full_result_count = False

    @admin.display(description="check", ordering="pk")
    def run_label(self, obj):
        return f"#{obj.pk}"

    @admin.display(description="duration")
    def duration_display(self, obj):
        return _seconds(_run_duration(obj))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, unquote(object_id))
        if run is None:
            raise Http404(f"No check run with id {object_id!r}.")
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        problems_only = request.GET.get("show") == "problems"
        context = _page(
            self.admin_site,
            request,
            f"Check #{run.pk} of {run.entity or run.datastore}",
            opts=self.opts,
            original=run,
            run=run,
            duration=_seconds(_run_duration(run)),
            groups=_result_groups(run, problems_only=problems_only),
            problems_only=problems_only,
            can_run=request.user.has_perm(RUN_PERMISSION),
            **(extra_context or {}),
        )
        return TemplateResponse(request, "admin/quality/checkrun/run.html", context)


@dataclass
class ResultGroup:
    entity: Entity | None
    name: str
    scores: list[tuple[str, float]]
    rows: list[tuple[RuleResult, tuple[list[str], list[list]], str]]  # result, samples table, SQL html


def _result_groups(run: CheckRun, *, problems_only: bool) -> list[ResultGroup]:
    """The run's results grouped by entity (by name), worst status first, with samples and highlighted SQL."""
    results = run.results.select_related("entity", "rule")
    if problems_only:
        results = results.exclude(status=ResultStatus.PASSED)
    results = list(results)
    positions = _column_positions(r.entity_id for r in results)
    scores: dict[int, list[tuple[str, float]]] = defaultdict(list)
    for entity_id, dimension, score in run.scores.order_by("dimension").values_list(
        "entity_id", "dimension", "score"
    ):
        scores[entity_id].append((Dimension(dimension).label if dimension else "Overall", score))
    rank = {status: i for i, status in enumerate(STATUS_ORDER)}
    highlighted: dict[str, str] = {}  # the shared scan's SQL is on many results; highlighted once
    # Rules checked by one statement share its time: say so rather than show it as each rule's own.
    shared = dict(
        run.results.exclude(sql="")
        .values("sql")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .values_list("sql", "n")
    )
    groups: dict[int | None, ResultGroup] = {}
    for result in sorted(results, key=lambda r: (rank.get(r.status, 9), r.rule_name)):
        result.shared_by = shared.get(result.sql, 1) if result.sql else 1
        group = groups.get(result.entity_id)
        if group is None:
            name = result.entity.name if result.entity_id else "(entity deleted)"
            group = groups[result.entity_id] = ResultGroup(
                result.entity, name, scores.get(result.entity_id, []), []
            )
        if result.sql and result.sql not in highlighted:
            highlighted[result.sql] = sql_highlight(result.sql)
        samples = _samples_table(
            result.samples,
            checked=result.rule.columns if result.rule_id else [],
            positions=positions.get(result.entity_id),
        )
        group.rows.append((result, samples, highlighted.get(result.sql, "")))
    return sorted(groups.values(), key=lambda g: g.name)


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
class IncidentAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

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

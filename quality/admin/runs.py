"""Check runs with every result, grouped by entity, worst first, with samples and the SQL that ran."""

from collections import defaultdict
from dataclasses import dataclass

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404
from django.template.response import TemplateResponse

from catalog.admin.schema import sql_highlight
from catalog.models import Entity
from core.admin import RunRecordAdmin, duration_text, run_label
from core.masking import may_see_pii
from quality.admin.common import (
    RUN_PERMISSION,
    STATUS_ORDER,
    _column_positions,
    _page,
    _samples_for,
    _samples_table,
)
from quality.choices import Dimension, ResultStatus
from quality.models import (
    CheckRun,
    RuleResult,
)

__all__ = ["CheckRunAdmin", "ResultGroup"]

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
    run_label = run_label("check")

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
            duration=duration_text(run.duration),
            groups=_result_groups(run, problems_only=problems_only, sees_pii=may_see_pii(request.user)),
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


def _result_groups(run: CheckRun, *, problems_only: bool, sees_pii: bool = False) -> list[ResultGroup]:
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
            _samples_for(result, sees_pii),
            checked=result.rule.columns if result.rule_id else [],
            positions=positions.get(result.entity_id),
        )
        group.rows.append((result, samples, highlighted.get(result.sql, "")))
    return sorted(groups.values(), key=lambda g: g.name)

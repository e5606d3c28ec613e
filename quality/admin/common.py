"""What the quality admin pages share: permissions, page context, badges, durations and the small reading
queries (latest results, failing counts) that keep each list page at a constant number of queries."""

from collections import Counter, defaultdict

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils.html import format_html

from catalog.admin.schema import highlight_css
from catalog.models import Column
from quality.choices import ResultStatus
from quality.models import (
    EntityScore,
    Incident,
    Rule,
    RuleResult,
)
from quality.rules import rules_implied_sync

__all__ = [
    "RUN_PERMISSION",
    "CUSTOM_SQL_PERMISSION",
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


def _samples_for(result: RuleResult, sees_pii: bool) -> list:
    """The result's samples as this viewer may see them; marks `result.samples_hidden` for the page's note."""
    clear = sees_pii and result.samples_masked and bool(result.samples_pii)
    result.samples_hidden = result.samples_masked and not clear
    return result.samples_pii if clear else result.samples


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

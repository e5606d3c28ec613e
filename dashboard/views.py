"""The admin's landing page: Django's index (the app list stays) with a dashboard above it, each role seeing
the sections that are its work. config/urls.py routes /admin/ here, through admin_view, so anonymous
visitors are sent to the login page like everywhere else in the admin.

A section shows to a user holding one of its roles (superusers: every section) who also has its
permission, so a custom grant never reveals more than the permission allows. Only the sections shown are
read, each in a fixed number of queries (dashboard.selectors).
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.apps import apps
from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from catalog.roles import COMPLIANCE_OFFICER, DATA_STEWARD, PLATFORM_ADMIN
from dashboard import charts, selectors
from pipelines.choices import RunStatus

__all__ = ["SECTIONS", "Section", "dashboard_sections", "dashboard_build", "dashboard_index"]


@dataclass(frozen=True)
class Section:
    key: str
    roles: tuple[str, ...]
    permission: str


SECTIONS = [
    Section("runs", (PLATFORM_ADMIN,), "pipelines.view_pipelinerun"),
    Section("jobs", (PLATFORM_ADMIN,), "pipelines.view_pipelinerun"),
    Section("storage", (PLATFORM_ADMIN,), "catalog.view_entity"),
    Section("failing_rules", (DATA_STEWARD,), "quality.view_ruleresult"),
    Section("scores", (DATA_STEWARD,), "quality.view_checkrun"),
    # Stewards publish releases, platform admins apply them: both watch what waits.
    Section("schema", (DATA_STEWARD, PLATFORM_ADMIN), "catalog.view_schemarelease"),
    Section("retention", (COMPLIANCE_OFFICER,), "compliance.view_retentionexecution"),
    Section("subject_requests", (COMPLIANCE_OFFICER,), "compliance.view_subjectrequest"),
    Section("pii", (COMPLIANCE_OFFICER,), "catalog.view_column"),
]

RUN_SERIES = [
    charts.Series(RunStatus.SUCCEEDED, "Succeeded", "#2a7a2a"),
    charts.Series(RunStatus.FAILED, "Failed", "#ba2121"),
    charts.Series(RunStatus.CANCELLED, "Cancelled", "#6b7780"),
    charts.Series(RunStatus.RUNNING, "Running", "#21617a"),
    charts.Series(RunStatus.QUEUED, "Queued", "#8fb3c2"),
]


def dashboard_sections(user) -> set[str]:
    """The keys of the sections this user sees."""
    known = [section for section in SECTIONS if _permission_known(section.permission)]
    if user.is_superuser:
        return {section.key for section in known}
    roles = set(user.groups.values_list("name", flat=True))
    return {
        section.key
        for section in known
        if roles.intersection(section.roles) and user.has_perm(section.permission)
    }


def _permission_known(permission: str) -> bool:
    # The compliance app's sections exist only where the app is installed.
    return apps.is_installed(permission.split(".")[0])


@dataclass
class Dashboard:
    """What the page shows; a section is None when this user does not see it."""

    period: selectors.Period
    sections: set[str]
    runs: dict | None = None
    jobs: dict | None = None
    storage: selectors.StorageSummary | None = None
    failing_rules: selectors.FailingRules | None = None
    scores: list | None = None
    schema: list[selectors.StoreSchema] | None = None
    retention: selectors.RetentionSummary | None = None
    subject_requests: selectors.SubjectRequestsOpen | None = None
    pii: selectors.PiiSummary | None = None
    links: dict[str, str] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not self.sections


def dashboard_build(*, user, now: datetime) -> Dashboard:
    """Read and draw the sections `user` sees, as of `now`."""
    period = selectors.dashboard_period(now=now)
    shown = dashboard_sections(user)
    board = Dashboard(period=period, sections=shown, links=_links())
    if "runs" in shown:
        board.runs = _runs(period)
    if "jobs" in shown:
        active, more = selectors.runs_active()
        board.jobs = {"active": active, "more": more, "queues": selectors.job_queues_state()}
    if "storage" in shown:
        board.storage = selectors.storage_by_entity(now=now)
    if "failing_rules" in shown:
        board.failing_rules = selectors.rules_failing()
    if "scores" in shown:
        board.scores = _scores(period)
    if "schema" in shown:
        board.schema = selectors.schema_state()
    if "retention" in shown:
        board.retention = selectors.retention_summary(period=period)
    if "subject_requests" in shown:
        board.subject_requests = selectors.subject_requests_open(now=now)
    if "pii" in shown:
        board.pii = selectors.pii_summary()
    return board


def _runs(period: selectors.Period) -> dict:
    per_day = selectors.runs_by_day(period=period)
    durations = [day.durations for day in per_day if day.durations]
    return {
        "total": sum(day.total for day in per_day),
        "statuses": charts.stacked_bars(
            days=period.days,
            series=RUN_SERIES,
            counts=[day.counts for day in per_day],
            title="Pipeline runs per day and status, last 30 days",
        ),
        "durations": charts.duration_boxes(
            days=period.days, stats=durations, title="Duration of successful runs per day, last 30 days"
        ),
        "successful": sum(day.runs for day in durations),
    }


def _scores(period: selectors.Period) -> list:
    """(row, sparkline) for the entities with the lowest scores."""
    return [
        (
            row,
            charts.sparkline(
                days=period.days, points=row.daily, title=f"Daily overall score of {row.entity.name}"
            ),
        )
        for row in selectors.score_trends(period=period)
    ]


# Pages the sections link to; a page of an app that is not installed is left out.
LINKS = {
    "runs": "admin:pipelines_pipelinerun_changelist",
    "pipelines": "admin:pipelines_pipeline_changelist",
    "rq": "django_rq:home",
    "rules": "admin:quality_rule_changelist",
    "quality_stores": "admin:quality_datastores",
    "releases": "admin:catalog_schemarelease_changelist",
    "publish": "admin:catalog_schemarelease_publish",
    "applies": "admin:catalog_schemaapply_changelist",
    "executions": "admin:compliance_retentionexecution_changelist",
    "requests": "admin:compliance_subjectrequest_changelist",
    "pii_overview": "admin:compliance_compliancereport_changelist",
    "columns": "admin:catalog_column_changelist",
}


def _links() -> dict[str, str]:
    links = {}
    for key, name in LINKS.items():
        try:
            links[key] = reverse(name)
        except NoReverseMatch:
            pass
    return links


def dashboard_index(request):
    """The admin index with the signed-in user's dashboard above the app list."""
    board = dashboard_build(user=request.user, now=timezone.now())
    return admin.site.index(request, extra_context={"dashboard": board})

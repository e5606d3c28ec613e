"""What the dashboard shows, read in a fixed number of queries however many runs, results or entities there
are: every series is aggregated in SQL (TruncDate, Count, Avg, percentiles), every list is cut in SQL, and
related rows come in the same query (select_related) or through a correlated subquery.

Each function is one dashboard section's reading; the docstring says how many queries it costs.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import groupby

from django.apps import apps
from django.conf import settings
from django.db import connection
from django.db.models import (
    Aggregate,
    Avg,
    Case,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from catalog.choices import PIICategory
from catalog.models import (
    Column,
    DataStore,
    Entity,
    Index,
    IndexColumn,
    RetentionPolicy,
    SchemaApply,
    SchemaRelease,
    StorageSample,
)
from catalog.schema.snapshot import COLUMN_FIELDS, COLUMN_GENERATION_FIELDS, ENTITY_FIELDS, INDEX_FIELDS
from core.choices import RunStatus
from pipelines.models import ACTIVE, PipelineRun
from quality.choices import ResultStatus
from quality.models import EntityScore, Rule, RuleResult

__all__ = [
    "DAYS",
    "Period",
    "dashboard_period",
    "RunDay",
    "runs_by_day",
    "DurationDay",
    "runs_active",
    "JobQueues",
    "job_queues_state",
    "StorageRow",
    "storage_by_entity",
    "rules_failing",
    "ScoreRow",
    "score_trends",
    "StoreSchema",
    "schema_state",
    "RetentionSummary",
    "retention_summary",
    "SubjectRequestsOpen",
    "subject_requests_open",
    "PiiSummary",
    "pii_summary",
]

DAYS = 30
GROWTH_DAYS = 7
# A subject request older than this is past the one month GDPR Art. 12(3) allows for an answer.
REQUEST_DUE_DAYS = 30
QUEUES = ("etl", "quality", "default")


@dataclass(frozen=True)
class Period:
    """The days a chart covers, oldest first, in the current time zone, and the moment the first begins."""

    days: list[date]
    since: datetime


def dashboard_period(*, now: datetime, days: int = DAYS) -> Period:
    today = timezone.localdate(now)
    first = today - timedelta(days=days - 1)
    return Period(
        days=[first + timedelta(days=i) for i in range(days)],
        since=timezone.make_aware(datetime.combine(first, time.min)),
    )


# Pipelines: runs per day, durations, what runs now ---------------------------------------------------------


class Percentile(Aggregate):
    """PostgreSQL's percentile_cont: the value below which `fraction` of the group lies, interpolated."""

    function = "percentile_cont"
    name = "Percentile"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fraction: float, **extra):
        # The fraction is ours, never a user's: written into the SQL as a number.
        super().__init__(expression, fraction=f"{float(fraction):.4f}", **extra)


@dataclass
class DurationDay:
    """Durations (seconds) of one day's successful runs; percentiles only where the database has them."""

    day: date
    runs: int
    low: float
    high: float
    mean: float
    p25: float | None = None
    median: float | None = None
    p75: float | None = None
    p95: float | None = None


@dataclass
class RunDay:
    day: date
    counts: dict[str, int] = field(default_factory=dict)  # status -> runs
    durations: DurationDay | None = None  # of the successful runs

    @property
    def total(self) -> int:
        return sum(self.counts.values())


DURATION_STATS = ("low", "high", "mean", "p25", "median", "p75", "p95")


def _seconds(value) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value) / 1_000_000


def _duration_aggregates() -> dict:
    """Min, mean, max and, on PostgreSQL, quartiles and 95th percentile of successful runs' durations."""
    duration = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    # Runs of the other statuses of the group are not fed to the aggregates (nor sorted for percentiles).
    succeeded = Q(status=RunStatus.SUCCEEDED, started_at__isnull=False, finished_at__isnull=False)
    aggregates = {
        "low": Min(duration, filter=succeeded),
        "high": Max(duration, filter=succeeded),
        "mean": Avg(duration, filter=succeeded),
    }
    if connection.vendor == "postgresql":
        fractions = {"p25": 0.25, "median": 0.5, "p75": 0.75, "p95": 0.95}
        aggregates |= {
            name: Percentile(duration, fraction, filter=succeeded, output_field=DurationField())
            for name, fraction in fractions.items()
        }
    return aggregates


def runs_by_day(*, period: Period) -> list[RunDay]:
    """Pipeline runs created on each day of the period, counted per status, with the durations of the
    successful ones (one query, one scan of the period's runs)."""
    by_day = {day: RunDay(day) for day in period.days}
    rows = (
        PipelineRun.objects.filter(created_at__gte=period.since)
        .annotate(day=TruncDate("created_at"))
        .values("day", "status")
        .annotate(runs=Count("pk"), **_duration_aggregates())
        .order_by()
    )
    for row in rows:
        run_day = by_day.get(row["day"])
        if run_day is None:  # created after the period's last day: a clock ahead of this one
            continue
        run_day.counts[row["status"]] = row["runs"]
        if row["status"] == RunStatus.SUCCEEDED and row["low"] is not None:
            run_day.durations = DurationDay(
                day=row["day"],
                runs=row["runs"],
                **{name: _seconds(row.get(name)) for name in DURATION_STATS},
            )
    return list(by_day.values())


def runs_active(*, limit: int = 20) -> tuple[list[PipelineRun], bool]:
    """Running runs, then queued ones, oldest first, with their pipeline; and whether more exist (one
    query). There is at most one per pipeline, so the list is short."""
    runs = list(
        PipelineRun.objects.filter(status__in=ACTIVE)
        .select_related("pipeline")
        .only(
            "pk",
            "status",
            "trigger",
            "created_at",
            "started_at",
            "heartbeat_at",
            "phase",
            "progress",
            "rows_extracted",
            "rows_loaded",
            "rows_rejected",
            "rows_per_second",
            "pipeline__name",
        )
        .order_by(Case(When(status=RunStatus.RUNNING, then=Value(0)), default=Value(1)), "created_at")[
            : limit + 1
        ]
    )
    return runs[:limit], len(runs) > limit


@dataclass
class QueueState:
    name: str
    queued: int
    started: int
    failed: int
    scheduled: int


@dataclass
class WorkerState:
    name: str
    state: str
    queues: list[str]
    current_job: str


@dataclass
class JobQueues:
    """RQ's queues and workers; `in_process` when there is no Redis (jobs run in the web process)."""

    in_process: bool
    queues: list[QueueState] = field(default_factory=list)
    workers: list[WorkerState] = field(default_factory=list)
    error: str = ""


def job_queues_state() -> JobQueues:
    """Queue lengths (queued, started, failed, scheduled) and workers with their state, read from Redis;
    no database query."""
    if settings.CUSTODIAN_JOBS_SYNC:
        return JobQueues(in_process=True)
    import django_rq
    from redis.exceptions import RedisError
    from rq import Worker

    try:
        queues = [django_rq.get_queue(name) for name in QUEUES]
        state = JobQueues(
            in_process=False,
            queues=[
                QueueState(
                    name=queue.name,
                    queued=queue.count,
                    started=queue.started_job_registry.count,
                    failed=queue.failed_job_registry.count,
                    scheduled=queue.scheduled_job_registry.count,
                )
                for queue in queues
            ],
        )
        workers = Worker.all(connection=queues[0].connection)
        state.workers = [
            WorkerState(
                name=worker.name,
                state=str(worker.get_state()),
                queues=worker.queue_names(),
                current_job=worker.get_current_job_id() or "",
            )
            for worker in sorted(workers, key=lambda w: w.name)
        ]
        return state
    except RedisError as exc:
        return JobQueues(in_process=False, error=f"Redis cannot be read: {exc}")


# Storage -----------------------------------------------------------------------------------------------


@dataclass
class StorageRow:
    """An entity's newest storage sample and the one it is compared with (a week older, else the oldest)."""

    entity: Entity
    size: int
    rows: int | None
    sampled_at: datetime
    size_before: int | None
    before_at: datetime | None

    @property
    def growth(self) -> int | None:
        if self.size_before is None or self.before_at == self.sampled_at:
            return None
        return self.size - self.size_before

    @property
    def growth_percent(self) -> float | None:
        if self.growth is None or not self.size_before:
            return None
        return 100.0 * self.growth / self.size_before


@dataclass
class StorageSummary:
    rows: list[StorageRow]
    total: int
    total_before: int
    entities: int

    @property
    def growth(self) -> int:
        return self.total - self.total_before


def storage_by_entity(*, now: datetime, limit: int = 12) -> StorageSummary:
    """The largest entities by their newest sample, with growth over GROWTH_DAYS, and totals over every
    sampled entity (two queries)."""
    samples = StorageSample.objects.filter(entity=OuterRef("pk"))
    newest = samples.order_by("-sampled_at")
    week_old = newest.filter(sampled_at__lte=now - timedelta(days=GROWTH_DAYS))
    oldest = samples.order_by("sampled_at")
    sized = Entity.objects.annotate(
        size=Subquery(newest.values("bytes")[:1]),
        size_before=Coalesce(Subquery(week_old.values("bytes")[:1]), Subquery(oldest.values("bytes")[:1])),
    ).filter(size__isnull=False)
    largest = (
        sized.annotate(
            rows=Subquery(newest.values("rows_estimate")[:1]),
            sampled_at=Subquery(newest.values("sampled_at")[:1]),
            before_at=Coalesce(
                Subquery(week_old.values("sampled_at")[:1]), Subquery(oldest.values("sampled_at")[:1])
            ),
        )
        .select_related("datastore")
        .only("pk", "name", "datastore__name")
        .order_by("-size", "name")[:limit]
    )
    totals = sized.aggregate(total=Sum("size"), before=Sum("size_before"), entities=Count("pk"))
    return StorageSummary(
        rows=[
            StorageRow(
                entity=e,
                size=e.size,
                rows=e.rows,
                sampled_at=e.sampled_at,
                size_before=e.size_before,
                before_at=e.before_at,
            )
            for e in largest
        ],
        total=totals["total"] or 0,
        total_before=totals["before"] or 0,
        entities=totals["entities"],
    )


# Quality ------------------------------------------------------------------------------------------------

FAILING = (ResultStatus.FAILED, ResultStatus.ERROR, ResultStatus.WARNED)


@dataclass
class FailingRules:
    """Enabled rules whose newest result did not pass, worst first (failed, could not run, warned), and how
    many enabled rules there are and how many of them were never checked: "passed" is said only of rules
    that were checked."""

    results: list[RuleResult]
    failed: int
    errored: int
    warned: int
    enabled: int = 0
    never_checked: int = 0

    @property
    def total(self) -> int:
        return self.failed + self.errored + self.warned

    @property
    def checked(self) -> int:
        return self.enabled - self.never_checked

    @property
    def passed(self) -> int:
        return self.checked - self.total


def rules_failing(*, limit: int = 15) -> FailingRules:
    """The newest result of every enabled rule that failed, warned or could not run, worst first (one
    query), and how many enabled rules there are, never checked and of each failing status (one query).
    The newest result per rule comes from the (rule, -created_at) index."""
    newest = RuleResult.objects.filter(rule=OuterRef("pk")).order_by("-created_at", "-pk")
    enabled = Rule.objects.filter(enabled=True)
    counts = enabled.annotate(newest_status=Subquery(newest.values("status")[:1])).aggregate(
        enabled=Count("pk"),
        never_checked=Count("pk", filter=Q(newest_status__isnull=True)),
        failed=Count("pk", filter=Q(newest_status=ResultStatus.FAILED)),
        errored=Count("pk", filter=Q(newest_status=ResultStatus.ERROR)),
        warned=Count("pk", filter=Q(newest_status=ResultStatus.WARNED)),
    )
    failing = RuleResult.objects.filter(
        pk__in=enabled.annotate(newest=Subquery(newest.values("pk")[:1])).values("newest"),
        status__in=FAILING,
    )
    worst_first = Case(
        When(status=ResultStatus.FAILED, then=Value(0)),
        When(status=ResultStatus.ERROR, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    results = list(
        failing.select_related("entity__datastore")
        .defer("sql", "samples", "samples_pii", "entity__description", "entity__datastore__description")
        .order_by(worst_first, "-created_at")[:limit]
    )
    return FailingRules(results=results, **counts)


@dataclass
class ScoreRow:
    """An entity's newest overall score and its daily average over the period (oldest first)."""

    entity: Entity
    score: float
    scored_at: datetime
    daily: list[tuple[date, float]]

    @property
    def change(self) -> float | None:
        return self.score - self.daily[0][1] if len(self.daily) > 1 else None


def score_trends(*, period: Period, limit: int = 12) -> list[ScoreRow]:
    """The `limit` entities with the lowest newest overall score, each with its daily average score over
    the period (two queries). An average over every entity is left out on purpose: it scans every score
    of the period, and hides the entities that need attention behind the ones that do not."""
    newest = EntityScore.objects.filter(entity=OuterRef("pk"), dimension="").order_by("-created_at")
    entities = list(
        Entity.objects.annotate(
            score=Subquery(newest.values("score")[:1]), scored_at=Subquery(newest.values("created_at")[:1])
        )
        .filter(score__isnull=False)
        .select_related("datastore")
        .only("pk", "name", "datastore__name")
        .order_by("score", "name")[:limit]
    )
    daily: dict[int, list[tuple[date, float]]] = {}
    per_entity = (
        EntityScore.objects.filter(
            entity__in=[e.pk for e in entities], dimension="", created_at__gte=period.since
        )
        .annotate(day=TruncDate("created_at"))
        .values_list("entity", "day")
        .annotate(score=Avg("score"))
        .order_by("entity", "day")
    )
    for entity_id, day, score in per_entity:
        daily.setdefault(entity_id, []).append((day, score))
    return [ScoreRow(e, e.score, e.scored_at, daily.get(e.pk, [])) for e in entities]


# Schema: releases waiting to be applied ------------------------------------------------------------------


@dataclass
class StoreSchema:
    """A data store's newest release against the version its newest successful apply brought it to."""

    datastore: DataStore
    latest_version: int | None
    latest_at: datetime | None
    applied_version: int | None
    applied_at: datetime | None
    last_apply_status: str | None
    last_apply_id: int | None
    unreleased: int = 0  # catalog objects (entities, columns, indexes) changed since the newest release

    @property
    def pending(self) -> int:
        # Versions are numbered 1, 2, 3 ... per data store, so the gap is the number of releases waiting.
        return max(0, (self.latest_version or 0) - (self.applied_version or 0))


BEFORE_ANY_RELEASE = datetime(1970, 1, 1, tzinfo=UTC)
# What a release snapshots: per model, how its history rows reach their data store (the parent model and
# foreign key, then the path from the parent to the store's id) and the fields a release holds. An owner,
# a domain or a legal hold is no schema change and waits for no release.
RELEASED = [
    (Entity, None, "datastore_id", ENTITY_FIELDS),
    (Column, Entity, "entity_id", COLUMN_FIELDS + COLUMN_GENERATION_FIELDS),
    (Index, Entity, "entity_id", INDEX_FIELDS),
    (IndexColumn, Index, "index_id", ["index_id", "column_id", "position", "order", "included"]),
]
PARENT_STORE = {Entity: "datastore_id", Index: "entity__datastore_id"}


def _history_rows(model, parent, key: str, fields: list[str]):
    """Every history row of the objects that have one newer than their data store's newest release (one
    query), oldest first per object, with the id of the data store the object is in now."""
    if parent is None:
        store = F(key)
    else:
        store = Subquery(parent.objects.filter(pk=OuterRef(key)).values(PARENT_STORE[parent])[:1])
    newest = SchemaRelease.objects.filter(datastore_id=OuterRef("store_id")).order_by("-created_at")
    since = Coalesce(Subquery(newest.values("created_at")[:1]), Value(BEFORE_ANY_RELEASE))
    history = model.history.model.objects.annotate(store_id=store)
    recent = history.filter(history_date__gt=since).values("id")
    return (
        history.filter(id__in=recent)
        .order_by("id", "history_date", "history_id")
        .values("id", "history_date", "history_type", "store_id", *fields)
    )


def unreleased_counts(*, released_at: dict[int, datetime | None]) -> dict[int, int]:
    """Per data store id, the catalog objects whose released fields changed (or that were added or
    deleted) since its newest release, given when each store's newest release was made. One query per
    kind of object, whatever the number of stores, objects and changes."""
    changed: Counter = Counter()
    for model, parent, key, fields in RELEASED:
        rows = list(_history_rows(model, parent, key, fields))
        for _object_id, versions in groupby(rows, key=lambda row: row["id"]):
            versions = list(versions)
            store = versions[-1]["store_id"]
            since = released_at.get(store) or BEFORE_ANY_RELEASE
            before = None
            for version in versions:
                if version["history_date"] > since and (
                    before is None
                    or version["history_type"] == "-"
                    or any(version[name] != before[name] for name in fields)
                ):
                    changed[store] += 1
                    break
                before = version
    return dict(changed)


def schema_state() -> list[StoreSchema]:
    """Every data store with its newest release, applied version, last apply and the catalog objects
    changed since its newest release (five queries, whatever the number of stores and objects)."""
    applies = SchemaApply.objects.filter(datastore=OuterRef("pk"))
    succeeded = applies.filter(status=RunStatus.SUCCEEDED).order_by("-finished_at", "-pk")
    last = applies.order_by("-created_at", "-pk")
    stores = DataStore.objects.annotate(
        latest_version=Max("releases__version"),
        latest_at=Max("releases__created_at"),
        applied_version=Subquery(succeeded.values("release__version")[:1]),
        applied_at=Subquery(succeeded.values("finished_at")[:1]),
        last_apply_status=Subquery(last.values("status")[:1]),
        last_apply_id=Subquery(last.values("pk")[:1]),
    ).order_by("name")
    stores = list(stores)
    unreleased = unreleased_counts(released_at={store.pk: store.latest_at for store in stores})
    return [
        StoreSchema(
            datastore=store,
            unreleased=unreleased.get(store.pk, 0),
            **{
                name: getattr(store, name)
                for name in (
                    "latest_version",
                    "latest_at",
                    "applied_version",
                    "applied_at",
                    "last_apply_status",
                    "last_apply_id",
                )
            },
        )
        for store in stores
    ]


# Compliance ----------------------------------------------------------------------------------------------


@dataclass
class RetentionSummary:
    counts: list[tuple[str, str, int]]  # (status, label, executions in the period), dry runs apart
    executions: int
    dry_runs: int
    dry_run_counts: list[tuple[str, str, int]]  # (status, label, dry runs in the period), the same statuses
    rows_expired: int
    recent: list


def retention_summary(*, period: Period, limit: int = 8) -> RetentionSummary | None:
    """Retention executions of the period counted by status, executions and dry runs apart, and the newest
    ones of either (two queries); None without the compliance app."""
    if not apps.is_installed("compliance"):
        return None
    from compliance.choices import ExecutionStatus
    from compliance.models import RetentionExecution

    executions = RetentionExecution.objects.filter(created_at__gte=period.since)
    totals = executions.aggregate(
        dry_runs=Count("pk", filter=Q(dry_run=True)),
        rows_expired=Sum("rows_expired", filter=Q(dry_run=False, status=ExecutionStatus.SUCCEEDED)),
        **{status: Count("pk", filter=Q(dry_run=False, status=status)) for status in ExecutionStatus.values},
        **{
            f"dry_{status}": Count("pk", filter=Q(dry_run=True, status=status))
            for status in ExecutionStatus.values
        },
    )
    recent = list(
        RetentionExecution.objects.defer("samples", "statements", "policy_snapshot", "timings").order_by(
            "-created_at", "-pk"
        )[:limit]
    )
    return RetentionSummary(
        counts=[(status, label, totals[status]) for status, label in ExecutionStatus.choices],
        executions=sum(totals[status] for status in ExecutionStatus.values),
        dry_runs=totals["dry_runs"],
        dry_run_counts=[
            (status, label, totals[f"dry_{status}"]) for status, label in ExecutionStatus.choices
        ],
        rows_expired=totals["rows_expired"] or 0,
        recent=recent,
    )


@dataclass
class SubjectRequestsOpen:
    open: int
    overdue: int
    awaiting_confirmation: int
    oldest: list  # SubjectRequest, oldest first


def subject_requests_open(*, now: datetime, limit: int = 8) -> SubjectRequestsOpen | None:
    """Subject requests not finished yet: how many, how many are past REQUEST_DUE_DAYS, the oldest ones
    (two queries); None without the compliance app. The subject's identifier is not read."""
    if not apps.is_installed("compliance"):
        return None
    from compliance.choices import FINISHED_REQUEST, RequestStatus
    from compliance.models import SubjectRequest

    unfinished = SubjectRequest.objects.exclude(status__in=FINISHED_REQUEST)
    due = now - timedelta(days=REQUEST_DUE_DAYS)
    counts = unfinished.aggregate(
        open=Count("pk"),
        overdue=Count("pk", filter=Q(created_at__lt=due)),
        awaiting_confirmation=Count("pk", filter=Q(status=RequestStatus.AWAITING_CONFIRMATION)),
    )
    oldest = list(
        unfinished.select_related("datastore")
        .only("pk", "kind", "status", "created_at", "datastore__name")
        .order_by("created_at", "pk")[:limit]
    )
    for request in oldest:
        request.is_overdue = request.created_at < due
        request.age_days = (now - request.created_at).days
    return SubjectRequestsOpen(oldest=oldest, **counts)


@dataclass
class PiiSummary:
    by_category: list[tuple[str, int, int]]  # (category label, columns, entities)
    columns: int
    entities: int
    entities_without_retention: int
    entities_on_hold: int


def pii_summary() -> PiiSummary:
    """Personal-data columns per PII category, and the entities holding any: how many, how many have no
    retention policy, how many are on legal hold (two queries)."""
    per_category = (
        Column.objects.exclude(pii_category=PIICategory.NONE)
        .values_list("pii_category")
        .annotate(columns=Count("pk"), entities=Count("entity", distinct=True))
        .order_by()
    )
    labels = dict(PIICategory.choices)
    by_category = sorted(
        ((labels.get(category, category), columns, entities) for category, columns, entities in per_category),
        key=lambda row: -row[1],
    )
    holds_pii = Exists(Column.objects.filter(entity=OuterRef("pk")).exclude(pii_category=PIICategory.NONE))
    has_policy = Exists(RetentionPolicy.objects.filter(entity=OuterRef("pk")))
    entities = Entity.objects.filter(holds_pii).aggregate(
        total=Count("pk"),
        without_retention=Count("pk", filter=~has_policy),
        on_hold=Count("pk", filter=Q(legal_hold=True)),
    )
    return PiiSummary(
        by_category=by_category,
        columns=sum(row[1] for row in by_category),
        entities=entities["total"],
        entities_without_retention=entities["without_retention"],
        entities_on_hold=entities["on_hold"],
    )

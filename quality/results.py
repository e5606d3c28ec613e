"""What a finished check run records: the results of its rules, the scores per entity and dimension, and
the incidents they open or close (alerts go out from their own job). The runner calls check_run_record."""

from collections import defaultdict
from statistics import mean

from django.db import transaction
from django.utils import timezone

from catalog.models import Entity
from core.choices import RunStatus
from core.jobs import job_enqueue
from core.runs import run_finish
from quality.choices import ResultStatus, Severity
from quality.models import CheckRun, EntityScore, Incident, QualityAlerting, RuleResult

__all__ = ["check_run_record", "entity_scores"]


def _rule_score(result: RuleResult) -> float:
    if result.status == ResultStatus.PASSED:
        return 100.0
    if result.failing_percent is not None:
        return max(0.0, 100.0 - result.failing_percent)
    return 0.0


def entity_scores(results: list[RuleResult]) -> dict[str, float]:
    """Overall ('') and per-dimension scores, 0–100, of one entity in one run (errors excluded)."""
    by_dimension: dict[str, list[float]] = defaultdict(list)
    for result in results:
        if result.status == ResultStatus.ERROR:
            continue
        score = _rule_score(result)
        by_dimension[""].append(score)
        by_dimension[result.dimension].append(score)
    return {dimension: round(mean(scores), 3) for dimension, scores in by_dimension.items()}


@transaction.atomic
def check_run_record(run: CheckRun, outcomes: list, *, error: str = "") -> CheckRun:
    """Write the results, scores and incidents of a finished evaluation, and finish the run."""
    rows = [
        RuleResult(
            check_run=run,
            rule=o.rule,
            entity=entity,
            rule_name=o.rule.name,
            kind=o.rule.kind,
            severity=o.rule.severity,
            dimension=o.rule.dimension,
            status=o.status,
            total_rows=o.total_rows,
            failing_rows=o.failing_rows,
            failing_percent=o.failing_percent,
            measured=o.measured[:300],
            samples=o.samples,
            samples_pii=o.samples_pii,
            samples_masked=o.samples_masked,
            duration_ms=o.duration_ms,
            sql=o.sql,
            error=o.error,
        )
        for entity, o in outcomes
    ]
    RuleResult.objects.bulk_create(rows)
    per_entity: dict[Entity, list[RuleResult]] = defaultdict(list)
    for (entity, _), row in zip(outcomes, rows, strict=True):
        per_entity[entity].append(row)
    for entity, results in per_entity.items():
        scores = entity_scores(results)
        EntityScore.objects.bulk_create(
            EntityScore(check_run=run, entity=entity, dimension=d, score=s) for d, s in scores.items()
        )
        _incidents_update(run, entity, results, scores.get(""))
    counts = defaultdict(int)
    for row in rows:
        counts[row.status] += 1
    run_finish(
        run,
        RunStatus.FAILED if error else RunStatus.SUCCEEDED,
        error=error,
        rules_total=len(rows),
        rules_passed=counts[ResultStatus.PASSED],
        rules_warned=counts[ResultStatus.WARNED],
        rules_failed=counts[ResultStatus.FAILED],
        rules_errored=counts[ResultStatus.ERROR],
    )
    return run


def _incidents_update(run: CheckRun, entity: Entity, results: list[RuleResult], score: float | None) -> None:
    """Open an incident the first time an error rule fails (announced once), close it when it passes."""
    opened = []
    for result in results:
        if result.rule_id is None:
            continue
        open_incident = Incident.objects.filter(
            rule_id=result.rule_id, kind="rule", closed_at__isnull=True
        ).first()
        if (
            result.status == ResultStatus.FAILED
            and result.severity == Severity.ERROR
            and open_incident is None
        ):
            opened.append(
                Incident.objects.create(
                    datastore=run.datastore,
                    entity=entity,
                    rule_id=result.rule_id,
                    kind="rule",
                    first_result=result,
                    summary=f"{entity.name}: {result.rule_name} fails: {result.measured or result.error}",
                )
            )
        elif result.status in (ResultStatus.PASSED, ResultStatus.WARNED) and open_incident is not None:
            Incident.objects.filter(pk=open_incident.pk).update(closed_at=timezone.now())
    # A rule disabled or deleted since its incident opened sends no result: its incident ends here.
    Incident.objects.filter(entity=entity, kind="rule", closed_at__isnull=True).exclude(
        rule__enabled=True
    ).update(closed_at=timezone.now())
    if score is not None:
        opened += _score_drop(run, entity, score)
    # Alerts go out from their own job once the check is recorded: a slow receiver never holds a check.

    for incident in opened:
        job_enqueue("default", "quality.jobs.incident_notify_job", incident.pk)


def _score_drop(run: CheckRun, entity: Entity, score: float) -> list[Incident]:
    previous = (
        EntityScore.objects.filter(entity=entity, dimension="")
        .exclude(check_run=run)
        .order_by("-created_at", "-id")
        .values_list("score", flat=True)
        .first()
    )
    open_drop = Incident.objects.filter(entity=entity, kind="score_drop", closed_at__isnull=True).first()
    if open_drop and open_drop.baseline_score is not None and score >= open_drop.baseline_score:
        Incident.objects.filter(pk=open_drop.pk).update(closed_at=timezone.now())
        return []
    alerting = QualityAlerting.objects.filter(datastore=run.datastore).first()
    points = alerting.score_drop_points if alerting else 10.0
    if previous is None or open_drop or previous - score < points:
        return []
    return [
        Incident.objects.create(
            datastore=run.datastore,
            entity=entity,
            kind="score_drop",
            baseline_score=previous,
            summary=f"{entity.name}: quality score fell from {previous:.1f} to {score:.1f}",
        )
    ]

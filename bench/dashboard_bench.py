"""Benchmark: the dashboard (the admin's landing page) with 10,000 pipeline runs and 100,000 rule results.

Runs in a throwaway database (Django's test database for DATABASE_URL), so nothing of yours is touched. It
bulk-creates a catalog of 200 entities (10 columns each, two of them personal data, hourly storage samples
over 30 days), 20 pipelines with --runs runs spread over 30 days (about 80% succeeded, a running and a
queued one), one rule per entity and store-wide check runs each with a result per rule until there are
--results results (about 10% failed, 5% warned, 1% could not run) and an overall score per entity per
check, plus schema releases and applies, retention executions and open subject requests. Then it renders
the dashboard with Django's test client as a superuser, once untimed and --repeat times timed, and prints
min, median and p95 milliseconds and the number of queries of one page; the last line is a JSON object.

Jobs: with REDIS_URL set the page also reads RQ's queues and workers from Redis (part of the timing);
without it jobs run in-process and there is nothing to read.
Usage: DATABASE_URL=postgres://... python bench/dashboard_bench.py [--runs N] [--results N] [--repeat N]
"""

import argparse
import json
import random
import statistics
import sys
import time
from datetime import timedelta

import _common
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import F, OuterRef, Subquery
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

ENTITIES = 200
PIPELINES = 20
DAYS = 30
STORES = 4
RUN_STATUSES = ["succeeded"] * 16 + ["failed"] * 3 + ["cancelled"]
RESULT_STATUSES = ["passed"] * 84 + ["failed"] * 10 + ["warned"] * 5 + ["error"]


def catalog_build(user):
    """Data stores, 200 entities with 10 columns each (2 PII), releases and applies; returns the entities."""
    from catalog.models import Column, DataStore, Entity, SchemaApply, SchemaRelease

    stores = [DataStore.objects.create(name=f"store_{i}", engine="postgresql") for i in range(STORES)]
    entities = Entity.objects.bulk_create(
        Entity(datastore=stores[i % STORES], name=f"entity_{i:03d}") for i in range(ENTITIES)
    )
    Column.objects.bulk_create(
        Column(
            entity=entity,
            name=f"col_{j}",
            position=j + 1,
            data_type="text",
            pii_category=("direct_identifier", "quasi_identifier")[j] if j < 2 else "none",
        )
        for entity in entities
        for j in range(10)
    )
    for n, store in enumerate(stores):
        releases = [
            SchemaRelease.objects.create(
                datastore=store,
                version=v,
                message=f"release {v}",
                dialect="postgresql",
                snapshot={},
                checksum="0" * 64,
                up_sql="",
                down_sql="",
                created_by=user,
            )
            for v in range(1, 4 + n)
        ]
        SchemaApply.objects.create(
            datastore=store,
            release=releases[1],
            status="succeeded",
            requested_by=user,
            finished_at=timezone.now(),
        )
    return entities


def storage_build(entities, now, per_day: int) -> int:
    from catalog.models import StorageSample

    samples = [
        StorageSample(
            entity=entity,
            bytes=(i + 1) * 65536 + (DAYS * per_day - hour) * 512 * (i % 7),
            rows_estimate=(i + 1) * 100 + DAYS * per_day - hour,
            sampled_at=now - timedelta(hours=hour * 24 / per_day),
        )
        for i, entity in enumerate(entities)
        for hour in range(DAYS * per_day)
    ]
    StorageSample.objects.bulk_create(samples, batch_size=10_000)
    return len(samples)


def runs_build(entities, total: int, now, rng: random.Random) -> int:
    from pipelines.models import Pipeline, PipelineRun

    pipelines = [
        Pipeline.objects.create(name=f"pipeline_{i:02d}", target=entities[i]) for i in range(PIPELINES)
    ]
    runs = []
    for i in range(total - 2):
        started = now - timedelta(seconds=rng.uniform(600, DAYS * 86400))
        runs.append(
            PipelineRun(
                pipeline=pipelines[i % PIPELINES],
                pipeline_version=1,
                status=rng.choice(RUN_STATUSES),
                started_at=started,
                finished_at=started + timedelta(seconds=rng.lognormvariate(3.5, 0.8)),
                rows_loaded=rng.randrange(100_000),
            )
        )
    runs += [
        PipelineRun(
            pipeline=pipelines[0], pipeline_version=1, status="running", started_at=now, progress=0.37
        ),
        PipelineRun(pipeline=pipelines[1], pipeline_version=1, status="queued"),
    ]
    PipelineRun.objects.bulk_create(runs, batch_size=5000)
    # created_at is set on insert; the history is spread over the days the runs started.
    PipelineRun.objects.filter(started_at__isnull=False).update(created_at=F("started_at"))
    return PipelineRun.objects.count()


def quality_build(entities, total: int, now, rng: random.Random) -> int:
    """One rule per entity; store-wide check runs, each with a result per rule and a score per entity."""
    from quality.models import CheckRun, EntityScore, Rule, RuleResult

    rules = Rule.objects.bulk_create(
        Rule(entity=e, name="col_0_not_null", kind="not_null", columns=["col_0"], dimension="completeness")
        for e in entities
    )
    checks = CheckRun.objects.bulk_create(
        CheckRun(datastore_id=entities[0].datastore_id, status="succeeded")
        for _ in range(total // len(rules))
    )
    step = DAYS * 86400 / len(checks)
    for n, check in enumerate(checks):
        check.created_at = now - timedelta(seconds=step * n)
    CheckRun.objects.bulk_update(checks, ["created_at"], batch_size=5000)
    results, scores = [], []
    for check in checks:
        for rule in rules:
            status = rng.choice(RESULT_STATUSES)
            results.append(
                RuleResult(
                    check_run=check,
                    rule=rule,
                    entity_id=rule.entity_id,
                    rule_name=rule.name,
                    kind="not_null",
                    severity="warn" if status == "warned" else "error",
                    dimension="completeness",
                    status=status,
                    total_rows=10_000,
                    failing_rows=0 if status == "passed" else rng.randrange(1, 500),
                )
            )
            scores.append(EntityScore(check_run=check, entity_id=rule.entity_id, score=rng.uniform(70, 100)))
    RuleResult.objects.bulk_create(results, batch_size=10_000)
    EntityScore.objects.bulk_create(scores, batch_size=10_000)
    created = CheckRun.objects.filter(pk=OuterRef("check_run_id")).values("created_at")[:1]
    RuleResult.objects.update(created_at=Subquery(created))
    EntityScore.objects.update(created_at=Subquery(created))
    return RuleResult.objects.count()


def compliance_build(entities, now) -> None:
    from django.apps import apps

    if not apps.is_installed("compliance"):
        return
    from compliance.models import RetentionExecution, SubjectRequest

    RetentionExecution.objects.bulk_create(
        RetentionExecution(
            policy_version=1,
            policy_name=f"keep_{i % 40}",
            datastore_name="store_0",
            entity_name=entities[i % 40].name,
            action="delete",
            status=("succeeded", "succeeded", "failed", "blocked")[i % 4],
            dry_run=i % 5 == 0,
            rows_expired=i,
        )
        for i in range(300)
    )
    SubjectRequest.objects.bulk_create(
        SubjectRequest(datastore_id=entities[0].datastore_id, identifier=f"person{i}@example.com")
        for i in range(50)
    )


def measure(repeat: int) -> dict:
    user = get_user_model().objects.get(username="bench")
    client = Client()
    client.force_login(user)
    url = reverse("admin:index")
    response = client.get(url)  # untimed: connections, templates and caches warm up
    assert response.status_code == 200, response.status_code
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    timings.sort()
    return {
        "min_ms": round(timings[0], 1),
        "median_ms": round(statistics.median(timings), 1),
        "p95_ms": round(timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))], 1),
        "queries": len(captured),
        "bytes": len(response.content),
    }


def run(runs: int, results: int, repeat: int, samples_per_day: int) -> dict:
    rng = random.Random(7)
    now = timezone.now()
    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "bench")
    started = time.perf_counter()
    entities = catalog_build(user)
    samples = storage_build(entities, now, samples_per_day)
    runs_made = runs_build(entities, runs, now, rng)
    results_made = quality_build(entities, results, now, rng)
    compliance_build(entities, now)
    with connection.cursor() as cursor:
        # What autovacuum does after loads this size; left to it, it would run during the measurement.
        cursor.execute("VACUUM ANALYZE")
    build_s = time.perf_counter() - started
    figures = measure(repeat)
    return {
        "runs": runs_made,
        "results": results_made,
        "entities": len(entities),
        "storage_samples": samples,
        "build_s": round(build_s, 1),
        **figures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--results", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--samples-per-day", type=int, default=24, help="storage samples per entity and day")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL server: the dashboard is measured where it runs.")
    settings.DEBUG = False
    with _common.throwaway_catalog():
        figures = run(args.runs, args.results, args.repeat, args.samples_per_day)
    jobs = "in-process (no REDIS_URL)" if settings.CUSTODIAN_JOBS_SYNC else "RQ queues read from Redis"
    print(
        f"{figures['runs']} runs, {figures['results']} results, {figures['entities']} entities, "
        f"{figures['storage_samples']} storage samples (built in {figures['build_s']} s); jobs {jobs}"
    )
    print(
        f"dashboard over {args.repeat} renders: min {figures['min_ms']} ms, "
        f"median {figures['median_ms']} ms, p95 {figures['p95_ms']} ms; "
        f"{figures['queries']} queries; {figures['bytes']} bytes"
    )
    print(
        json.dumps(
            {key: figures[key] for key in ("runs", "results", "median_ms", "p95_ms", "queries")}
            | {"min_ms": figures["min_ms"]}
        )
    )


if __name__ == "__main__":
    main()

"""Runs as records: one at a time, cancel, retries, lost workers, schedules, dependencies, lineage, RQ."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection

from core.errors import CustodianError, RecordError
from core.runs import run_retry_delay, runs_reap
from pipelines.choices import ErrorKind, RunStatus, RunTrigger
from pipelines.models import LineageEdge, PipelineRun, PipelineState
from pipelines.runner import pipeline_run_execute
from pipelines.services import (
    PipelineBusy,
    pipeline_run_cancel,
    pipeline_run_request,
    pipeline_run_retry,
    pipelines_tick,
)
from tests.pipelines.conftest import CUSTOMER_CSV, make_pipeline, query, store_url

ROOT = Path(__file__).resolve().parents[2]


def big_csv(path: Path, rows: int) -> None:
    with path.open("w") as handle:
        handle.write("id,email,name,country,signup,score,active,updated\n")
        for i in range(1, rows + 1):
            handle.write(
                f"{i},user{i}@example.com,User {i},DE,2024-01-01,{i % 100},yes,2024-01-01 00:00:00\n"
            )


@pytest.mark.django_db
class TestRunRecords:
    def test_one_run_at_a_time_per_pipeline(self, shop, import_root, platform_admin):
        pipeline = make_pipeline(shop.customer, platform_admin)
        first = pipeline_run_request(pipeline, user=platform_admin, enqueue=False)
        with pytest.raises(PipelineBusy, match=f"run #{first.pk}, queued"):
            pipeline_run_request(pipeline, user=platform_admin, enqueue=False)

    def test_a_cancelled_queued_run_never_starts(self, shop, import_root, platform_admin):
        (import_root / "customers.csv").write_text(CUSTOMER_CSV)
        pipeline = make_pipeline(shop.customer, platform_admin)
        run = pipeline_run_request(pipeline, user=platform_admin, enqueue=False)
        assert "cancelled before it started" in pipeline_run_cancel(run, user=platform_admin)
        assert pipeline_run_execute(run.pk) is None
        run.refresh_from_db()
        assert run.status == RunStatus.CANCELLED and "by platform" in run.error
        assert query(shop, "SELECT count(*) FROM app.customer") == [(0,)]
        with pytest.raises(CustodianError, match="already finished"):
            pipeline_run_cancel(run)

    def test_finished_runs_cannot_be_changed_or_deleted(self, shop, import_root, platform_admin):
        (import_root / "customers.csv").write_text(CUSTOMER_CSV)
        run = pipeline_run_request(make_pipeline(shop.customer, platform_admin), enqueue=False)
        run = pipeline_run_execute(run.pk)
        run.error = "rewritten"
        with pytest.raises(RecordError, match="finished"):
            run.save()
        with pytest.raises(RecordError, match="cannot be deleted"):
            run.delete()

    def test_success_records_lineage_and_config(self, shop, import_root, platform_admin):
        (import_root / "customers.csv").write_text(CUSTOMER_CSV)
        pipeline = make_pipeline(shop.customer, platform_admin)
        run = pipeline_run_execute(pipeline_run_request(pipeline, enqueue=False).pk)
        assert run.config["name"] == "customers" and run.pipeline_version == pipeline.version
        edges = {e.column.name: e for e in LineageEdge.objects.filter(pipeline=pipeline)}
        assert set(edges) == {m.column.name for m in pipeline.mappings.all()}
        assert edges["email"].source == "file:customers.csv" and edges["email"].source_field == "email"
        assert edges["email"].steps == "trim → lower" and edges["email"].last_run == run
        assert {"source_field": "name", "column": "full_name"}.items() <= run.lineage[2].items()

    def test_transient_errors_are_retried_with_backoff_then_given_up(
        self, shop, import_root, platform_admin, settings, monkeypatch, django_capture_on_commit_callbacks
    ):
        settings.CUSTODIAN_JOBS_SYNC = True
        (import_root / "customers.csv").write_text(CUSTOMER_CSV)
        pipeline = make_pipeline(shop.customer, platform_admin, max_retries=2)
        monkeypatch.setenv(shop.url_env, "postgresql://postgres@127.0.0.1:1/nowhere")  # connection refused
        with django_capture_on_commit_callbacks(execute=True):
            pipeline_run_request(pipeline, user=platform_admin)
        runs = list(PipelineRun.objects.filter(pipeline=pipeline).order_by("pk"))
        assert [r.attempt for r in runs] == [1, 2, 3]
        assert all(r.status == RunStatus.FAILED and r.error_kind == ErrorKind.TRANSIENT for r in runs)
        assert "retrying now" in runs[0].error and "gave up after 3 attempts" in runs[2].error
        assert runs[1].retry_of == runs[0] and runs[1].trigger == RunTrigger.RETRY
        assert run_retry_delay(1) == 10 and run_retry_delay(2) == 30 and run_retry_delay(9) == 600

    def test_data_errors_are_not_retried(
        self, shop, import_root, platform_admin, settings, django_capture_on_commit_callbacks
    ):
        settings.CUSTODIAN_JOBS_SYNC = True
        pipeline = make_pipeline(shop.customer, platform_admin, source_path="missing.csv")
        with django_capture_on_commit_callbacks(execute=True):
            pipeline_run_request(pipeline, user=platform_admin)
        run = PipelineRun.objects.get(pipeline=pipeline)
        assert run.error_kind == ErrorKind.DATA and "No file 'missing.csv'" in run.error

    def test_a_load_the_database_refused_reports_nothing_loaded_and_an_honest_rate(
        self, shop, import_root, platform_admin
    ):
        from tests.catalog.schema.conftest import run_sql

        (import_root / "customers.csv").write_text(CUSTOMER_CSV)
        run_sql(store_url(shop), "INSERT INTO app.customer (customer_id, email) VALUES (3, 'x@example.org')")
        pipeline = make_pipeline(shop.customer, platform_admin)
        run = pipeline_run_execute(pipeline_run_request(pipeline, enqueue=False).pk)
        assert run.status == RunStatus.FAILED and "The target database refused the load" in run.error
        assert (
            "a row repeats the key of a row already in the table or of a row in an earlier batch" in run.error
        )
        assert (run.rows_extracted, run.rows_loaded, run.rows_rejected) == (3, 0, 0)
        assert (run.rows_inserted, run.rows_updated) == (0, 0)
        assert run.rows_per_second == round(3 / run.duration, 1)
        assert query(shop, "SELECT count(*) FROM app.customer") == [(1,)]

    def test_retry_of_a_failed_run_is_a_new_linked_run(self, shop, import_root, platform_admin):
        pipeline = make_pipeline(shop.customer, platform_admin, source_path="missing.csv")
        failed = pipeline_run_execute(pipeline_run_request(pipeline, enqueue=False).pk)
        (import_root / "missing.csv").write_text(CUSTOMER_CSV)
        retry = pipeline_run_retry(failed, user=platform_admin)
        assert retry.retry_of == failed and retry.attempt == 2 and retry.trigger == RunTrigger.RETRY

    def test_a_run_with_a_stale_heartbeat_is_marked_lost(self, shop, platform_admin):
        pipeline = make_pipeline(shop.customer, platform_admin)
        run = pipeline_run_request(pipeline, enqueue=False)
        long_ago = datetime.now(UTC) - timedelta(minutes=5)
        PipelineRun.objects.filter(pk=run.pk).update(
            status=RunStatus.RUNNING, started_at=long_ago, heartbeat_at=long_ago, rows_loaded=40
        )
        assert runs_reap() == 1
        run.refresh_from_db()
        assert run.status == RunStatus.FAILED and run.error_kind == ErrorKind.LOST
        assert run.rows_loaded == 0  # what it had copied was rolled back with its transaction
        assert "stopped sending heartbeats" in run.error
        pipeline_run_request(pipeline, enqueue=False)  # no longer busy

    def test_schedule_tick_queues_due_pipelines_once(self, shop, import_root, platform_admin, settings):
        settings.CUSTODIAN_JOBS_SYNC = True
        pipeline = make_pipeline(shop.customer, platform_admin, schedule="*/5 * * * *")
        now = datetime(2026, 1, 1, 10, 2, tzinfo=UTC)
        assert pipelines_tick(now=now) == []  # first sight: next run computed
        assert PipelineState.objects.get(pipeline=pipeline).next_run_at == datetime(
            2026, 1, 1, 10, 5, tzinfo=UTC
        )
        queued = pipelines_tick(now=now + timedelta(minutes=3))
        assert [r.trigger for r in queued] == [RunTrigger.SCHEDULE]
        assert pipelines_tick(now=now + timedelta(minutes=4)) == []
        assert PipelineState.objects.get(pipeline=pipeline).next_run_at == datetime(
            2026, 1, 1, 10, 10, tzinfo=UTC
        )

    def test_a_pipeline_runs_after_the_one_it_depends_on_succeeds(
        self, shop, import_root, platform_admin, settings, django_capture_on_commit_callbacks
    ):
        settings.CUSTODIAN_JOBS_SYNC = True
        (import_root / "customers.csv").write_text(CUSTOMER_CSV)
        first = make_pipeline(shop.customer, platform_admin)
        second = make_pipeline(
            shop.customer, platform_admin, name="customers-again", load_mode="upsert", run_after=first
        )
        with django_capture_on_commit_callbacks(execute=True):
            pipeline_run_request(first, user=platform_admin)
        follower = PipelineRun.objects.get(pipeline=second)
        assert follower.trigger == RunTrigger.DEPENDENCY and follower.status == RunStatus.SUCCEEDED
        assert follower.rows_updated == 0 and follower.rows_inserted == 0


def wait_for(predicate, timeout=60.0, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("timed out waiting")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_cancel_stops_a_running_load_and_leaves_the_target_as_it_was(
    shop, import_root, platform_admin, settings
):
    settings.CUSTODIAN_HEARTBEAT_SECONDS = 0.2
    big_csv(import_root / "customers.csv", 200_000)
    pipeline = make_pipeline(shop.customer, platform_admin, batch_size=1000)
    run = pipeline_run_request(pipeline, user=platform_admin, enqueue=False)
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.setdefault("run", pipeline_run_execute(run.pk)))
    worker.start()
    try:
        wait_for(lambda: PipelineRun.objects.get(pk=run.pk).rows_loaded > 0)
        assert "is stopping" in pipeline_run_cancel(run, user=platform_admin)
    finally:
        worker.join(timeout=120)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED and run.error_kind == ErrorKind.CANCELLED, run.error
    assert query(shop, "SELECT count(*) FROM app.customer") == [(0,)]


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_real_worker_runs_the_job_and_a_killed_worker_is_detected(
    shop, import_root, platform_admin, settings
):
    """Through Redis to `manage.py rqworker etl`: a run succeeds; then a worker killed mid-run leaves the
    target untouched, its heartbeat goes stale and the run is marked failed."""
    import django_rq

    settings.CUSTODIAN_JOBS_SYNC = False
    queue = django_rq.get_queue("etl")
    queue.empty()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
        "REDIS_URL": settings.RQ_QUEUES["etl"]["URL"],
        shop.url_env: store_url(shop),
        "CUSTODIAN_IMPORT_ROOT": str(import_root),
        "CUSTODIAN_HEARTBEAT_SECONDS": "0.5",
    }
    (import_root / "customers.csv").write_text(CUSTOMER_CSV)
    pipeline = make_pipeline(shop.customer, platform_admin, load_mode="upsert")
    run = pipeline_run_request(pipeline, user=platform_admin)
    burst = subprocess.run(
        [sys.executable, "manage.py", "rqworker", "etl", "--burst"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert burst.returncode == 0, burst.stderr
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert query(shop, "SELECT count(*) FROM app.customer") == [(3,)]

    big_csv(import_root / "customers.csv", 300_000)
    pipeline.batch_size = 2000
    pipeline.save()
    doomed = pipeline_run_request(pipeline, user=platform_admin)
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "rqworker", "etl"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: PipelineRun.objects.get(pk=doomed.pk).rows_loaded > 0, timeout=120)
    finally:
        for pid in children(worker.pid):  # RQ runs the job in a forked "work horse" in its own session
            os.kill(pid, signal.SIGKILL)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    settings.CUSTODIAN_HEARTBEAT_STALE_SECONDS = 3
    assert runs_reap() == 0  # killed, but its last beat is within the stale window
    time.sleep(3.5)
    reaped = runs_reap()
    doomed.refresh_from_db()
    assert reaped == 1, (doomed.status, doomed.error, doomed.rows_loaded, doomed.heartbeat_at)
    doomed.refresh_from_db()
    assert doomed.status == RunStatus.FAILED and doomed.error_kind == ErrorKind.LOST
    wait_for(
        lambda: (
            query(
                shop,
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                "'custodian-pipeline' AND state = 'idle in transaction'",
            )
            == [(0,)]
        )
    )
    assert query(shop, "SELECT count(*) FROM app.customer") == [(3,)]
    queue.empty()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_scheduler_tick_runs_on_a_worker_with_scheduler_and_queues_due_runs(
    shop, import_root, platform_admin, settings
):
    """Saving a scheduled pipeline schedules the tick; `rqworker --with-scheduler` runs it, and the tick
    queues the pipeline once its cron time has come, then schedules itself again."""
    import django_rq

    from core.scheduler import TICK_JOB_ID

    settings.CUSTODIAN_JOBS_SYNC = False
    queue, ticks = django_rq.get_queue("etl"), django_rq.get_queue("default")
    for q in (queue, ticks):
        q.empty()
        for job_id in q.scheduled_job_registry.get_job_ids():
            q.scheduled_job_registry.remove(job_id, delete_job=True)
    pipeline = make_pipeline(shop.customer, platform_admin, schedule="* * * * *")
    assert TICK_JOB_ID in ticks.scheduled_job_registry.get_job_ids()
    PipelineState.objects.create(pipeline=pipeline, next_run_at=datetime.now(UTC) - timedelta(minutes=1))
    time.sleep(1.5)
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
        "REDIS_URL": settings.RQ_QUEUES["etl"]["URL"],
    }
    worker = subprocess.run(
        [sys.executable, "manage.py", "rqworker", "default", "--burst", "--with-scheduler"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert worker.returncode == 0, worker.stderr
    run = PipelineRun.objects.get(pipeline=pipeline)
    assert run.trigger == RunTrigger.SCHEDULE
    assert run.status == RunStatus.QUEUED and queue.count == 1  # waiting for an etl worker
    assert TICK_JOB_ID in ticks.scheduled_job_registry.get_job_ids()  # the next tick is waiting
    for q in (queue, ticks):
        q.empty()
        for job_id in q.scheduled_job_registry.get_job_ids():
            q.scheduled_job_registry.remove(job_id, delete_job=True)


@pytest.mark.django_db
def test_a_run_is_refused_before_it_starts_when_the_header_lacks_a_mapped_field(
    shop, import_root, platform_admin
):
    from pipelines.services import PipelineNotRunnable

    (import_root / "customers.csv").write_text(CUSTOMER_CSV.replace("email,", "e_mail,", 1))
    pipeline = make_pipeline(shop.customer, platform_admin)
    with pytest.raises(PipelineNotRunnable, match="The source has no field 'email'.*it has: id, e_mail"):
        pipeline_run_request(pipeline, user=platform_admin)
    assert not PipelineRun.objects.exists()


@pytest.mark.django_db
def test_quality_after_load_fails_the_run_but_says_the_load_was_committed(shop, import_root, platform_admin):
    from quality.models import CheckRun

    (import_root / "customers.csv").write_text(CUSTOMER_CSV)
    # A row already in the table shares Ada's e-mail (the unique constraint dropped): the rows load, and
    # the implied unique rule on email fails after the load. (Within the source, the pipeline rejects a
    # repeated e-mail itself.)
    from tests.catalog.schema.conftest import run_sql

    run_sql(
        store_url(shop),
        "ALTER TABLE app.customer DROP CONSTRAINT IF EXISTS customer_email_key;"
        "DO $$ DECLARE c text; BEGIN FOR c IN SELECT conname FROM pg_constraint WHERE "
        "conrelid = 'app.customer'::regclass AND contype = 'u' LOOP EXECUTE "
        "'ALTER TABLE app.customer DROP CONSTRAINT ' || quote_ident(c); END LOOP; END $$;"
        "INSERT INTO app.customer (customer_id, email) VALUES (99, 'ada@example.com');",
    )
    pipeline = make_pipeline(shop.customer, platform_admin, run_quality=True)
    run = pipeline_run_execute(pipeline_run_request(pipeline, enqueue=False).pk)
    assert run.status == RunStatus.FAILED and run.error_kind == ErrorKind.QUALITY
    assert run.error.startswith("The load was committed, then 1 error-severity quality rule(s) failed")
    assert "email_unique" in run.error and run.rows_loaded == 3
    assert query(shop, "SELECT count(*) FROM app.customer") == [(4,)]
    check = CheckRun.objects.get(pipeline_run_id=run.pk)
    assert check.rules_failed == 1


@pytest.mark.django_db
def test_quarantined_rows_are_purged_once_their_run_is_older_than_the_retention(
    shop, import_root, platform_admin, settings
):
    from django.test.utils import CaptureQueriesContext

    from pipelines.models import RejectedRow
    from pipelines.services import quarantine_expired, quarantine_purge

    settings.CUSTODIAN_QUARANTINE_DAYS = 30
    (import_root / "customers.csv").write_text(CUSTOMER_CSV + "4,not-an-email,Bad,de,,,,2024-03-04\n")
    first = make_pipeline(shop.customer, platform_admin, reject_threshold_percent=50)
    second = make_pipeline(
        shop.customer, platform_admin, name="again", load_mode="upsert", reject_threshold_percent=50
    )
    old = pipeline_run_execute(pipeline_run_request(first, enqueue=False).pk)
    recent = pipeline_run_execute(pipeline_run_request(second, enqueue=False).pk)
    assert (old.rejected_rows.count(), recent.rejected_rows.count()) == (1, 1)
    now = recent.finished_at
    PipelineRun.objects.filter(pk=old.pk).update(finished_at=now - timedelta(days=31))
    old.refresh_from_db()
    assert quarantine_expired(old, now=now) and not quarantine_expired(recent, now=now)

    with CaptureQueriesContext(connection) as purge:
        assert quarantine_purge(now=now) == 1
    assert len(purge) == 1  # one DELETE, whatever the number of rows
    assert list(RejectedRow.objects.values_list("run_id", flat=True)) == [recent.pk]
    old.refresh_from_db()
    assert old.rows_rejected == 1  # the run keeps its counts
    assert pipelines_tick(now=now + timedelta(days=30, minutes=1)) == [] and not RejectedRow.objects.exists()

# ruff: noqa: F811
"""Every kind of run whose worker is killed mid-run is failed by the one reaper (core.runs.runs_reap) once
its heartbeat is older than the stale window, and not before.

Each test holds a lock on the `shop` store's customers table, so the run blocks on it while RUNNING; then
the worker (an `rqworker`, or for a subject request the process running the service) is sent SIGKILL.
Pipeline runs have the same proof in tests/pipelines/test_runs.py (a large load killed mid-COPY).
"""

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from django.conf import settings as django_settings
from django.db import connection

from catalog.choices import DataType
from catalog.models import SchemaApply
from catalog.schema.apply import schema_apply_enqueue
from catalog.schema.releases import release_publish
from compliance.choices import ExecutionStatus, RequestStatus
from compliance.models import RetentionExecution, SubjectRequest
from compliance.retention import retention_execution_request
from compliance.subjects import subject_request_create
from core.choices import RunStatus
from core.models import RunEvent
from core.runs import runs_reap
from quality.models import CheckRun
from quality.services import check_run_request

# The compliance `shop` fixture and those it stands on, which the tests take as arguments (hence F811).
from tests.catalog.schema.conftest import scratch_database, target_store  # noqa: F401
from tests.compliance.conftest import policy, shop  # noqa: F401
from tests.conftest import add_column
from tests.pipelines.test_runs import children, wait_for

ROOT = Path(__file__).resolve().parents[1]
STALE_SECONDS = 3
BEAT_SECONDS = "0.3"


@contextmanager
def customers_locked(shop):
    """Hold ACCESS EXCLUSIVE on app.customers until the block ends, so any run touching it waits."""
    with psycopg.connect(shop.url, autocommit=True) as holder:
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE app.customers IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
    waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = %s"
    with psycopg.connect(shop.url, autocommit=True) as watcher:
        name = watcher.info.dbname
        wait_for(lambda: watcher.execute(waiting, [name]).fetchone()[0] == 0, timeout=30)


def blocked_on_the_lock(shop) -> bool:
    with psycopg.connect(shop.url, autocommit=True) as watcher:
        found = watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = %s",
            [watcher.info.dbname],
        ).fetchone()[0]
    return found > 0


def worker_env(shop) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
        "REDIS_URL": django_settings.RQ_QUEUES["default"]["URL"],
        shop.store.url_env: os.environ[shop.store.url_env],
        "CUSTODIAN_HEARTBEAT_SECONDS": BEAT_SECONDS,
    }


def kill(process: subprocess.Popen) -> None:
    for pid in children(process.pid):  # RQ runs the job in a forked work horse
        os.kill(pid, signal.SIGKILL)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def assert_reaped_after_the_stale_window(run, settings, claimed_by: str = "worker") -> None:
    """Not failed while its heartbeat is fresher than the window; failed by the reaper after it."""
    model = type(run)
    settings.CUSTODIAN_HEARTBEAT_STALE_SECONDS = STALE_SECONDS
    run.refresh_from_db()
    assert run.status == model.run_kind.running
    assert runs_reap() == 0  # killed, but its last beat is within the window
    run.refresh_from_db()
    assert run.status == model.run_kind.running
    time.sleep(STALE_SECONDS + 0.5)
    assert runs_reap() == 1
    run.refresh_from_db()
    assert run.status == model.run_kind.failed and run.finished_at is not None
    assert run.error.startswith("The worker stopped sending heartbeats at"), run.error
    assert run.run_kind.lost_note in run.error
    events = RunEvent.objects.filter(kind=model._meta.label_lower, run_id=run.pk)
    assert [(e.from_status, e.to_status, e.agent) for e in events] == [
        ("", model.run_kind.queued, events[0].agent),
        (model.run_kind.queued, model.run_kind.running, claimed_by),
        (model.run_kind.running, model.run_kind.failed, "reaper"),
    ]


def killed_on_a_worker(shop, run, queue: str, settings) -> None:
    """Run `run` on a real `rqworker queue`, kill it while the run waits on the lock, reap it."""
    import django_rq

    process = subprocess.Popen(
        [sys.executable, "manage.py", "rqworker", queue],
        cwd=ROOT,
        env=worker_env(shop),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        model = type(run)
        wait_for(lambda: model.objects.get(pk=run.pk).status == model.run_kind.running, timeout=120)
        wait_for(lambda: blocked_on_the_lock(shop), timeout=60)
        started = model.objects.get(pk=run.pk).started_at
        wait_for(lambda: model.objects.get(pk=run.pk).heartbeat_at > started, timeout=30)  # it beats
    finally:
        kill(process)
        django_rq.get_queue(queue).empty()
    assert_reaped_after_the_stale_window(run, settings)


@pytest.fixture
def on_workers(settings):
    import django_rq

    settings.CUSTODIAN_JOBS_SYNC = False
    for queue in ("default", "quality"):
        django_rq.get_queue(queue).empty()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_schema_apply_whose_worker_is_killed_is_failed_after_the_stale_window(
    shop,
    steward,
    settings,
    on_workers,
):
    add_column(shop.customers, "nickname", DataType.TEXT, steward)
    release_publish(datastore=shop.store, user=steward, message="nickname")
    with customers_locked(shop):
        run = schema_apply_enqueue(datastore=shop.store, user=steward, version=2)
        killed_on_a_worker(shop, run, "default", settings)
    assert SchemaApply.objects.get(pk=run.pk).status == RunStatus.FAILED
    # A new apply may be requested: the lost one no longer holds the store
    assert schema_apply_enqueue(datastore=shop.store, user=steward, version=2).status == RunStatus.QUEUED


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_check_run_whose_worker_is_killed_is_failed_after_the_stale_window(
    shop,
    steward,
    settings,
    on_workers,
):
    with customers_locked(shop):
        run = check_run_request(datastore=shop.store, entity=shop.customers, user=steward)
        killed_on_a_worker(shop, run, "quality", settings)
    assert CheckRun.objects.get(pk=run.pk).status == RunStatus.FAILED


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_retention_execution_whose_worker_is_killed_is_failed_after_the_stale_window(
    shop,
    officer,
    settings,
    on_workers,
):
    closed = policy(shop.customers, officer, "closed accounts", "closed_at", 2)
    with customers_locked(shop):
        run = retention_execution_request(policy=closed, user=officer)
        killed_on_a_worker(shop, run, "default", settings)
    assert RetentionExecution.objects.get(pk=run.pk).status == ExecutionStatus.FAILED
    # Failed after seconds rather than 12 hours: the policy may run again at once
    again = retention_execution_request(policy=closed, user=officer, enqueue=False)
    assert again.status == ExecutionStatus.QUEUED


FIND = (
    "from compliance.models import SubjectRequest; from compliance.subjects import subject_request_find; "
    "subject_request_find(request=SubjectRequest.objects.get(pk={pk}))"
)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_subject_request_whose_process_is_killed_is_failed_after_the_stale_window(
    shop,
    officer,
    settings,
):
    """The process running a subject request (a web request) is its worker: it beats while it runs."""
    request = subject_request_create(datastore=shop.store, identifier="bob@example.com", user=officer)
    with customers_locked(shop):
        process = subprocess.Popen(
            [sys.executable, "manage.py", "shell", "-c", FIND.format(pk=request.pk)],
            cwd=ROOT,
            env=worker_env(shop),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_for(lambda: SubjectRequest.objects.get(pk=request.pk).status == RequestStatus.RUNNING, 120)
            wait_for(lambda: blocked_on_the_lock(shop), timeout=60)
            started = SubjectRequest.objects.get(pk=request.pk).started_at
            wait_for(lambda: SubjectRequest.objects.get(pk=request.pk).heartbeat_at > started, timeout=30)
        finally:
            kill(process)
        assert_reaped_after_the_stale_window(request, settings, claimed_by="service")
    request.refresh_from_db()
    assert request.status == RequestStatus.FAILED and request.is_finished

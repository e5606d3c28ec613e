"""The shared heartbeat of running records, and the reapers of schema applies and check runs that use it."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.models import SchemaApply
from catalog.schema.releases import release_publish
from core.choices import RunStatus
from core.heartbeat import Heartbeat, heartbeat_stale_before
from core.runs import runs_reap
from quality.models import CheckRun

LONG_AGO = timedelta(hours=3)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_heartbeat_touches_a_running_record_from_its_own_connection_until_the_block_ends(datastore):
    then = timezone.now() - LONG_AGO
    running = CheckRun.objects.create(datastore=datastore, status=RunStatus.RUNNING, heartbeat_at=then)
    finished = CheckRun.objects.create(datastore=datastore, status=RunStatus.SUCCEEDED, heartbeat_at=then)
    with Heartbeat(CheckRun, running.pk, interval=0.05) as heartbeat:
        time.sleep(0.4)
    running.refresh_from_db()
    assert running.heartbeat_at > heartbeat_stale_before()  # fresh: beaten while the block ran
    assert not heartbeat.is_alive()
    stopped_at = running.heartbeat_at
    time.sleep(0.2)
    running.refresh_from_db()
    assert running.heartbeat_at == stopped_at  # no beat after the block
    with Heartbeat(CheckRun, finished.pk, interval=0.05):
        time.sleep(0.2)
    finished.refresh_from_db()
    assert finished.heartbeat_at == then  # finished records are never touched


@pytest.mark.django_db
def test_check_runs_whose_worker_died_or_that_no_worker_took_are_failed(datastore):
    now = timezone.now()
    lost = CheckRun.objects.create(
        datastore=datastore, status=RunStatus.RUNNING, started_at=now - LONG_AGO, heartbeat_at=now - LONG_AGO
    )
    alive = CheckRun.objects.create(
        datastore=datastore, status=RunStatus.RUNNING, started_at=now - LONG_AGO, heartbeat_at=now
    )
    waiting = CheckRun.objects.create(datastore=datastore)
    forgotten = CheckRun.objects.create(datastore=datastore)
    CheckRun.objects.filter(pk=forgotten.pk).update(created_at=now - timedelta(hours=7))

    assert runs_reap(now=now, kinds=[CheckRun]) == 2
    states = dict(CheckRun.objects.values_list("pk", "status"))
    assert states[lost.pk] == states[forgotten.pk] == RunStatus.FAILED
    assert (states[alive.pk], states[waiting.pk]) == (RunStatus.RUNNING, RunStatus.QUEUED)
    lost.refresh_from_db()
    assert "stopped sending heartbeats" in lost.error and lost.finished_at == now
    assert "No worker took this check" in CheckRun.objects.get(pk=forgotten.pk).error


@pytest.mark.django_db
def test_an_apply_whose_heartbeat_went_stale_is_failed_not_after_two_hours(customer, steward):
    release = release_publish(datastore=customer.datastore, user=steward, message="v1")
    now = timezone.now()

    def apply(**fields):
        return SchemaApply.objects.create(
            datastore=customer.datastore, release=release, requested_by=steward, **fields
        )

    stale = apply(
        status=RunStatus.RUNNING,
        started_at=now - timedelta(minutes=5),
        heartbeat_at=now - timedelta(minutes=5),
    )
    beating = apply(status=RunStatus.RUNNING, started_at=now - LONG_AGO, heartbeat_at=now)
    legacy = apply(status=RunStatus.RUNNING, started_at=now - LONG_AGO)  # recorded before heartbeats
    runs_reap(kinds=[SchemaApply], datastore=customer.datastore)
    states = dict(SchemaApply.objects.values_list("pk", "status"))
    assert states[stale.pk] == states[legacy.pk] == RunStatus.FAILED
    assert states[beating.pk] == RunStatus.RUNNING  # running for hours, but alive
    stale.refresh_from_db()
    assert stale.error.startswith("The worker stopped sending heartbeats at")

"""The one run lifecycle (core.runs): claims and finishes are conditional, cancels reach the worker through
its heartbeat, every state change is a RunEvent, and every kind of run is reaped by one function."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.models import SchemaApply
from compliance.models import RetentionExecution, SubjectRequest
from core.choices import RunStatus
from core.models import RunEvent
from core.runs import (
    run_cancel,
    run_claim,
    run_finish,
    run_heartbeat,
    run_kinds,
    run_request,
    run_retry_decide,
    runs_reap,
)
from pipelines.models import PipelineRun
from quality.models import CheckRun


def events(run) -> list[tuple]:
    found = RunEvent.objects.filter(kind=run._meta.label_lower, run_id=run.pk)
    return [(e.from_status, e.to_status, e.agent, e.user_id) for e in found]


def test_every_kind_of_run_is_registered_by_extending_run_record():
    assert set(run_kinds()) == {SchemaApply, PipelineRun, CheckRun, RetentionExecution, SubjectRequest}


@pytest.mark.django_db
def test_a_second_claim_loses_and_a_finish_after_the_reaper_changes_nothing(datastore, platform_admin):
    run = run_request(CheckRun(datastore=datastore), user=platform_admin, enqueue=False)
    claimed = run_claim(CheckRun, run.pk)
    assert claimed.status == RunStatus.RUNNING and claimed.started_at == claimed.heartbeat_at
    assert run_claim(CheckRun, run.pk) is None  # another worker took it first

    long_ago = timezone.now() - timedelta(hours=1)
    CheckRun.objects.filter(pk=run.pk).update(heartbeat_at=long_ago)
    assert runs_reap(kinds=[CheckRun]) == 1
    assert run_finish(claimed, RunStatus.SUCCEEDED, rules_total=3) is False  # the reaper came first
    assert (claimed.status, claimed.rules_total) == (RunStatus.FAILED, 0)
    assert events(run) == [
        ("", RunStatus.QUEUED, "user", platform_admin.pk),
        (RunStatus.QUEUED, RunStatus.RUNNING, "worker", None),
        (RunStatus.RUNNING, RunStatus.FAILED, "reaper", None),
    ]


@pytest.mark.django_db
def test_a_queued_run_is_cancelled_at_once_and_its_worker_then_does_not_start_it(datastore, platform_admin):
    run = run_request(CheckRun(datastore=datastore), enqueue=False)
    assert run_cancel(run, user=platform_admin) is True
    assert run.status == RunStatus.CANCELLED and run.finished_at is not None
    assert run_claim(CheckRun, run.pk) is None
    assert events(run)[-1] == (RunStatus.QUEUED, RunStatus.CANCELLED, "user", platform_admin.pk)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_running_run_asked_to_cancel_hears_it_at_its_next_heartbeat(datastore, platform_admin, settings):
    settings.CUSTODIAN_HEARTBEAT_SECONDS = 0.05
    run = run_claim(CheckRun, run_request(CheckRun(datastore=datastore), enqueue=False).pk)
    heard = []
    with run_heartbeat(run, on_cancel=lambda: heard.append(True)) as heartbeat:
        assert run_cancel(run, user=platform_admin) is False  # running: asked, not yet stopped
        assert run.status == RunStatus.RUNNING and run.cancel_requested
        deadline = time.monotonic() + 5
        while not heartbeat.cancelled.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert heartbeat.cancelled.is_set() and heard == [True]
    assert run_finish(run, RunStatus.CANCELLED, error="Stopped.") is True
    assert [e[:2] for e in events(run)] == [
        ("", RunStatus.QUEUED),
        (RunStatus.QUEUED, RunStatus.RUNNING),
        (RunStatus.RUNNING, RunStatus.RUNNING),  # the request to stop, by the user
        (RunStatus.RUNNING, RunStatus.CANCELLED),
    ]


@pytest.mark.django_db
def test_a_transient_failure_is_retried_with_backoff_until_the_retries_are_used(datastore, settings):
    settings.CUSTODIAN_JOBS_SYNC = False
    run = CheckRun(datastore=datastore, attempt=1)
    assert run_retry_decide(run, "Connection lost", max_retries=2) == (
        "Connection lost. Nothing was loaded; retrying in 10 s (attempt 2 of 3).",
        10.0,
    )
    run.attempt = 3
    assert run_retry_decide(run, "Connection lost", max_retries=2) == (
        "Connection lost. Nothing was loaded; gave up after 3 attempts.",
        None,
    )


@pytest.mark.django_db
def test_a_received_subject_request_waits_for_a_person_and_is_never_reaped_as_unclaimed(datastore):
    request = SubjectRequest.objects.create(datastore=datastore, identifier="ada@example.com")
    SubjectRequest.objects.filter(pk=request.pk).update(created_at=timezone.now() - timedelta(days=30))
    assert runs_reap(kinds=[SubjectRequest]) == 0


@pytest.mark.django_db
def test_a_runs_admin_page_shows_its_state_changes_and_who_made_them(client, datastore, superuser):
    run = run_request(CheckRun(datastore=datastore), user=superuser, enqueue=False)
    run_cancel(run, user=superuser)
    client.force_login(superuser)
    page = client.get(f"/admin/quality/checkrun/{run.pk}/change/").content.decode()
    assert 'id="run-events"' in page and "State changes" in page
    assert "<td>Queued</td><td>Cancelled</td><td>root</td><td>—</td>" in page


@pytest.mark.django_db
def test_a_runs_state_changes_are_dated_like_the_rest_of_its_page(client, datastore, superuser):
    # The run's Queued/Started/Finished rows, the audit trail and lineage all write 2026-12-08 02:36:05.
    run = run_request(CheckRun(datastore=datastore), user=superuser, enqueue=False)
    client.force_login(superuser)
    page = client.get(f"/admin/quality/checkrun/{run.pk}/change/").content.decode()
    queued = timezone.localtime(RunEvent.objects.get(run_id=run.pk, kind="quality.checkrun").at)
    assert f"<td>{queued:%Y-%m-%d %H:%M:%S}</td><td>—</td><td>Queued</td>" in page


@pytest.mark.django_db
def test_a_subject_request_left_running_before_heartbeats_existed_is_failed_after_six_hours(datastore):
    """Before issue 17 a web process killed mid-erasure left its request running forever."""
    now = timezone.now()
    stuck, recent = (
        SubjectRequest.objects.create(
            datastore=datastore, identifier=name, status="running", started_at=now - age
        )
        for name, age in (("ada@example.com", timedelta(hours=7)), ("bob@example.com", timedelta(hours=1)))
    )
    assert runs_reap(kinds=[SubjectRequest]) == 1
    stuck.refresh_from_db()
    assert stuck.status == "failed" and stuck.error.startswith("The worker stopped without reporting")
    assert SubjectRequest.objects.get(pk=recent.pk).status == "running"

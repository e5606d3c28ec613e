"""Incidents open once and close when rules pass; e-mail and webhook alerts; cron schedules."""

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail

from catalog.services import catalog_object_save
from quality.choices import CheckTrigger
from quality.models import CheckRun, EntityScore, Incident, QualityAlerting, QualitySchedule
from quality.runner import check_run_execute
from quality.services import check_run_request, quality_tick
from tests.quality.conftest import run_sql, store_url

pytestmark = pytest.mark.django_db


def check(store, entity):
    return check_run_execute(check_run_request(datastore=store, entity=entity, enqueue=False).pk)


@pytest.fixture
def webhook(settings):
    """A real HTTP endpoint on localhost that keeps what it receives (an allow-listed internal receiver)."""
    settings.CUSTODIAN_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.CUSTODIAN_JOBS_SYNC = True  # the alert jobs run here as the check's transaction commits
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


def test_a_failing_error_rule_is_announced_once_per_incident(
    dq, steward, webhook, django_capture_on_commit_callbacks
):
    url, received = webhook
    catalog_object_save(
        obj=QualityAlerting(datastore=dq, emails="dq@example.com, lead@example.com", webhook_url=url),
        user=steward,
    )
    with django_capture_on_commit_callbacks(execute=True):
        check(dq, dq.customer)
    opened = Incident.objects.filter(kind="rule", closed_at__isnull=True)
    assert opened.count() == 6  # the six failing catalog rules
    assert len(mail.outbox) == 6 and mail.outbox[0].to == ["dq@example.com", "lead@example.com"]
    assert len(received) == 6 and {"incident", "summary", "rule", "entity"} <= set(received[0])
    assert all(i.notified_at and not i.notify_error for i in opened)

    with django_capture_on_commit_callbacks(execute=True):
        check(dq, dq.customer)  # still failing: same incidents, no new alerts
    assert Incident.objects.filter(kind="rule").count() == 6 and len(mail.outbox) == 6 and len(received) == 6

    run_sql(store_url(dq), "UPDATE app.customer SET tier = 'gold' WHERE tier = 'platinum'")
    with django_capture_on_commit_callbacks(execute=True):
        check(dq, dq.customer)
    tier = Incident.objects.get(rule__name="tier_allowed_values")
    assert tier.closed_at is not None
    assert Incident.objects.filter(kind="rule", closed_at__isnull=True).count() == 5


def test_an_unreachable_webhook_is_recorded_on_the_incident(
    dq, steward, settings, django_capture_on_commit_callbacks
):
    settings.CUSTODIAN_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.CUSTODIAN_JOBS_SYNC = True
    catalog_object_save(
        obj=QualityAlerting(datastore=dq, webhook_url="http://127.0.0.1:1/hook"), user=steward
    )
    with django_capture_on_commit_callbacks(execute=True):
        check(dq, dq.customer)
    incident = Incident.objects.filter(kind="rule").first()
    assert incident.notify_error == "webhook: could not connect"


def test_scores_per_dimension_and_a_score_drop_incident(dq, steward, django_capture_on_commit_callbacks):
    catalog_object_save(
        obj=QualityAlerting(datastore=dq, emails="dq@example.com", score_drop_points=1), user=steward
    )
    first = check(dq, dq.customer)
    scores = dict(EntityScore.objects.filter(check_run=first).values_list("dimension", "score"))
    assert set(scores) == {"", "completeness", "validity", "uniqueness", "consistency"}
    assert scores["uniqueness"] == pytest.approx((100 + 96) / 2)  # the key passes; 4% of e-mails repeat
    run_sql(store_url(dq), "UPDATE app.customer SET score = 500 WHERE customer_id <= 60")
    with django_capture_on_commit_callbacks(execute=True):
        second = check(dq, dq.customer)
    drop = Incident.objects.get(kind="score_drop")
    assert drop.baseline_score == scores[""] and "quality score fell from" in drop.summary
    assert EntityScore.objects.get(check_run=second, dimension="").score < scores[""] - 1


def test_schedules_queue_checks_when_their_time_comes(dq, steward):
    schedule = catalog_object_save(
        obj=QualitySchedule(datastore=dq, entity=dq.customer, cron="0 * * * *"), user=steward
    )
    now = datetime(2026, 1, 1, 10, 30, tzinfo=UTC)
    assert quality_tick(now=now) == []
    schedule.refresh_from_db()
    assert schedule.next_run_at == datetime(2026, 1, 1, 11, 0, tzinfo=UTC)
    queued = quality_tick(now=now + timedelta(minutes=31))
    assert [(r.entity, r.trigger) for r in queued] == [(dq.customer, CheckTrigger.SCHEDULE)]
    assert quality_tick(now=now + timedelta(minutes=32)) == []
    assert CheckRun.objects.count() == 1


@pytest.mark.parametrize(
    ("cron", "allowed"),
    [
        ("* * * * *", False),
        ("*/14 * * * *", False),
        ("0,10 * * * *", False),  # every hour, but twice ten minutes apart
        ("*/15 * * * *", True),
        ("0 * * * *", True),
        ("30 3 * * 1", True),
    ],
)
def test_a_schedule_may_not_fire_more_often_than_the_minimum_interval(dq, steward, cron, allowed):
    """Issue 15 #15: checks could be scheduled every minute; the message is on the cron field."""
    from django.core.exceptions import ValidationError

    schedule = QualitySchedule(datastore=dq, entity=dq.customer, cron=cron)
    if allowed:
        catalog_object_save(obj=schedule, user=steward)
        return
    with pytest.raises(ValidationError) as refused:
        catalog_object_save(obj=schedule, user=steward)
    assert list(refused.value.message_dict) == ["cron"]
    assert "quality checks may run at most every 15 min" in refused.value.message_dict["cron"][0]


def test_a_schedule_stored_before_the_minimum_still_runs_at_most_that_often(dq, steward):
    schedule = catalog_object_save(
        obj=QualitySchedule(datastore=dq, entity=dq.customer, cron="0 * * * *"), user=steward
    )
    QualitySchedule.objects.filter(pk=schedule.pk).update(cron="* * * * *")
    now = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    QualitySchedule.objects.filter(pk=schedule.pk).update(next_run_at=now)
    minutes = [now + timedelta(minutes=m) for m in range(31)]
    queued = [at for at in minutes if quality_tick(now=at)]
    assert queued == [now, now + timedelta(minutes=15), now + timedelta(minutes=30)]


def test_a_schedule_entity_must_belong_to_its_store(dq, steward, target_store):
    from django.core.exceptions import ValidationError

    other = target_store("other")
    with pytest.raises(ValidationError, match="another data store"):
        catalog_object_save(
            obj=QualitySchedule(datastore=other, entity=dq.customer, cron="0 * * * *"), user=steward
        )


def test_an_incident_closes_when_its_rule_is_tuned_to_warn_or_disabled(dq, steward):
    check(dq, dq.customer)
    tier = Incident.objects.get(rule__name="tier_allowed_values")
    email = Incident.objects.get(rule__name="email_pattern")
    rule = tier.rule
    rule.severity = "warn"
    catalog_object_save(obj=rule, user=steward)
    other = email.rule
    other.enabled = False
    catalog_object_save(obj=other, user=steward)
    check(dq, dq.customer)
    tier.refresh_from_db()
    email.refresh_from_db()
    assert tier.closed_at is not None and email.closed_at is not None


def test_a_bug_in_a_rule_fails_the_run_instead_of_leaving_it_running(dq, steward):
    from quality.models import Rule

    volume = catalog_object_save(
        obj=Rule(entity=dq.customer, name="volume", kind="volume", params={"min_rows": 5}), user=steward
    )
    Rule.objects.filter(pk=volume.pk).update(params={"min_rows": "abc"})  # past validation, as old data might
    run = check(dq, dq.customer)
    assert run.status == "failed" and run.error.startswith("Internal error (ValueError")

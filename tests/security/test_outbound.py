# ruff: noqa: F811 (the quality fixtures are imported by name)
"""Issue 15 #11: the quality-alert webhook is no way into the network (SSRF).

Real HTTP servers on 127.0.0.1 stand for internal services: refused by default, reached when allow-listed;
redirects are not followed, the receiver's answer and the system's error text are not stored, a receiver
that never answers costs at most 5 s, and the alert is sent from a job on the default queue, not the check.
Host names are resolved through a stand-in for the system resolver (`socket.getaddrinfo`), so the tests
know what a name points to without a DNS server."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import django_rq
import pytest
from django.urls import reverse

from catalog.services import catalog_object_save
from core.outbound import OutboundRefused, post_json, url_problem
from quality.jobs import incident_notify_job
from quality.models import Incident, QualityAlerting
from quality.runner import check_run_execute
from quality.services import check_run_request
from tests.quality.conftest import dq, run_sql, scratch_database, target_store  # noqa: F401

pytestmark = pytest.mark.django_db

REAL_GETADDRINFO = socket.getaddrinfo


class Receiver:
    """A local HTTP server answering every POST with `status` (and `headers`), keeping what it got."""

    def __init__(self, status=204, headers=None, body=b"", delay=0.0, host="127.0.0.1"):
        self.received = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                receiver.received.append(self.rfile.read(int(self.headers["Content-Length"])))
                time.sleep(delay)
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, host="127.0.0.1", path="/hook") -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def resolve(monkeypatch):
    """resolve({"hooks.example.test": ["127.0.0.1"]}): what those names resolve to from now on."""

    def install(names: dict[str, list[str]]):
        def getaddrinfo(host, port, *args, **kwargs):
            if host in names:
                addresses = names[host] if isinstance(names[host], list) else names[host]()
                return [
                    (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                    for a in addresses
                ]
            return REAL_GETADDRINFO(host, port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    return install


BLOCKED_URLS = [
    "http://127.0.0.1:6379/",
    "http://127.1.2.3/",
    "http://localhost:8000/hook",
    "http://api.localhost/hook",
    "http://[::1]:5432/",
    "http://[::ffff:127.0.0.1]/",
    "http://10.0.0.5/",
    "http://172.16.3.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://0.0.0.0/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://[2002:7f00:1::]/",
]


@pytest.mark.parametrize("url", BLOCKED_URLS)
def test_a_webhook_at_a_loopback_private_or_reserved_address_cannot_be_saved(url):
    assert "loopback, private or reserved" in url_problem(url)


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "file:///etc/passwd", "gopher://example.com/"])
def test_a_webhook_that_is_not_http_cannot_be_saved(url):
    assert url_problem(url).startswith("Use an http:// or https:// address")


@pytest.mark.parametrize("url", ["https://hooks.example.com/x", "http://93.184.216.34:8080/a?b=c"])
def test_a_public_webhook_can_be_saved(url):
    assert url_problem(url) is None


def test_the_alerting_form_shows_the_refusal_on_the_webhook_field(client, steward, dq):
    client.force_login(steward)
    for url, message in [
        ("http://127.0.0.1:6379/", "loopback, private or reserved"),
        ("ftp://example.com/hook", "Use an http:// or https:// address"),
    ]:
        response = client.post(
            reverse("admin:quality_qualityalerting_add"),
            {"datastore": dq.pk, "emails": "", "webhook_url": url, "score_drop_points": "10"},
        )
        assert response.status_code == 200
        assert message in " ".join(response.context["adminform"].form.errors["webhook_url"])
    assert not QualityAlerting.objects.exists()


def test_a_local_receiver_is_refused_by_default_and_reached_when_allow_listed(receiver, settings):
    with pytest.raises(OutboundRefused, match="loopback, private or reserved"):
        post_json(receiver.url(), b"{}")
    assert receiver.received == []
    settings.CUSTODIAN_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    assert post_json(receiver.url(), b'{"a": 1}').delivered
    settings.CUSTODIAN_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.0/8"]
    assert post_json(receiver.url(), b'{"a": 2}').delivered
    assert [json.loads(body) for body in receiver.received] == [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize("addresses", [["127.0.0.1"], ["93.184.216.34", "10.1.2.3"], ["::ffff:127.0.0.1"]])
def test_a_name_is_checked_by_what_it_resolves_to_when_sending(receiver, resolve, addresses):
    resolve({"hooks.example.test": addresses})
    assert url_problem(receiver.url("hooks.example.test")) is None  # a name passes when saved
    with pytest.raises(OutboundRefused, match="not allowed"):
        post_json(receiver.url("hooks.example.test"), b"{}")
    assert receiver.received == []


def test_the_connection_goes_to_the_address_checked_not_a_second_lookup(receiver, resolve, settings):
    # The first lookup gives an allow-listed address where nothing listens; later ones the receiver's.
    lookups = []

    def rebinding():
        lookups.append(1)
        return ["127.0.0.2"] if len(lookups) == 1 else ["127.0.0.1"]

    resolve({"rebind.example.test": rebinding})
    settings.CUSTODIAN_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.2"]
    result = post_json(receiver.url("rebind.example.test"), b"{}")
    assert result.problem == "could not connect" and receiver.received == [] and len(lookups) == 1


def test_redirects_are_not_followed(settings):
    target = Receiver()
    redirector = Receiver(status=302, headers={"Location": target.url()})
    try:
        settings.CUSTODIAN_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
        result = post_json(redirector.url(), b"{}")
        assert result.problem == "the webhook receiver did not accept the alert (HTTP 302)"
        assert len(redirector.received) == 1 and target.received == []
    finally:
        target.close()
        redirector.close()


def make_incident(store, url) -> Incident:
    catalog_object_save(obj=QualityAlerting(datastore=store, webhook_url=url), user=None)
    return Incident.objects.create(datastore=store, kind="rule", summary="customer: 3 rows fail")


def test_the_incident_records_a_general_error_not_the_receivers_answer(dq, settings):
    settings.CUSTODIAN_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    failing = Receiver(status=502, body=b"upstream db-7.internal:5432 refused; token=abc")
    try:
        incident = make_incident(dq, failing.url())
        incident_notify_job(incident.pk)
        incident.refresh_from_db()
        assert incident.notify_error == "webhook: the webhook receiver did not accept the alert (HTTP 502)"
    finally:
        failing.close()
    incident_notify_job(incident.pk)  # the port is closed now
    incident.refresh_from_db()
    assert incident.notify_error == "webhook: could not connect"


def test_a_refused_address_is_recorded_without_sending(dq, receiver, settings):
    settings.CUSTODIAN_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    incident = make_incident(dq, receiver.url())  # saved while allowed
    settings.CUSTODIAN_WEBHOOK_ALLOWED_HOSTS = []
    incident_notify_job(incident.pk)
    incident.refresh_from_db()
    assert (
        incident.notify_error.startswith("webhook: ")
        and "loopback, private or reserved" in incident.notify_error
    )
    assert receiver.received == []


def test_a_receiver_that_never_answers_costs_at_most_five_seconds(dq, settings):
    settings.CUSTODIAN_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    silent = Receiver(delay=30)
    try:
        incident = make_incident(dq, silent.url())
        started = time.monotonic()
        incident_notify_job(incident.pk)
        assert time.monotonic() - started < 6
    finally:
        silent.server.server_close()
    incident.refresh_from_db()
    assert incident.notify_error == "webhook: could not connect (no answer in time)"


def test_alerts_are_sent_by_a_job_on_the_default_queue_after_the_check(
    dq, receiver, settings, steward, django_capture_on_commit_callbacks
):
    settings.CUSTODIAN_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.CUSTODIAN_JOBS_SYNC = False
    catalog_object_save(obj=QualityAlerting(datastore=dq, webhook_url=receiver.url()), user=steward)
    queue = django_rq.get_queue("default")
    queue.empty()
    with django_capture_on_commit_callbacks(execute=True):
        check_run_execute(check_run_request(datastore=dq, entity=dq.customer, enqueue=False).pk)
    opened = list(Incident.objects.filter(kind="rule").values_list("pk", flat=True))
    assert opened and receiver.received == []  # the check itself sent nothing
    jobs = queue.get_jobs()
    assert sorted(job.args[0] for job in jobs) == sorted(opened)
    assert {job.func_name for job in jobs} == {"quality.jobs.incident_notify_job"}
    for job in jobs:
        incident_notify_job(*job.args)
    queue.empty()
    assert len(receiver.received) == len(opened)
    assert not Incident.objects.filter(kind="rule", notify_error__gt="").exists()

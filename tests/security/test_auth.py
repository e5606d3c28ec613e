"""Attack corpus, authentication and access: the probes of issue 15 on the job queues, the audit of
accounts, sign-in throttling and secrets, each replayed as a regression."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

SAMPLE_ARGUMENTS = {"queue_index": 0, "connection_index": 0, "scheduler_index": 0, "token": "probe"}


def _rq_urls(patterns=None, namespace="django_rq"):
    """Every URL of the RQ dashboard as mounted, with sample arguments in its parameters."""
    if patterns is None:
        mounted = [p for p in get_resolver().url_patterns if getattr(p, "namespace", None) == namespace]
        assert mounted, "the RQ dashboard is not mounted"
        patterns = mounted[0].url_patterns
    urls = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            urls.extend(_rq_urls(pattern.url_patterns, f"{namespace}:{pattern.namespace}"))
            continue
        assert isinstance(pattern, URLPattern)
        converters = getattr(pattern.pattern, "converters", None)
        names = converters.keys() if converters is not None else pattern.pattern.regex.groupindex.keys()
        kwargs = {name: SAMPLE_ARGUMENTS.get(name, "probe") for name in names}
        urls.append(reverse(f"{namespace}:{pattern.name}", kwargs=kwargs))
    return sorted(set(urls))


RQ_URLS = _rq_urls()


def test_the_probe_covers_every_action_the_steward_and_officer_used():
    joined = " ".join(RQ_URLS)
    for action in ("/empty/", "/delete/", "/requeue/", "/stop/", "/actions/", "/workers/"):
        assert action in joined, action


@pytest.mark.parametrize("url", RQ_URLS)
@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("role", ["steward", "officer", "platform_admin"])
def test_every_rq_dashboard_url_is_refused_to_every_role(client, request, role, method, url):
    client.force_login(request.getfixturevalue(role))
    response = getattr(client, method)(url)
    assert response.status_code == 403, (role, method, url)


@pytest.mark.parametrize("url", RQ_URLS)
@pytest.mark.parametrize("method", ["get", "post"])
def test_every_rq_dashboard_url_sends_an_anonymous_user_to_sign_in(client, db, method, url):
    response = getattr(client, method)(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login")), url


def test_an_officer_cannot_empty_a_queue(client, officer):
    import django_rq
    from django_rq.settings import get_queues_list
    from rq import Queue

    # A plain RQ queue: django-rq's own would wait for the test's transaction to commit.
    queue = Queue("etl", connection=django_rq.get_connection("etl"))
    queue.empty()
    queue.enqueue("os.getcwd")
    client.force_login(officer)
    index = [q["name"] for q in get_queues_list()].index("etl")
    response = client.post(reverse("django_rq:clear", args=[index]), {"post": "yes"})
    assert response.status_code == 403
    assert queue.count == 1
    queue.empty()


def test_a_superuser_opens_the_rq_dashboard(client, superuser):
    client.force_login(superuser)
    assert client.get(reverse("django_rq:home")).status_code == 200

"""End-to-end journeys in a real browser: Playwright driving Debian's Chromium (headless) against
pytest-django's live server, with PostgreSQL, Redis and, where jobs run, a real `manage.py rqworker`.

Chromium is /usr/bin/chromium; when it is missing the session installs it with .ci/chromium.sh, and fails
(never skips) when that is impossible. Each test that fails leaves a screenshot of its browser page in
/tmp/e2e-failures/<test>.png.
"""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

# Fixtures of the journeys: PostgreSQL data stores over scratch databases, and an import root for sources.
from tests.catalog.schema.conftest import scratch_database, target_store  # noqa: F401
from tests.pipelines.conftest import import_root  # noqa: F401
from tests.pipelines.test_runs import children  # RQ runs each job in a forked work horse

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
FAILURE_SCREENSHOTS = Path("/tmp/e2e-failures")
WORKER_QUEUES = ("etl", "quality", "default")
# Long enough for a worker's first job on a loaded CI machine; a journey that passes waits far less.
TIMEOUT_MS = 20_000


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # Keep each phase's report on the test, so fixtures can tell at teardown whether the test failed.
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def failed(item) -> bool:
    return any(getattr(getattr(item, f"report_{when}", None), "failed", False) for when in ("setup", "call"))


def chromium_ensure() -> Path:
    """/usr/bin/chromium, installed with .ci/chromium.sh when missing; fails the session if it cannot be."""
    if not CHROMIUM.exists():
        install = subprocess.run(
            ["bash", str(ROOT / ".ci" / "chromium.sh")], capture_output=True, text=True, timeout=900
        )
        if install.returncode != 0 or not CHROMIUM.exists():
            pytest.fail(
                f"The browser tests need Chromium at {CHROMIUM} and .ci/chromium.sh could not install it:\n"
                f"{install.stdout}{install.stderr}",
                pytrace=False,
            )
    return CHROMIUM


@pytest.fixture(scope="package")
def browser(django_db_setup):
    """Chromium, for this package's tests only.

    While Playwright's sync API runs, its event loop counts as "running" on the test's thread. Django then
    (1) refuses ORM calls there as coming from async code: the check is off until Playwright stops, since
    the test's thread never serves requests (the live server's thread does); and (2) keeps that thread's
    database connections apart from the ones it had (asgiref's Local switches to context variables), so
    the new connection is handed the serialized database that serialized_rollback restores at each test.
    """
    from django.db import connections
    from playwright.sync_api import sync_playwright

    executable = chromium_ensure()
    serialized = {
        alias: connections[alias]._test_serialized_contents
        for alias in connections
        if hasattr(connections[alias], "_test_serialized_contents")
    }
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            for alias, contents in serialized.items():
                connections[alias]._test_serialized_contents = contents
            chromium = playwright.chromium.launch(executable_path=str(executable), headless=True)
            yield chromium
            chromium.close()
            connections.close_all()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def open_page(browser, live_server, request):
    """open_page(user=None) opens a new browser window (its own cookies) on the live server, signed in as
    `user` through the login form when given. A failing test leaves a screenshot of each window it opened:
    the last as /tmp/e2e-failures/<test>.png, earlier ones as <test>-1.png, <test>-2.png ..."""
    contexts = []

    def open_one(user=None):
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": 1280, "height": 800}, accept_downloads=True
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        if user is not None:
            login(page, user)
        return page

    yield open_one
    if failed(request.node):
        FAILURE_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        for number, context in enumerate(contexts, 1):
            suffix = "" if number == len(contexts) else f"-{number}"
            for page in context.pages[-1:]:
                path = FAILURE_SCREENSHOTS / f"{name}{suffix}.png"
                try:
                    page.screenshot(path=str(path), full_page=True)
                    print(f"Screenshot of the failure: {path} ({page.url})")
                except Exception as exc:  # a crashed page must not hide the test's own failure
                    print(f"No screenshot of {page.url}: {exc}")
    for context in contexts:
        context.close()


def login(page, user) -> None:
    """Sign in through the admin's login form; users from tests.conftest.make_user have "pw-<username>"."""
    page.goto("/admin/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pw-" + user.username)
    page.click("#login-form input[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))


def worker_database_url() -> str:
    """The URL of the database this test runs against (pytest-django's test database)."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return (
        f"postgres://{db.get('USER') or 'postgres'}{password}@{db.get('HOST') or '127.0.0.1'}:"
        f"{db.get('PORT') or 5432}/{db['NAME']}"
    )


def queues_clear() -> None:
    import django_rq

    for name in WORKER_QUEUES:
        queue = django_rq.get_queue(name)
        queue.empty()
        for job_id in queue.scheduled_job_registry.get_job_ids():
            queue.scheduled_job_registry.remove(job_id, delete_job=True)


class Worker:
    """`manage.py rqworker etl quality default --with-scheduler` as a subprocess of this test."""

    def __init__(self, log: Path):
        self.log, self.process, self.log_file = log, None, None

    @staticmethod
    def environment() -> dict[str, str]:
        """This process's environment as it is now (data stores' URL variables set with monkeypatch, as
        tests.catalog.schema.conftest.target_store does, included), with the test database, the same Redis,
        import root and media folder."""
        env = {
            **os.environ,
            "DATABASE_URL": worker_database_url(),
            "REDIS_URL": django_settings.RQ_QUEUES["etl"]["URL"],
            "CUSTODIAN_IMPORT_ROOT": str(django_settings.CUSTODIAN_IMPORT_ROOT),
            "MEDIA_ROOT": str(django_settings.MEDIA_ROOT),
        }
        env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        return env

    def start(self) -> "Worker":
        assert self.process is None, "the worker is already running"
        self.log_file = self.log.open("a")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "rqworker", *WORKER_QUEUES, "--with-scheduler"],
            cwd=ROOT,
            env=self.environment(),
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def stop(self) -> None:
        """Warm shutdown (SIGTERM lets a job finish and the worker deregister), then SIGKILL what is left."""
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                for pid in children(process.pid):
                    os.kill(pid, signal.SIGKILL)
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=15)
        self.log_file.close()

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


@pytest.fixture
def rq_worker(live_server, settings, tmp_path, request):
    """A real RQ worker on this test's database and Redis: .start() it when the test wants jobs to run
    (again after .stop()); it is stopped at the end. Jobs go through Redis (CUSTODIAN_JOBS_SYNC is False).
    The worker's log is printed when the test fails."""
    settings.CUSTODIAN_JOBS_SYNC = False
    queues_clear()
    worker = Worker(tmp_path / "rqworker.log")
    yield worker
    worker.stop()
    queues_clear()
    if failed(request.node):
        print(f"rqworker log:\n{worker.output()}")

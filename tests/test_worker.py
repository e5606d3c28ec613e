"""The RQ worker that `manage.py rqworker` starts imports the job modules before it forks a horse per job."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django
django.setup()
from django_rq import get_connection
from django_rq.workers import get_worker_class
before = {name: name in sys.modules for name in sys.argv[1:]}
worker = get_worker_class()(["etl"], connection=get_connection("etl"))
after = {name: name in sys.modules for name in sys.argv[1:]}
print(json.dumps({"class": type(worker).__name__, "before": before, "after": after}))
"""


def test_rqworker_uses_the_preloading_worker_which_imports_the_job_modules_before_forking():
    modules = settings.CUSTODIAN_WORKER_PRELOAD
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *modules],
        cwd=ROOT,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert probe["class"] == "PreloadingWorker"
    assert not probe["before"]["pipelines.runner"]  # Django alone does not load the ETL engine
    assert all(probe["after"].values()), probe["after"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("with_scheduler", [True, False])
def test_a_worker_started_with_the_scheduler_schedules_the_tick_on_a_fresh_installation(with_scheduler):
    """Nothing else may have scheduled it yet (no scheduled pipeline saved): the tick must not wait."""
    import django_rq
    from django.db import connection

    from core.scheduler import TICK_JOB_ID, TICK_QUEUE

    ticks = django_rq.get_queue(TICK_QUEUE)

    def forget_the_tick():
        ticks.empty()
        for job_id in ticks.scheduled_job_registry.get_job_ids():
            ticks.scheduled_job_registry.remove(job_id, delete_job=True)

    forget_the_tick()
    command = [sys.executable, "manage.py", "rqworker", TICK_QUEUE, "--burst"]
    env = os.environ | {
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
        "REDIS_URL": settings.RQ_QUEUES[TICK_QUEUE]["URL"],
    }
    try:
        done = subprocess.run(
            command + (["--with-scheduler"] if with_scheduler else []),
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        scheduled = TICK_JOB_ID in ticks.scheduled_job_registry.get_job_ids()
        assert scheduled is with_scheduler  # only a worker that runs scheduled jobs asks for it
    finally:
        forget_the_tick()

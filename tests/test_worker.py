"""The RQ worker that `manage.py rqworker` starts imports the job modules before it forks a horse per job."""

import json
import os
import subprocess
import sys
from pathlib import Path

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

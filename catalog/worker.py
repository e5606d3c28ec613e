"""The RQ worker Custodian runs: it imports the job modules once, before it forks a work horse per job.

RQ runs each job in a fresh fork of the worker. Modules the worker has not imported are imported again in
every horse: `pipelines.runner` alone (Polars, PyArrow's readers) costs about 50 ms per run, a quarter of an
incremental run that moves a few thousand rows. Imported in the worker, every horse inherits them.
"""

from importlib import import_module

from django.conf import settings
from rq import Worker

__all__ = ["PreloadingWorker"]


class PreloadingWorker(Worker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in settings.CUSTODIAN_WORKER_PRELOAD:
            import_module(name)

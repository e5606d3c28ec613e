"""The RQ worker Custodian runs: it imports the job modules once, before it forks a work horse per job, and
a worker with the scheduler makes sure the scheduler tick is on it.

RQ runs each job in a fresh fork of the worker. Modules the worker has not imported are imported again in
every horse: `pipelines.runner` alone (Polars, PyArrow's readers) costs about 50 ms per run, a quarter of an
incremental run that moves a few thousand rows. Imported in the worker, every horse inherits them.

The tick (core.scheduler) reschedules itself each minute once it runs; a fresh installation has none
until something schedules it, so the first worker started `--with-scheduler` on the tick's queue does.
"""

from importlib import import_module

from django.conf import settings
from rq import Worker

from core.scheduler import TICK_QUEUE, scheduler_tick_ensure

__all__ = ["PreloadingWorker"]


class PreloadingWorker(Worker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in settings.CUSTODIAN_WORKER_PRELOAD:
            import_module(name)

    def work(self, *args, with_scheduler: bool = False, **kwargs):
        if with_scheduler and TICK_QUEUE in self.queue_names():
            scheduler_tick_ensure()
        return super().work(*args, with_scheduler=with_scheduler, **kwargs)

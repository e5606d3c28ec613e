from django.conf import settings
from django.core.management.base import BaseCommand

from core.runs import runs_reap
from core.scheduler import TICK_SECONDS, scheduler_tick_ensure
from pipelines.services import pipelines_tick


class Command(BaseCommand):
    help = (
        "Queue the scheduled runs that are due and mark lost runs failed, once; then make sure the RQ "
        "scheduler repeats this every minute. For cron (without Redis) or a worker's start-up."
    )

    def handle(self, *args, **options):
        runs_reap()
        runs = pipelines_tick()
        if runs:
            listed = ", ".join(f"{run.pipeline.name} (run #{run.pk})" for run in runs)
            self.stdout.write(self.style.SUCCESS(f"Queued {len(runs)} scheduled run(s): {listed}."))
        else:
            self.stdout.write("No scheduled run was due.")
        scheduler_tick_ensure()
        if settings.CUSTODIAN_JOBS_SYNC:
            self.stdout.write(
                "Jobs run in this process (no REDIS_URL): run this command every minute from cron."
            )
        else:
            self.stdout.write(f"The tick job is scheduled on the etl queue (every {TICK_SECONDS} s).")

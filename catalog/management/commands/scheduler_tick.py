from django.conf import settings
from django.core.management.base import BaseCommand

from core.scheduler import TICK_QUEUE, TICK_SECONDS, scheduler_tick, scheduler_tick_ensure


class Command(BaseCommand):
    help = (
        "Run the scheduled work that is due (pipeline runs, quality checks; lost runs marked failed) once, "
        "then make sure the RQ scheduler repeats it every minute. For cron without Redis, or a deploy step."
    )

    def handle(self, *args, **options):
        for path, queued in scheduler_tick().items():
            app = path.split(".")[0]
            self.stdout.write(
                f"{app}: {len(queued)} queued"
                + (f" ({', '.join(f'#{item.pk}' for item in queued)})" if queued else "")
            )
        scheduler_tick_ensure()
        if settings.CUSTODIAN_JOBS_SYNC:
            self.stdout.write(
                "Jobs run in this process (no REDIS_URL): run this command every minute from cron."
            )
        else:
            self.stdout.write(
                f"The tick job is scheduled on the {TICK_QUEUE} queue every {TICK_SECONDS} s; it runs on "
                "`manage.py rqworker etl quality default --with-scheduler`."
            )

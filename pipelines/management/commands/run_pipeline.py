import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from core.runs import run_finish
from pipelines.choices import ErrorKind, RunStatus, RunTrigger
from pipelines.management.commands._pipelines import pipeline_named, user_named
from pipelines.models import PipelineRun
from pipelines.runner import pipeline_run_execute
from pipelines.services import PipelineBusy, pipeline_run_request

POLL_SECONDS = 1.0
PHASES = ["extract", "transform", "load", "commit"]


class RunProgress:
    """A rich progress bar fed from the run row: phase, rows so far and, when the size is known, the share."""

    def __init__(self, console: Console, run: PipelineRun):
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rows]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self.task = self.progress.add_task(self._label(run), total=None, rows="")

    def _label(self, run: PipelineRun) -> str:
        return f"{run.pipeline.name} #{run.pk} {run.phase or run.status}"

    def show(self, run: PipelineRun) -> None:
        rows = f"{run.rows_extracted:,} rows"
        if run.rows_rejected:
            rows += f", {run.rows_rejected:,} rejected"
        if run.progress is not None:
            self.progress.update(
                self.task, description=self._label(run), total=1.0, completed=run.progress, rows=rows
            )
        else:
            self.progress.update(self.task, description=self._label(run), rows=rows)

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()


class Command(BaseCommand):
    help = (
        "Run a pipeline and follow it with a progress bar. With REDIS_URL set it is queued on the etl queue "
        "and watched until a worker finishes it; with --sync (or without Redis) it runs in this process. "
        "Prints counts, timings and rows/s; exits 1 when the run fails or is cancelled."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="The pipeline's name.")
        parser.add_argument("--sync", action="store_true", help="Run in this process, not on a worker.")
        parser.add_argument("--user", help="Username recorded as who requested the run.")

    def handle(self, *args, **options):
        pipeline = pipeline_named(options["name"])
        user = user_named(options["user"])
        console = Console(file=options.get("stderr") or sys.stderr)
        # Without Redis the queue is this process anyway: run it here, where the bar can follow each batch.
        here = options["sync"] or settings.CUSTODIAN_JOBS_SYNC
        try:
            run = pipeline_run_request(pipeline, user=user, trigger=RunTrigger.COMMAND, enqueue=not here)
        except PipelineBusy as exc:
            raise CommandError(exc.message) from exc
        run = PipelineRun.objects.select_related("pipeline").get(pk=run.pk)
        with RunProgress(console, run) as bar:
            if here:
                run = self._execute(run, bar)
            else:
                run = self._watch(run, bar)
        self._summary(run)

    def _execute(self, run: PipelineRun, bar: RunProgress) -> PipelineRun:
        try:
            pipeline_run_execute(run.pk, progress=bar.show)
        except KeyboardInterrupt:
            # The run's target transaction died with this process's connection, so nothing was loaded.
            run.refresh_from_db()
            run_finish(
                run,
                RunStatus.CANCELLED,
                by="command",
                error_kind=ErrorKind.CANCELLED,
                error="Interrupted (Ctrl-C) in run_pipeline; the target was left as it was.",
                phase="",
            )
        run.refresh_from_db()
        bar.show(run)
        return run

    def _watch(self, run: PipelineRun, bar: RunProgress) -> PipelineRun:
        try:
            while True:
                run.refresh_from_db()
                bar.show(run)
                if run.is_finished:
                    return run
                time.sleep(POLL_SECONDS)
        except KeyboardInterrupt:
            raise CommandError(
                f"Stopped watching; run #{run.pk} goes on on the worker (cancel it from the admin)."
            ) from None

    def _summary(self, run: PipelineRun) -> None:
        duration = f" in {run.duration:.1f} s" if run.duration is not None else ""
        status = run.get_status_display().lower()
        style = self.style.SUCCESS if run.status == RunStatus.SUCCEEDED else self.style.ERROR
        self.stdout.write(style(f"Run #{run.pk} of '{run.pipeline.name}' {status}{duration}."))
        loaded = f"{run.rows_loaded:,} loaded"
        if (run.config or {}).get("load", {}).get("mode") in ("upsert", "scd2"):
            loaded += f" ({run.rows_inserted:,} inserted, {run.rows_updated:,} updated)"
        rejected = f"{run.rows_rejected:,} rejected" + (" (see the quarantine)" if run.rows_rejected else "")
        self.stdout.write(f"  rows: {run.rows_extracted:,} extracted, {loaded}, {rejected}")
        if run.timings:
            phases = sorted(run.timings, key=lambda p: PHASES.index(p) if p in PHASES else len(PHASES))
            shown = ", ".join(f"{phase} {run.timings[phase]:.2f} s" for phase in phases)
            self.stdout.write(f"  timings: {shown}")
        if run.rows_per_second:
            self.stdout.write(f"  speed: {run.rows_per_second:,.0f} rows/s")
        for warning in run.warnings or []:
            self.stdout.write(f"  note: {warning}")
        if run.status == RunStatus.SUCCEEDED:
            return
        retry = PipelineRun.objects.filter(retry_of=run).first()
        if retry is not None:
            where = "" if settings.CUSTODIAN_JOBS_SYNC else " on the etl queue"
            self.stdout.write(f"  retry: run #{retry.pk} ({retry.get_status_display().lower()}){where}")
        raise CommandError(f"Run #{run.pk} of '{run.pipeline.name}' {status}: {run.error}")

import difflib
import time
from collections import defaultdict

from django.core.management.base import BaseCommand, CommandError

from catalog.management.commands._schema import datastore_named, user_named
from catalog.models import DataStore, Entity
from core.choices import RunStatus
from quality.choices import CheckTrigger, ResultStatus
from quality.models import CheckRun, EntityScore, RuleResult
from quality.runner import check_run_execute
from quality.services import check_run_request

POLL_SECONDS = 1.0
QUEUED_HINT_SECONDS = 10.0
FINISHED = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)
# Failures first: what needs attention is at the top of each entity's table.
STATUS_ORDER = [ResultStatus.FAILED, ResultStatus.ERROR, ResultStatus.WARNED, ResultStatus.PASSED]
STATUS_WORDS = {
    ResultStatus.FAILED: "FAILED",
    ResultStatus.ERROR: "ERROR",
    ResultStatus.WARNED: "warned",
    ResultStatus.PASSED: "passed",
}
HEADINGS = ("status", "rule", "failing/total", "%", "measured or error")


class Command(BaseCommand):
    help = (
        "Run the quality rules of a data store (or of one entity, or of every data store) and print each "
        "entity's results and scores. --sync runs here; otherwise the check is queued (on the quality queue "
        "when REDIS_URL is set) and followed. Exits 1 when an error-severity rule fails or a data store is "
        "unknown or cannot be checked; warnings alone exit 0."
    )

    def add_arguments(self, parser):
        parser.add_argument("--datastore", help="The data store's name; default: every data store.")
        parser.add_argument(
            "--entity", help="Only this entity (needs --datastore unless the name is unique)."
        )
        parser.add_argument("--sync", action="store_true", help="Run in this process, not on a worker.")
        parser.add_argument("--user", help="Username recorded as who requested the check.")
        parser.add_argument(
            "--timeout",
            type=float,
            default=3600.0,
            help="Seconds to follow a queued check before giving up watching (default 3600).",
        )

    def handle(self, *args, **options):
        user = user_named(options["user"])
        if user is not None and not user.has_perm("quality.run_quality"):
            raise CommandError(
                f"User '{user.get_username()}' may not run quality checks (quality.run_quality)."
            )
        targets = self._targets(options["datastore"], options["entity"])
        if not targets:
            self.stdout.write("No data store has entities to check.")
            return
        runs = []
        for store, entity in targets:
            run = check_run_request(
                datastore=store,
                entity=entity,
                user=user,
                trigger=CheckTrigger.COMMAND,
                enqueue=not options["sync"],
            )
            if options["sync"]:
                check_run_execute(run.pk)
                run = self._report(run)
            runs.append(run)
        if not options["sync"]:
            runs = [self._report(run) for run in self._watch(runs, options["timeout"])]
        self._verdict(runs)

    # -- what to check -----------------------------------------------------------------------------------

    def _targets(
        self, store_name: str | None, entity_name: str | None
    ) -> list[tuple[DataStore, Entity | None]]:
        if store_name:
            store = datastore_named(store_name)
            return [(store, self._entity_of(store, entity_name) if entity_name else None)]
        if entity_name:
            entities = list(Entity.objects.filter(name=entity_name).select_related("datastore"))
            if not entities:
                raise CommandError(f"No entity named '{entity_name}' in any data store.")
            if len(entities) > 1:
                stores = ", ".join(sorted(e.datastore.name for e in entities))
                raise CommandError(
                    f"Entity '{entity_name}' is in several data stores ({stores}): give --datastore."
                )
            return [(entities[0].datastore, entities[0])]
        targets = []
        for store in DataStore.objects.order_by("name"):
            if store.engine != "postgresql":
                self.stderr.write(
                    f"Skipped data store '{store.name}': quality checks run on PostgreSQL only."
                )
            elif not store.entities.exists():
                self.stderr.write(f"Skipped data store '{store.name}': it has no entities.")
            else:
                targets.append((store, None))
        return targets

    def _entity_of(self, store: DataStore, name: str) -> Entity:
        entity = Entity.objects.filter(datastore=store, name=name).first()
        if entity is None:
            known = list(store.entities.values_list("name", flat=True))
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise CommandError(f"No entity '{name}' in data store '{store.name}'.{hint}")
        return entity

    # -- following queued checks -------------------------------------------------------------------------

    def _watch(self, runs: list[CheckRun], timeout: float) -> list[CheckRun]:
        ids = [run.pk for run in runs]
        listed = ", ".join(f"#{pk}" for pk in ids)
        started = time.monotonic()
        hinted = False
        try:
            while True:
                statuses = dict(CheckRun.objects.filter(pk__in=ids).values_list("pk", "status"))
                if all(status in FINISHED for status in statuses.values()):
                    return list(
                        CheckRun.objects.filter(pk__in=ids).select_related("datastore").order_by("pk")
                    )
                waited = time.monotonic() - started
                if waited > timeout:
                    raise CommandError(
                        f"Check run(s) {listed} not finished after {timeout:g} s; they go on on the worker."
                    )
                if not hinted and waited > QUEUED_HINT_SECONDS and RunStatus.QUEUED in statuses.values():
                    self.stderr.write(
                        f"Check run(s) {listed} still queued: is a worker running "
                        "(manage.py rqworker quality)?"
                    )
                    hinted = True
                time.sleep(POLL_SECONDS)
        except KeyboardInterrupt:
            raise CommandError(f"Stopped watching; check run(s) {listed} go on on the worker.") from None

    # -- the report --------------------------------------------------------------------------------------

    def _report(self, run: CheckRun) -> CheckRun:
        run = CheckRun.objects.select_related("datastore", "entity").get(pk=run.pk)
        scope = f"'{run.datastore.name}'" + (f" ({run.entity.name})" if run.entity_id else "")
        took = ""
        if run.started_at and run.finished_at:
            took = f" in {(run.finished_at - run.started_at).total_seconds():.1f} s"
        style = (
            self.style.SUCCESS
            if run.status == RunStatus.SUCCEEDED and not run.rules_failed
            else self.style.ERROR
        )
        # "succeeded" over 11 failed rules misled: the run finished, and what it found comes first.
        verdict = "finished" if run.status == RunStatus.SUCCEEDED else run.get_status_display().lower()
        self.stdout.write(
            style(
                f"Check run #{run.pk} of {scope} {verdict}{took}: {run.rules_failed} failed, "
                f"{run.rules_errored} could not run, {run.rules_warned} warned, {run.rules_passed} passed "
                f"({run.rules_total} rules)."
            )
        )
        if run.error:
            self.stdout.write(self.style.ERROR(f"  {run.error}"))
            return run
        results = defaultdict(list)
        for result in RuleResult.objects.filter(check_run=run).select_related("entity"):
            results[result.entity.name if result.entity_id else "(deleted entity)"].append(result)
        scores = defaultdict(dict)
        for score in EntityScore.objects.filter(check_run=run).select_related("entity"):
            scores[score.entity.name][score.dimension] = score.score
        for entity_name in sorted(results):
            self.stdout.write("")
            self.stdout.write(self._score_line(entity_name, scores.get(entity_name, {})))
            self._table(results[entity_name])
            self._shared_time(results[entity_name])
        self.stdout.write("")
        return run

    def _score_line(self, entity_name: str, scores: dict) -> str:
        if "" not in scores:
            return f"{entity_name}: no score (no rule could run)"
        dimensions = ", ".join(f"{d} {s:.1f}" for d, s in sorted(scores.items()) if d)
        return f"{entity_name}: score {scores['']:.1f}" + (f" ({dimensions})" if dimensions else "")

    def _table(self, results: list[RuleResult]) -> None:
        ordered = sorted(results, key=lambda r: (STATUS_ORDER.index(r.status), r.rule_name))
        rows = [HEADINGS] + [self._row(result) for result in ordered]
        widths = [max(len(row[i]) for row in rows) for i in range(len(HEADINGS) - 1)]
        for position, row in enumerate(rows):
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)] + [row[-1]]
            line = "  " + "  ".join(cells).rstrip()
            status = ordered[position - 1].status if position else None
            if status in (ResultStatus.FAILED, ResultStatus.ERROR):
                line = self.style.ERROR(line)
            elif status == ResultStatus.WARNED:
                line = self.style.WARNING(line)
            self.stdout.write(line)

    def _shared_time(self, results: list[RuleResult]) -> None:
        """The time of each statement that checked several rules, once: its rules share it, not add it up."""
        shared: dict[str, list[RuleResult]] = defaultdict(list)
        for result in results:
            if result.sql:
                shared[result.sql].append(result)
        for group in shared.values():
            if len(group) > 1 and group[0].duration_ms:
                self.stdout.write(
                    f"  one shared scan checked {len(group)} rules in {group[0].duration_ms / 1000:.1f} s"
                )

    def _row(self, result: RuleResult) -> tuple[str, ...]:
        counts = "—"
        if result.failing_rows is not None:
            counts = f"{result.failing_rows:,}/" + (
                f"{result.total_rows:,}" if result.total_rows is not None else "?"
            )
        percent = f"{result.failing_percent:.2f}%" if result.failing_percent is not None else "—"
        detail = result.error if result.status == ResultStatus.ERROR else result.measured
        return (STATUS_WORDS[result.status], result.rule_name, counts, percent, detail or "")

    # -- the exit status ---------------------------------------------------------------------------------

    def _verdict(self, runs: list[CheckRun]) -> None:
        broken = [run for run in runs if run.status != RunStatus.SUCCEEDED]
        failing = list(
            RuleResult.objects.filter(check_run__in=runs, status=ResultStatus.FAILED)
            .select_related("entity")
            .order_by("check_run", "rule_name")
        )
        problems = [
            f"check run #{run.pk} of '{run.datastore.name}' {run.status}: {run.error}" for run in broken
        ]
        if failing:
            names = ", ".join(
                f"{r.entity.name}.{r.rule_name}" if r.entity_id else r.rule_name for r in failing[:10]
            )
            more = f" and {len(failing) - 10} more" if len(failing) > 10 else ""
            problems.append(f"{len(failing)} error-severity rule(s) failed: {names}{more}")
        if problems:
            raise CommandError("; ".join(problems))

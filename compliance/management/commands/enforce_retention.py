from django.core.management.base import BaseCommand, CommandError

from catalog.management.commands._schema import datastore_named, user_may, user_named
from catalog.models import RetentionPolicy
from compliance.choices import ExecutionStatus, ExecutionTrigger, TableAction
from compliance.exceptions import RetentionBusy
from compliance.models import RetentionExecution
from compliance.retention import retention_enforce

DRY_VERBS = {
    TableAction.DELETE: "would be deleted",
    TableAction.ANONYMIZE: "would be anonymized",
    TableAction.ARCHIVE: "would be archived",
    TableAction.CLEAR_REFERENCE: "would have the reference cleared",
}
VERBS = {
    TableAction.DELETE: "deleted",
    TableAction.ANONYMIZE: "anonymized",
    TableAction.ARCHIVE: "archived",
    TableAction.CLEAR_REFERENCE: "had the reference cleared",
}


class Command(BaseCommand):
    help = (
        "Enforce retention policies now, in this process: delete, anonymize or archive the rows past each "
        "policy's period, one transaction per policy. Prints what happened per policy and table; every "
        "execution is recorded. Exits 1 when any policy failed (a legal hold only blocks, it is no failure)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count and sample only; change nothing.")
        parser.add_argument(
            "--policy", action="append", default=[], metavar="NAME", help="Only this policy (repeatable)."
        )
        parser.add_argument("--datastore", help="Only policies of this data store.")
        parser.add_argument("--user", help="Username the executions are recorded under.")

    def handle(self, *args, **options):
        user = user_named(options["user"])
        if not options["dry_run"]:
            user_may(user, "compliance.execute_retention", "enforce retention policies")
        policies = self._policies(options)
        failed = 0
        for policy in policies:
            try:
                execution = retention_enforce(
                    policy=policy, dry_run=options["dry_run"], trigger=ExecutionTrigger.COMMAND, user=user
                )
            except RetentionBusy as exc:
                self.stdout.write(self.style.ERROR(f"{self._title(policy)}: {exc.message}"))
                failed += 1
                continue
            self._print(policy, execution)
            failed += execution.status == ExecutionStatus.FAILED
        prefix = "Dry run, nothing changed: " if options["dry_run"] else ""
        summary = f"{prefix}{len(policies)} polic{'y' if len(policies) == 1 else 'ies'}, {failed} failed."
        if failed:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))

    def _policies(self, options) -> list[RetentionPolicy]:
        policies = RetentionPolicy.objects.select_related("entity__datastore", "anchor_column").order_by(
            "entity__datastore__name", "entity__name", "name"
        )
        if options["datastore"]:
            policies = policies.filter(entity__datastore=datastore_named(options["datastore"]))
        if options["policy"]:
            unknown = sorted(set(options["policy"]) - set(policies.values_list("name", flat=True)))
            if unknown:
                known = ", ".join(sorted(set(policies.values_list("name", flat=True)))) or "none"
                raise CommandError(f"No retention policy named {', '.join(unknown)} (known: {known}).")
            policies = policies.filter(name__in=options["policy"])
        if not policies:
            raise CommandError("No retention policy to enforce.")
        return list(policies)

    def _title(self, policy: RetentionPolicy) -> str:
        return (
            f"Policy '{policy.name}' ({policy.entity.datastore.name}.{policy.entity.name}, "
            f"{policy.get_action_display().lower()} after {policy.period_label} "
            f"of {policy.anchor_column.name})"
        )

    def _print(self, policy: RetentionPolicy, execution: RetentionExecution) -> None:
        self.stdout.write(f"{self._title(policy)}: execution #{execution.pk}")
        if execution.status == ExecutionStatus.BLOCKED:
            self.stdout.write(self.style.WARNING(f"  blocked: {execution.error}"))
            return
        if execution.status == ExecutionStatus.FAILED:
            self.stdout.write(self.style.ERROR(f"  FAILED: {execution.error.split(chr(10))[0]}"))
            return
        cutoff = f"{execution.cutoff:%Y-%m-%d %H:%M} UTC"
        self.stdout.write(f"  {execution.rows_expired} row(s) past the period (anchor before {cutoff})")
        verbs = DRY_VERBS if execution.dry_run else VERBS
        for entry in execution.rows_by_table:
            note = f" ({entry['note']})" if entry["note"] else ""
            self.stdout.write(f"  {entry['table']}: {entry['rows']} row(s) {verbs[entry['action']]}{note}")
        total = (execution.timings or {}).get("total")
        if total is not None:
            self.stdout.write(f"  done in {total:.2f} s")

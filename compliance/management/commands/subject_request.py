import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from catalog.management.commands._schema import (
    column_named,
    datastore_named,
    entity_named,
    user_may,
    user_named,
)
from catalog.models import Regulation
from compliance.choices import RequestKind, RequestStatus, TableAction
from compliance.exceptions import ConfirmationMismatch
from compliance.models import SubjectRequest
from compliance.subjects import (
    subject_request_create,
    subject_request_erase,
    subject_request_export,
    subject_request_find,
)

ACTIONS = {"find": RequestKind.FIND, "export": RequestKind.ACCESS, "erase": RequestKind.ERASURE}
SHOWN_ROWS = 5
ACTION_WORDS = {
    TableAction.DELETE: ("would be deleted", "deleted"),
    TableAction.ANONYMIZE: ("would be anonymized", "anonymized"),
    TableAction.HOLD: ("stay untouched", "left untouched"),
    TableAction.KEEP: ("stay unchanged (no personal data to anonymize)", "kept unchanged"),
}


class Command(BaseCommand):
    help = (
        "Answer a data subject request: find the subject's rows across a data store (following foreign "
        "keys), export them as JSON (access), or erase them (a dry run first, then again with --confirm "
        "set to the request id or the identifier). Personal data is masked unless --user may see it. "
        "Exits 1 when the request is refused (ambiguous, busy, ...) or fails."
    )

    def add_arguments(self, parser):
        parser.add_argument("--datastore", required=True, help="Data store to look in.")
        parser.add_argument("--identifier", required=True, help="The subject's e-mail, customer number ...")
        parser.add_argument("--action", required=True, choices=sorted(ACTIONS))
        parser.add_argument("--dry-run", action="store_true", help="erase: only show what would happen.")
        parser.add_argument("--entity", help="Look only in this entity.")
        parser.add_argument("--column", help="Look only in this column of --entity.")
        parser.add_argument("--confirm", help="erase: the request id (or the identifier) to confirm.")
        parser.add_argument("--user", help="Username the request is recorded under (and masking follows).")
        parser.add_argument("--regulation", help="Regulation code, e.g. GDPR or CCPA.")
        parser.add_argument("--basis", default="", help="Legal basis, e.g. 'Art. 17(1)(b)'.")
        parser.add_argument("-o", "--output", help="export: write the JSON to this file instead of stdout.")

    def handle(self, *args, **options):
        if options["dry_run"] and options["confirm"]:
            raise CommandError("Give either --dry-run or --confirm, not both.")
        if options["confirm"] and options["action"] != "erase":
            raise CommandError("--confirm belongs to --action erase.")
        user = user_named(options["user"])
        user_may(user, "compliance.add_subjectrequest", "start subject requests")
        store = datastore_named(options["datastore"])
        action = options["action"]
        if action == "erase" and options["confirm"]:
            user_may(user, "compliance.erase_subject", "erase a subject's data")
            request = self._confirmed_request(store, options, user)
            try:
                request = subject_request_erase(request=request, user=user, confirm=options["confirm"])
            except ConfirmationMismatch as exc:
                raise CommandError(exc.message) from None
            self._print_effects(request, request.touched, done=True)
            return self._exit(request)
        request = self._create(store, options, user, ACTIONS[action])
        if action == "find":
            self._find(request, user)
        elif action == "export":
            self._export(request, user, options["output"])
        else:
            request = subject_request_erase(request=request, user=user)
            self._print_effects(request, request.plan, done=False)
        return self._exit(SubjectRequest.objects.get(pk=request.pk))

    def _create(self, store, options, user, kind) -> SubjectRequest:
        entity = entity_named(store, options["entity"]) if options["entity"] else None
        if options["column"] and entity is None:
            raise CommandError("--column needs --entity.")
        column = column_named(entity, options["column"]) if options["column"] else None
        regulation = None
        if options["regulation"]:
            regulation = Regulation.objects.filter(code__iexact=options["regulation"]).first()
            if regulation is None:
                known = ", ".join(Regulation.objects.values_list("code", flat=True)) or "none"
                raise CommandError(f"No regulation '{options['regulation']}' (known: {known}).")
        return subject_request_create(
            datastore=store,
            identifier=options["identifier"],
            kind=kind,
            user=user,
            entity=entity,
            column=column,
            regulation=regulation,
            basis=options["basis"],
        )

    def _confirmed_request(self, store, options, user) -> SubjectRequest:
        """The erasure request awaiting the given confirmation: by id, or the subject's latest dry run; with
        only the identifier and no dry run yet, the dry run is made (and shown) first."""
        confirm, identifier = options["confirm"].strip(), options["identifier"]
        waiting = SubjectRequest.objects.filter(
            datastore=store, kind=RequestKind.ERASURE, status=RequestStatus.AWAITING_CONFIRMATION
        )
        if confirm.isdigit() and confirm.lower() != identifier.strip().lower():
            request = waiting.filter(pk=int(confirm)).first()
            if request is None or request.identifier.strip().lower() != identifier.strip().lower():
                raise CommandError(
                    f"No erasure request #{confirm} for '{identifier}' in '{store.name}' awaits "
                    "confirmation; run the dry run first (--action erase without --confirm)."
                )
            return request
        if confirm.lower() != identifier.strip().lower():
            raise CommandError("--confirm must be the request id of the dry run or the identifier itself.")
        entity_name = options["entity"] or None
        for request in waiting.filter(identifier__iexact=identifier.strip()).select_related(
            "entity", "column"
        ):
            if (request.entity.name if request.entity_id else None) == entity_name and (
                request.column.name if request.column_id else None
            ) == (options["column"] or None):
                return request
        request = subject_request_erase(
            request=self._create(store, options, user, RequestKind.ERASURE), user=user
        )
        self._print_effects(request, request.plan, done=False)
        if request.status != RequestStatus.AWAITING_CONFIRMATION:
            self._exit(request)
        return request

    def _find(self, request: SubjectRequest, user) -> None:
        findings = subject_request_find(request=request, user=user, rows_per_entity=SHOWN_ROWS)
        self.stdout.write(f"Request #{request.pk}: {findings.request.outcome}")
        for entity in findings.entities:
            finding = entity.finding
            how = []
            if finding.matched_on:
                how.append(f"matched on {', '.join(finding.matched_on)}")
            if finding.via:
                how.append(f"via {'; '.join(finding.via)}")
            held = f" [{finding.held}]" if finding.held else ""
            self.stdout.write(f"  {finding.table}: {finding.count} row(s), {', '.join(how)}{held}")
            for row in entity.rows:
                self.stdout.write(f"    {json.dumps(row, ensure_ascii=False)}")
            if finding.count > len(entity.rows):
                self.stdout.write(f"    ... {finding.count - len(entity.rows)} more")
        if findings.entities and findings.masked:
            self.stdout.write("  (personal data masked: --user must hold catalog.view_pii to see it)")

    def _export(self, request: SubjectRequest, user, output: str | None) -> None:
        request, document = subject_request_export(request=request, user=user)
        if document is None:
            return
        text = json.dumps(document, indent=2, ensure_ascii=False)
        if output:
            Path(output).write_text(text + "\n", encoding="utf-8")
            self.stderr.write(f"Request #{request.pk}: {request.outcome} Wrote {output}.")
        else:
            self.stdout.write(text)
            self.stderr.write(f"Request #{request.pk}: {request.outcome}")

    def _print_effects(self, request: SubjectRequest, effects: list, *, done: bool) -> None:
        self.stdout.write(f"Request #{request.pk}: {request.outcome}")
        for entry in effects:
            note = f" ({entry['note']})" if entry["note"] else ""
            verb = ACTION_WORDS[entry["action"]][1 if done else 0]
            self.stdout.write(f"  {entry['table']}: {entry['rows']} row(s) {verb}{note}")
        if not done and request.status == RequestStatus.AWAITING_CONFIRMATION:
            self.stdout.write(
                f"To erase: subject_request --datastore {request.datastore.name} --identifier "
                f"'{request.identifier}' --action erase --confirm {request.pk}"
            )

    def _exit(self, request: SubjectRequest) -> None:
        if request.status in (RequestStatus.REFUSED, RequestStatus.FAILED):
            raise CommandError(
                f"Request #{request.pk} {request.get_status_display().lower()}: {request.outcome}"
            )

"""Data subject requests (GDPR Art. 15 access, Art. 17 erasure, CCPA): record a request, find the subject's
rows, export them, or erase them after a dry run and an explicit confirmation.

Each request is a SubjectRequest record. Only one request per subject (data store and identifier, case
ignored) runs at a time: each takes a PostgreSQL advisory lock on the data store for its transaction, and a
second one is refused with "another request for this subject is running". An erasure runs in one
transaction: if the database refuses any statement, nothing is erased. Permissions are the callers' to
check (erasing needs compliance.erase_subject); personal data is masked for readers without
catalog.view_pii, and always in what the record keeps.
"""

import logging
import traceback
from collections import Counter
from dataclasses import dataclass, field

from django.utils import timezone

from catalog.choices import PIICategory
from catalog.models import Column, DataStore, Entity, Regulation
from compliance.choices import RequestKind, RequestStatus, TableAction
from compliance.exceptions import ComplianceError, ConfirmationMismatch, SubjectAmbiguous, SubjectBusy
from compliance.models import SubjectRequest
from compliance.rows import rows_as_dicts
from compliance.store import StoreSession, database_problem, store_session
from compliance.subject_search import (
    EntityFinding,
    erasure_apply,
    erasure_columns,
    erasure_plan,
    erasure_require_one_subject,
    identifying_columns,
    subject_search,
)
from core.errors import SchemaError
from core.masking import may_see_pii
from core.runs import run_claim, run_finish, run_heartbeat, run_move, run_request

__all__ = [
    "REPORT_ROWS_PER_ENTITY",
    "EntityRows",
    "SubjectFindings",
    "subject_lock_key",
    "subject_request_create",
    "subject_request_find",
    "subject_request_export",
    "subject_request_erase",
    "subject_access_document",
    "erasure_confirmed",
    "erasure_ambiguous_matches",
]

logger = logging.getLogger(__name__)

# The record keeps at most this many (masked) rows per entity; exports carry every row.
REPORT_ROWS_PER_ENTITY = 100


@dataclass
class EntityRows:
    """One entity's finding with its rows, as a particular reader may see them."""

    finding: EntityFinding
    rows: list[dict]

    def as_dict(self) -> dict:
        return {**self.finding.as_dict(), "rows": self.rows}


@dataclass
class SubjectFindings:
    """What a find (or export) showed its reader; `masked` says whether personal data was masked."""

    request: SubjectRequest
    entities: list[EntityRows] = field(default_factory=list)
    masked: bool = True


class _Outcome(Exception):
    """Internal: the request has been finished with a refusal or failure."""


def subject_lock_key(*, datastore: DataStore, identifier: str) -> str:
    """The advisory-lock name of a subject: one data store, the identifier without case or spaces."""
    return f"custodian-subject:{datastore.pk}:{identifier.strip().lower()}"


def subject_request_create(
    *,
    datastore: DataStore,
    identifier: str,
    kind: str = RequestKind.FIND,
    user=None,
    entity: Entity | None = None,
    column: Column | None = None,
    regulation: Regulation | None = None,
    basis: str = "",
) -> SubjectRequest:
    """Record a received request; ValidationError when the entity, column or data store do not fit."""
    request = SubjectRequest(
        datastore=datastore,
        identifier=identifier,
        kind=kind,
        entity=entity,
        column=column,
        regulation=regulation,
        basis=basis,
        requested_by=user if user is not None and user.is_authenticated else None,
    )
    request.full_clean()
    return run_request(request, user=request.requested_by or "service", enqueue=False)


def _finish(request: SubjectRequest, status: str, **fields) -> SubjectRequest:
    run_finish(request, status, by="service", **fields)
    return request


def _locked(request: SubjectRequest, work, *, commit: bool):
    """work(session) in one transaction on the data store, holding the subject's lock; SubjectBusy when
    another request holds it."""
    purpose = f"subject request #{request.pk}"
    with store_session(request.datastore, commit=commit, purpose=purpose) as session:
        key = subject_lock_key(datastore=request.datastore, identifier=request.identifier)
        if not session.advisory_lock(key):
            raise SubjectBusy(
                f"Another request for this subject in data store '{request.datastore.name}' is running; "
                "try again when it has finished. Nothing was done."
            )
        return work(session)


def _on_store(request: SubjectRequest, work, *, commit: bool, rolled_back: str):
    """_locked(...) with the request claimed (running, with a heartbeat from this process, so a process
    killed meanwhile leaves a request the reaper fails); refusals and failures are recorded on the request
    and raise _Outcome."""
    if run_claim(SubjectRequest, request.pk, by="service") is None:
        request.refresh_from_db()
        raise SubjectBusy(
            f"Request #{request.pk} is {request.get_status_display().lower()}; it is not run again."
        )
    request.refresh_from_db()
    try:
        with run_heartbeat(request):
            return _locked(request, work, commit=commit)
    except ComplianceError as exc:
        _finish(request, RequestStatus.REFUSED, error=exc.message, outcome=exc.message)
    except SchemaError as exc:
        _finish(request, RequestStatus.FAILED, error=exc.message, outcome=exc.message)
    except Exception as exc:
        logger.exception("Subject request #%s failed", request.pk)
        outcome = f"The data store refused it: {database_problem(exc)}. {rolled_back}"
        _finish(
            request, RequestStatus.FAILED, outcome=outcome, error=f"{outcome}\n\n{traceback.format_exc()}"
        )
    raise _Outcome


def _candidates(session: StoreSession, request: SubjectRequest):
    """The columns the request looks in: those asked for, and for an erasure every direct identifier."""
    columns = erasure_columns if request.kind == RequestKind.ERASURE else identifying_columns
    candidates = columns(session.graph, request.identifier, entity=request.entity, column=request.column)
    if request.column_id and not any(column.pk == request.column_id for column, _value in candidates):
        raise ComplianceError(
            f"'{request.identifier}' cannot be a value of {request.entity.name}.{request.column.name} "
            f"({request.column.sql_type}); nothing was looked up."
        )
    return candidates


def _no_rows(request: SubjectRequest, looked_in: list[str]) -> str:
    where = ", ".join(looked_in) if looked_in else "no identifying column can hold it"
    store = request.datastore.name
    return f"No rows refer to '{request.identifier}' in data store '{store}' (looked in: {where})."


def _find_work(request: SubjectRequest, *, limit: int | None):
    """work(session) returning (columns looked in, [(finding, column names, rows)]), read-only."""

    def work(session: StoreSession):
        search = subject_search(session, _candidates(session, request), read_only=True)
        found = []
        for finding in search.findings:
            names, rows = search.sets[finding.entity.pk].rows(limit=limit)
            found.append((finding, names, rows))
        return search.looked_in, found

    return work


def _find(request: SubjectRequest, *, limit: int | None):
    return _on_store(
        request, _find_work(request, limit=limit), commit=False, rolled_back="Nothing was changed."
    )


def _entity_rows(found, *, masked: bool, limit: int | None = None) -> list[EntityRows]:
    result = []
    for finding, names, rows in found:
        shown = rows if limit is None else rows[:limit]
        columns = list(finding.entity.columns.all())
        result.append(EntityRows(finding, rows_as_dicts(names, shown, columns, masked=masked)))
    return result


def _report(
    request: SubjectRequest, looked_in: list[str], entities: list[EntityRows], *, masked: bool
) -> dict:
    return {
        "request": request.pk,
        "kind": request.kind,
        "datastore": request.datastore.name,
        "identifier": request.identifier,
        "regulation": request.regulation.code if request.regulation_id else "",
        "basis": request.basis,
        "generated_at": timezone.now().isoformat(),
        "masked": masked,
        "looked_in": looked_in,
        "entities": [entity.as_dict() for entity in entities],
    }


def _found_outcome(request: SubjectRequest, found, looked_in: list[str]) -> str:
    if not found:
        return _no_rows(request, looked_in)
    listed = ", ".join(f"{finding.entity.name} ({finding.count})" for finding, _n, _r in found)
    total = sum(finding.count for finding, _n, _r in found)
    return f"Found {total} row(s) referring to the subject in {len(found)} entities: {listed}."


def subject_request_find(*, request: SubjectRequest, user=None, rows_per_entity: int = 20) -> SubjectFindings:
    """Find the subject's rows: per entity the count, how it was reached and up to `rows_per_entity` rows
    (masked unless `user` may see personal data). The record keeps the summary and masked rows."""
    try:
        looked_in, found = _find(request, limit=REPORT_ROWS_PER_ENTITY)
    except _Outcome:
        return SubjectFindings(request=request)
    masked = not may_see_pii(user)
    stored = _entity_rows(found, masked=True)
    request = _finish(
        request,
        RequestStatus.COMPLETED,
        outcome=_found_outcome(request, found, looked_in),
        found=[finding.as_dict() for finding, _n, _r in found],
        report=_report(request, looked_in, stored, masked=True),
    )
    return SubjectFindings(request, _entity_rows(found, masked=masked, limit=rows_per_entity), masked)


def subject_request_export(*, request: SubjectRequest, user=None) -> tuple[SubjectRequest, dict | None]:
    """The access export: every row found, per entity, as a JSON-ready document (masked unless `user` may
    see personal data). None when the request was refused or failed; the record keeps masked rows."""
    try:
        looked_in, found = _find(request, limit=None)
    except _Outcome:
        return request, None
    stored = _entity_rows(found, masked=True, limit=REPORT_ROWS_PER_ENTITY)
    request = _finish(
        request,
        RequestStatus.COMPLETED,
        outcome=_found_outcome(request, found, looked_in),
        found=[finding.as_dict() for finding, _n, _r in found],
        report=_report(request, looked_in, stored, masked=True),
    )
    masked = not may_see_pii(user)
    return request, _report(request, looked_in, _entity_rows(found, masked=masked), masked=masked)


def subject_access_document(*, request: SubjectRequest, user=None) -> dict:
    """A completed access request's export read again now, every row, masked unless `user` may see
    personal data (the download the subject receives). The record is not changed. ComplianceError when
    another request holds the subject or the request is no completed access request; SchemaError when the
    data store cannot be reached."""
    if request.kind != RequestKind.ACCESS or request.status != RequestStatus.COMPLETED:
        raise ComplianceError(f"Request #{request.pk} is no completed access request; nothing to export.")
    looked_in, found = _locked(request, _find_work(request, limit=None), commit=False)
    masked = not may_see_pii(user)
    return _report(request, looked_in, _entity_rows(found, masked=masked), masked=masked)


def erasure_ambiguous_matches(
    *, datastore: DataStore, identifier: str, entity: Entity | None = None, column: Column | None = None
) -> list[str]:
    """The matches ("customers.id") that would make an erasure of `identifier` ambiguous, read-only and
    before anything is recorded, so a form can ask for the entity and column at once. Empty when it would
    not be ambiguous, or when the data store cannot be asked now (the request itself then says why)."""
    request = SubjectRequest(
        datastore=datastore, identifier=identifier, kind=RequestKind.ERASURE, entity=entity, column=column
    )
    try:
        with store_session(datastore, commit=False, purpose="erasure check") as session:
            search = subject_search(session, _candidates(session, request), read_only=True, expand=False)
            erasure_require_one_subject(session.graph, search, identifier, entity=entity)
    except SubjectAmbiguous:
        return [f"{f.entity.name}.{'/'.join(f.matched_on)}" for f in search.matched_entities]
    except Exception:  # unreachable store, refused SQL: the request records the reason when it runs
        logger.info("Erasure check of %r in %s not made", identifier, datastore, exc_info=True)
    return []


def erasure_confirmed(request: SubjectRequest, confirm: str | None) -> bool:
    """The confirmation is the request's id or its identifier (case and spaces ignored)."""
    given = (confirm or "").strip()
    return bool(given) and (given == str(request.pk) or given.lower() == request.identifier.strip().lower())


def _effects_summary(effects: list[dict], *, done: bool) -> str:
    rows, tables = Counter(), {e["table"] for e in effects if e["action"] == TableAction.DELETE}
    for effect in effects:
        rows[effect["action"]] += effect["rows"]
    parts = [
        f"{'deleted' if done else 'would delete'} {rows[TableAction.DELETE]} row(s) "
        f"in {len(tables)} table(s)",
        f"{'anonymized' if done else 'anonymize'} {rows[TableAction.ANONYMIZE]} row(s)",
        f"{'left' if done else 'leave'} {rows[TableAction.HOLD]} row(s) untouched (legal hold)",
    ]
    if rows[TableAction.KEEP]:
        parts.append(
            f"{'kept' if done else 'keep'} {rows[TableAction.KEEP]} row(s) unchanged "
            "(they stay and hold no personal data to anonymize)"
        )
    return ", ".join(parts)


TABLE_WORDS = {
    TableAction.DELETE: "deleted",
    TableAction.ANONYMIZE: "anonymized",
    TableAction.HOLD: "held",
    TableAction.KEEP: "kept unchanged",
}


def _effects_by_table(effects: list[dict]) -> str:
    """'app.orders: 1 anonymized, 1 deleted; app.tickets: 1 held', tables in name order."""
    by_table: dict[str, list[str]] = {}
    for effect in sorted(effects, key=lambda e: (e["table"], e["action"])):
        by_table.setdefault(effect["table"], []).append(f"{effect['rows']} {TABLE_WORDS[effect['action']]}")
    return "; ".join(f"{table}: {', '.join(parts)}" for table, parts in by_table.items())


def _erasure_scope(request: SubjectRequest, search) -> str:
    """Where the identifier was found and what the erasure cannot cover, in words for the dry run."""
    matched = [f"{f.entity.name}.{name}" for f in search.findings for name in f.matched_on]
    sentences = [
        f"The identifier was found in {', '.join(matched)}; the erasure covers "
        f"{'each of them' if len(matched) > 1 else 'it'} and every row that refers to "
        f"{'them' if len(matched) > 1 else 'it'}."
    ]
    held = [f"{f.table} ({f.held})" for f in search.findings if f.held]
    if held:
        sentences.append(f"Left as they are, in clear: the rows of {', '.join(held)}.")
    if search.not_looked_in:
        sentences.append(
            f"Not looked in, as their tables are not in the database: {', '.join(search.not_looked_in)}."
        )
    others = list(
        DataStore.objects.exclude(pk=request.datastore_id)
        .filter(entities__columns__pii_category=PIICategory.DIRECT_IDENTIFIER)
        .distinct()
        .order_by("name")
        .values_list("name", flat=True)
    )
    if others:
        sentences.append(
            f"Other data stores with personal data are not part of this request: {', '.join(others)}."
        )
    return " ".join(sentences)


def _erasure_work(request: SubjectRequest, *, execute: bool):
    def work(session: StoreSession):
        search = subject_search(session, _candidates(session, request), read_only=not execute)
        if not search.findings:
            return search, [], []
        erasure_require_one_subject(session.graph, search, request.identifier, entity=request.entity)
        planned, rules = erasure_plan(session, search, timezone.now())
        done = erasure_apply(session, search, rules) if execute else []
        return search, planned, done

    return work


def subject_request_erase(
    *, request: SubjectRequest, user=None, confirm: str | None = None
) -> SubjectRequest:
    """Without `confirm`: the dry run (what would be deleted, anonymized or left per table), after which the
    request awaits confirmation. With it: the erasure itself, in one transaction, re-planned on the data
    as it is then. ConfirmationMismatch (nothing recorded) when the confirmation is wrong or no dry run
    came first."""
    if request.kind != RequestKind.ERASURE:
        raise ConfirmationMismatch(
            f"Request #{request.pk} is a {request.get_kind_display()} request, not an erasure."
        )
    execute = confirm is not None
    if execute and request.status != RequestStatus.AWAITING_CONFIRMATION:
        raise ConfirmationMismatch(
            f"Request #{request.pk} is {request.get_status_display().lower()}: an erasure runs only after "
            "its dry run, while it awaits confirmation."
        )
    if execute and not erasure_confirmed(request, confirm):
        raise ConfirmationMismatch(
            f"The confirmation '{confirm}' is neither the request's id ({request.pk}) nor its identifier; "
            "nothing was erased."
        )
    if not execute and request.is_finished:
        raise ConfirmationMismatch(f"Request #{request.pk} has finished; start a new request.")
    rolled_back = (
        "The transaction was rolled back: nothing was erased." if execute else "Nothing was changed."
    )
    try:
        search, planned, done = _on_store(
            request, _erasure_work(request, execute=execute), commit=execute, rolled_back=rolled_back
        )
    except _Outcome:
        return request
    planned, touched = [e.as_dict() for e in planned], [e.as_dict() for e in done]
    return _erasure_record(request, search, planned, touched, executed=execute)


def _erasure_record(
    request: SubjectRequest, search, planned: list, touched: list, *, executed: bool
) -> SubjectRequest:
    """Record a dry run (awaiting confirmation), an erasure, or that nothing refers to the subject."""
    found = [finding.as_dict() for finding in search.findings]
    report = _erasure_report(request, found, planned, touched)
    if not search.findings:
        outcome = _no_rows(request, search.looked_in) + " Nothing to erase."
        return _finish(request, RequestStatus.COMPLETED, outcome=outcome, found=found, report=report)
    if not executed:
        outcome = (
            f"Dry run, nothing changed: {_effects_summary(planned, done=False)}. "
            f"{_erasure_scope(request, search)} To erase, confirm with the request id ({request.pk}) or the "
            "identifier."
        )
        run_move(
            request,
            RequestStatus.AWAITING_CONFIRMATION,
            by="service",
            note="Dry run done.",
            outcome=outcome,
            found=found,
            plan=planned,
            report=report,
        )
        return request
    outcome = f"Erased: {_effects_summary(touched, done=True)}. Per table: {_effects_by_table(touched)}."
    return _finish(
        request, RequestStatus.COMPLETED, outcome=outcome, found=found, touched=touched, report=report
    )


def _erasure_report(request: SubjectRequest, found: list, planned: list, touched: list) -> dict:
    """What an erasure found and did, in counts only: the erased data must not live on in its record."""
    return {
        "request": request.pk,
        "kind": request.kind,
        "datastore": request.datastore.name,
        "identifier": request.identifier,
        "regulation": request.regulation.code if request.regulation_id else "",
        "basis": request.basis,
        "generated_at": timezone.now().isoformat(),
        "found": found,
        "plan": planned,
        "touched": touched,
    }

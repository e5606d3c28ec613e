"""Finding a data subject's rows on a data store and erasing them, inside one transaction the caller opened.

Finding: the identifier is looked for in the identifying columns (direct-identifier PII columns, and
single-column primary or unique keys whose type the identifier fits), or only in the column asked for.
An erasure always looks in every direct-identifier column of the data store as well, whatever column it
was asked for: the subject's e-mail address found in another table is the subject's too, and erasing
it in one place only would leave it in clear in the other. From the rows found, the catalog's foreign
keys are followed to every row that refers to them, and to the rows referring to those, until nothing
new is found (so cycles and self-references end).

Erasing decides a fate per row, then acts children first:

- Legal hold: rows of an entity on legal hold (or with a retention policy on hold) stay untouched and are
  reported as held.
- Retention minimum: a row stays, anonymized instead of deleted, while a retention policy of its entity
  that states a legal basis still covers it: its anchor date is empty (the period has not started) or
  newer than the policy's cutoff. The law that requires the record is served, the subject is not
  identifiable in it. A policy without a legal basis does not hold rows back from an erasure.
- Referenced: a row that rows staying behind (held or retained) still refer to cannot be deleted without
  breaking or cascading into them, so it is anonymized instead (its keys stay, its personal data goes).
- Owned: a row whose foreign key to a row that stays is ON DELETE CASCADE is part of that row (an order's
  line items): it stays with it, anonymized like it. The database would delete it with its parent only.
- Rows that stay but have no personal data besides their keys are kept unchanged, and reported as kept,
  not as anonymized: the record counts the rows the erasure really changed.
- Everything else is deleted, children before parents; foreign keys in cycles are cleared first.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from uuid import UUID

from psycopg import sql

from catalog.choices import OnDelete, PIICategory
from catalog.models import Column, Entity
from compliance.anonymize import anonymization_plan, anonymize_rows
from compliance.choices import RowFate, TableAction
from compliance.enforcement import TableEffect
from compliance.exceptions import SubjectAmbiguous
from compliance.graph import CatalogGraph
from compliance.retention import retention_cutoff
from compliance.store import ROW_FATE, RowSet, StoreSession

__all__ = [
    "EntityFinding",
    "SubjectSearch",
    "identifier_fits",
    "identifying_columns",
    "erasure_columns",
    "subject_search",
    "erasure_require_one_subject",
    "erasure_plan",
    "erasure_apply",
]

INTEGER_LIMITS = {"smallint": 2**15, "integer": 2**31, "bigint": 2**63}
ANONYMIZED = [RowFate.RETAIN, RowFate.REFERENCED, RowFate.OWNED]


@dataclass
class EntityFinding:
    """Rows of one entity that refer to the subject: matched directly and/or reached through foreign keys."""

    entity: Entity
    table: str
    count: int
    matched_on: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)
    held: str = ""

    def as_dict(self) -> dict:
        return {
            "entity": self.entity.name,
            "table": self.table,
            "count": self.count,
            "matched_on": self.matched_on,
            "via": self.via,
            "held": self.held,
        }


@dataclass
class SubjectSearch:
    """What a search found: per entity, and the row sets holding the rows on the data store."""

    sets: dict[int, RowSet]
    findings: list[EntityFinding]
    looked_in: list[str]
    not_looked_in: list[str] = field(default_factory=list)  # columns whose table is not in the database

    @property
    def matched_entities(self) -> list[EntityFinding]:
        return [finding for finding in self.findings if finding.matched_on]


def _identifier_value(column: Column, text: str):
    """The identifier as a value of the column's type, or None when it cannot be one."""
    family = column.type_family
    if family == "string":
        return text if not column.length or len(text) <= column.length else None
    if family == "integer":
        if not re.fullmatch(r"[+-]?\d{1,19}", text):
            return None
        number, limit = int(text), INTEGER_LIMITS.get(column.data_type, 2**63)
        return number if -limit <= number < limit else None
    try:
        if family == "numeric":
            number = Decimal(text)
            return number if number.is_finite() else None
        if family == "uuid":
            return UUID(text)
    except (InvalidOperation, ValueError):
        return None
    return None


def identifier_fits(column: Column, identifier: str) -> bool:
    """Whether the identifier can be a value of the column (its type and length)."""
    return _identifier_value(column, identifier.strip()) is not None


def _is_identifying(graph: CatalogGraph, column: Column) -> bool:
    if column.pii_category == PIICategory.DIRECT_IDENTIFIER or column.is_unique:
        return True
    keys = graph.key_columns(column.entity_id)
    return len(keys) == 1 and keys[0].pk == column.pk


def identifying_columns(
    graph: CatalogGraph, identifier: str, *, entity: Entity | None = None, column: Column | None = None
) -> list[tuple[Column, object]]:
    """(column, identifier as its value) for every column the identifier is looked for in."""
    text = identifier.strip()
    if column is not None:
        candidates = [c for c in graph.columns[column.entity_id] if c.pk == column.pk]
    else:
        entity_ids = [entity.pk] if entity is not None else list(graph.entities)
        candidates = [c for pk in entity_ids for c in graph.columns[pk] if _is_identifying(graph, c)]
    found = []
    for candidate in candidates:
        value = _identifier_value(candidate, text)
        if value is not None:
            found.append((candidate, value))
    return found


def erasure_columns(
    graph: CatalogGraph, identifier: str, *, entity: Entity | None = None, column: Column | None = None
) -> list[tuple[Column, object]]:
    """(column, identifier as its value) for every column an erasure looks in: those asked for (every
    identifying column when none is), and every direct-identifier column of the data store."""
    every = identifying_columns(graph, identifier)
    asked = (
        every
        if entity is None and column is None
        else identifying_columns(graph, identifier, entity=entity, column=column)
    )
    seen = {candidate.pk for candidate, _value in asked}
    direct = [
        (candidate, value)
        for candidate, value in every
        if candidate.pii_category == PIICategory.DIRECT_IDENTIFIER and candidate.pk not in seen
    ]
    return asked + direct


def _predicate(column: Column, value) -> tuple[sql.Composable, list]:
    name = sql.Identifier("t", column.name)
    if column.type_family == "string":
        # E-mail addresses and codes are given in any case; the subject is the same person
        return sql.SQL("lower({}) = lower(%s)").format(name), [value]
    return sql.SQL("{} = %s").format(name), [value]


def subject_search(
    session: StoreSession, candidates: list[tuple[Column, object]], *, read_only: bool, expand: bool = True
) -> SubjectSearch:
    """Match the candidates, then (when `expand`) follow foreign keys to every row referring to those
    found."""
    graph = session.graph
    # Only entities the matches can reach need a set; all are made before any read, so a find can then
    # switch the transaction to read-only
    reachable = dict.fromkeys(
        pk for column, _ in candidates for pk in graph.reachable_children(column.entity_id)
    )
    sets = {
        pk: session.row_set(graph.entity(pk)) for pk in reachable if session.table_exists(graph.entity(pk))
    }
    if read_only:
        session.read_only()
    matched: dict[int, list[str]] = {}
    for column, value in candidates:
        if column.entity_id not in sets:
            continue
        condition, params = _predicate(column, value)
        sets[column.entity_id].add(condition, params)
        hits = session.scalar(
            sql.SQL("SELECT count(*) FROM {} AS t WHERE {}").format(session.table(column.entity), condition),
            params,
        )
        if hits:
            matched.setdefault(column.entity_id, []).append(column.name)
    via: dict[int, list[str]] = {}
    if expand and matched:
        _follow_children(session, sets, via)
    findings = []
    for pk, row_set in sorted(sets.items(), key=lambda item: item[1].entity.name):
        count = row_set.count()
        if count:
            findings.append(
                EntityFinding(
                    entity=row_set.entity,
                    table=session.qualified(row_set.entity),
                    count=count,
                    matched_on=matched.get(pk, []),
                    via=via.get(pk, []),
                    held=graph.hold_reason(pk),
                )
            )
    looked_in = [
        f"{column.entity.name}.{column.name}" for column, _ in candidates if column.entity_id in sets
    ]
    not_looked_in = [
        f"{column.entity.name}.{column.name}" for column, _ in candidates if column.entity_id not in sets
    ]
    return SubjectSearch(sets=sets, findings=findings, looked_in=looked_in, not_looked_in=not_looked_in)


def _follow_children(session: StoreSession, sets: dict[int, RowSet], via: dict[int, list[str]]) -> None:
    """Add the rows referring to rows in the sets, until no set grows (cycle-safe)."""
    grown = True
    while grown:
        grown = False
        for fk in session.graph.foreign_keys:
            if fk.parent_id not in sets or fk.child_id not in sets:
                continue
            child = sets[fk.child_id]
            if child.add(child.referencing(fk, sets[fk.parent_id])) > 0:
                grown = True
                if str(fk) not in via.setdefault(fk.child_id, []):
                    via[fk.child_id].append(str(fk))


def erasure_require_one_subject(
    graph: CatalogGraph, search: SubjectSearch, identifier: str, *, entity: Entity | None = None
) -> None:
    """An erasure erases one subject: SubjectAmbiguous naming the matches when the identifier matched
    several entities and some of them only on a key that names no person (customer 42 and order 42 are
    not one subject). Matches on direct identifiers, or in the entity asked for, are the subject's."""
    matched = search.matched_entities

    def names_the_subject(finding: EntityFinding) -> bool:
        if entity is not None and finding.entity.pk == entity.pk:
            return True
        columns = {c.name: c for c in graph.columns[finding.entity.pk]}
        return any(columns[name].pii_category == PIICategory.DIRECT_IDENTIFIER for name in finding.matched_on)

    if len(matched) > 1 and not all(names_the_subject(finding) for finding in matched):
        listed = ", ".join(f"{finding.entity.name}.{'/'.join(finding.matched_on)}" for finding in matched)
        raise SubjectAmbiguous(
            f"'{identifier}' matches rows in {len(matched)} entities ({listed}), and not all of them are the "
            "same person. Choose the entity and the column that identify the subject; nothing was changed."
        )


def _decide_fates(session: StoreSession, search: SubjectSearch, now: datetime) -> None:
    graph = session.graph
    found = {finding.entity.pk for finding in search.findings}
    for pk in found:
        row_set = search.sets[pk]
        if graph.hold_reason(pk):
            row_set.set_fate(RowFate.HOLD)
            continue
        for policy in graph.policies(pk):
            if not policy.legal_basis.strip():
                continue
            anchor = sql.Identifier("t", policy.anchor_column.name)
            row_set.set_fate(
                RowFate.RETAIN,
                where=sql.SQL("{} IS NULL OR {} >= %s").format(anchor, anchor),
                params=[retention_cutoff(policy, now)],
                from_table=True,
            )
    grown = True
    while grown:
        grown = False
        for fk in graph.foreign_keys:
            if fk.child_id not in found or fk.parent_id not in found:
                continue
            child, parent = search.sets[fk.child_id], search.sets[fk.parent_id]
            staying = sql.SQL("s.{} IN (SELECT c.{} FROM {} AS c WHERE c.{} <> 'delete')").format(
                sql.Identifier(fk.target.name),
                sql.Identifier(fk.column.name),
                child.temp,
                sql.Identifier(ROW_FATE),
            )
            grown |= parent.set_fate(RowFate.REFERENCED, where=staying) > 0
            if fk.on_delete == OnDelete.CASCADE:
                # The child is part of its parent: a parent row that stays keeps its children
                owner_stays = sql.SQL("s.{} IN (SELECT p.{} FROM {} AS p WHERE p.{} <> 'delete')").format(
                    sql.Identifier(fk.column.name),
                    sql.Identifier(fk.target.name),
                    parent.temp,
                    sql.Identifier(ROW_FATE),
                )
                grown |= child.set_fate(RowFate.OWNED, where=owner_stays) > 0


def _retained_note(session: StoreSession, pk: int, row_set: RowSet) -> str:
    notes = []
    if row_set.count([RowFate.RETAIN]):
        names = [p.name for p in session.graph.policies(pk) if p.legal_basis.strip()]
        notes.append(f"still required by retention policy {', '.join(repr(n) for n in names)}")
    if row_set.count([RowFate.REFERENCED]):
        notes.append("rows that stay still refer to them")
    if row_set.count([RowFate.OWNED]):
        owners = sorted(
            {fk.target.entity.name for fk in session.graph.parents(pk) if fk.on_delete == OnDelete.CASCADE}
        )
        notes.append(f"they belong to {', '.join(owners)} rows that stay, so they stay too")
    return "; ".join(notes)


def erasure_plan(
    session: StoreSession, search: SubjectSearch, now: datetime
) -> tuple[list[TableEffect], dict]:
    """Decide every found row's fate; (per table what would happen, anonymization rules per entity).
    RetentionRefused when a row to anonymize has a column that cannot be."""
    _decide_fates(session, search, now)
    effects, rules = [], {}
    for finding in search.findings:
        pk, row_set = finding.entity.pk, search.sets[finding.entity.pk]
        table = finding.table
        held = row_set.count([RowFate.HOLD])
        if held:
            effects.append(TableEffect(finding.entity.name, table, TableAction.HOLD, held, finding.held))
        anonymized = row_set.count(ANONYMIZED)
        if anonymized:
            rules[pk], key_notes = anonymization_plan(session.graph, pk)
            described = ", ".join(rule.describe() for rule in rules[pk]) or "no personal data to anonymize"
            note = (
                f"{_retained_note(session, pk, row_set)} ({described}{''.join('; ' + n for n in key_notes)})"
            )
            # Rows with nothing personal to anonymize stay as they are: kept, not anonymized
            action = TableAction.ANONYMIZE if rules[pk] else TableAction.KEEP
            effects.append(TableEffect(finding.entity.name, table, action, anonymized, note))
        deleted = row_set.count([RowFate.DELETE])
        if deleted:
            effects.append(TableEffect(finding.entity.name, table, TableAction.DELETE, deleted))
    return effects, rules


def _clear_cycle_keys(session: StoreSession, search: SubjectSearch, cycle_keys) -> None:
    """Foreign keys in a cycle: NULL them in rows about to be deleted, so the cycle's rows can go."""
    for fk in cycle_keys:
        if not fk.column.nullable:
            continue  # the database decides; a failure rolls everything back
        child = search.sets[fk.child_id]
        session.execute(
            sql.SQL("UPDATE {} AS t SET {} = NULL FROM {} AS s WHERE {}{}").format(
                child.table,
                sql.Identifier(fk.column.name),
                child.temp,
                child.match(),
                child.fate_filter([RowFate.DELETE]),
            )
        )


def erasure_apply(session: StoreSession, search: SubjectSearch, rules: dict) -> list[TableEffect]:
    """Anonymize and delete as planned (held rows untouched), children first; what was done per table."""
    found = [finding.entity.pk for finding in search.findings]
    order, cycle_keys = session.graph.children_first(found)
    _clear_cycle_keys(session, search, cycle_keys)
    by_pk = {finding.entity.pk: finding for finding in search.findings}
    effects = []
    for pk in order:
        finding, row_set = by_pk[pk], search.sets[pk]
        held = row_set.count([RowFate.HOLD])
        if held:
            effects.append(
                TableEffect(finding.entity.name, finding.table, TableAction.HOLD, held, finding.held)
            )
        if pk in rules:
            # Counted from what the database changed, not from the rows that stay
            changed = anonymize_rows(row_set, rules[pk], fates=ANONYMIZED)
            unchanged = row_set.count(ANONYMIZED) - changed
            why = _retained_note(session, pk, row_set)
            if changed:
                effects.append(
                    TableEffect(finding.entity.name, finding.table, TableAction.ANONYMIZE, changed, why)
                )
            if unchanged:
                note = f"{why} (no personal data to anonymize)" if not rules[pk] else why
                effects.append(
                    TableEffect(finding.entity.name, finding.table, TableAction.KEEP, unchanged, note)
                )
        deleted = row_set.delete([RowFate.DELETE])
        if deleted:
            effects.append(TableEffect(finding.entity.name, finding.table, TableAction.DELETE, deleted))
    return effects

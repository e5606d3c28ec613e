"""Enforcing one retention policy on its data store, inside one transaction the caller opened: find the
rows past the period, then delete, anonymize or archive them (or, in a dry run, only count and sample).

Foreign keys, as the catalog declares them, decide what happens to rows of other entities that refer to
expiring rows:

- delete: children whose foreign key is ON DELETE CASCADE are deleted too, children first, recursively
  (a child reached twice, or a cycle, adds no row twice); SET NULL / SET DEFAULT children have the
  reference cleared first. A RESTRICT / NO ACTION child still referring to an expiring row, or any
  referring child on legal hold, refuses the execution with the table and count: deleting would fail or
  destroy held data.
- anonymize: keys are never changed, so children are unaffected.
- archive: rows move to `<table>_archive` (created LIKE the table when missing). Rows that other rows still
  refer to cannot move, so any referring child row refuses the execution.
"""

from dataclasses import dataclass, field
from datetime import datetime

from psycopg import sql

from catalog.choices import OnDelete, RetentionAction
from catalog.models import RetentionPolicy
from compliance.anonymize import anonymization_plan, anonymize_rows
from compliance.choices import TableAction
from compliance.exceptions import RetentionRefused
from compliance.graph import ForeignKey
from compliance.rows import rows_as_dicts
from compliance.store import RowSet, StoreSession

__all__ = ["TableEffect", "RetentionOutcome", "retention_apply", "SAMPLE_ROWS"]

SAMPLE_ROWS = 10
CLEARED_BY = {OnDelete.SET_NULL: sql.SQL("NULL"), OnDelete.SET_DEFAULT: sql.SQL("DEFAULT")}


@dataclass
class TableEffect:
    """What was (or would be) done to rows of one table."""

    entity: str
    table: str
    action: str
    rows: int
    note: str = ""

    def as_dict(self) -> dict:
        return {
            "entity": self.entity,
            "table": self.table,
            "action": self.action,
            "rows": self.rows,
            "note": self.note,
        }


@dataclass
class RetentionOutcome:
    rows_expired: int = 0
    samples: list = field(default_factory=list)
    effects: list[TableEffect] = field(default_factory=list)


def retention_apply(
    session: StoreSession, policy: RetentionPolicy, *, cutoff: datetime, dry_run: bool
) -> RetentionOutcome:
    """Find the policy's expired rows and act on them (or only plan it, in a dry run); RetentionRefused
    when that would break a foreign key, a hold or the archive table."""
    graph = session.graph
    entity = graph.entity(policy.entity_id)
    if not session.table_exists(entity):
        raise RetentionRefused(
            f"Table {session.qualified(entity)} does not exist in data store '{graph.datastore.name}': the "
            "entity was never applied. Apply a schema release first; nothing was changed."
        )
    # A delete may cascade into children; anonymizing and archiving work on the policy's table alone
    involved = [entity.pk]
    if policy.action == RetentionAction.DELETE:
        involved = graph.reachable_children(entity.pk, follow=lambda fk: fk.on_delete == OnDelete.CASCADE)
    sets = {
        pk: session.row_set(graph.entity(pk)) for pk in involved if session.table_exists(graph.entity(pk))
    }
    if dry_run:
        session.read_only()
    expiring = sets[entity.pk]
    anchor = sql.Identifier("t", policy.anchor_column.name)
    outcome = RetentionOutcome(rows_expired=expiring.add(sql.SQL("{} < %s").format(anchor), [cutoff]))
    names, rows = expiring.rows(limit=SAMPLE_ROWS)
    outcome.samples = rows_as_dicts(names, rows, graph.columns[entity.pk], masked=True)
    if outcome.rows_expired:
        handler = {
            RetentionAction.DELETE: _delete,
            RetentionAction.ANONYMIZE: _anonymize,
            RetentionAction.ARCHIVE: _archive,
        }[policy.action]
        outcome.effects = handler(session, sets, expiring, dry_run=dry_run)
    return outcome


def _effect(session: StoreSession, row_set: RowSet, action: str, rows: int, note: str = "") -> TableEffect:
    return TableEffect(row_set.entity.name, session.qualified(row_set.entity), action, rows, note)


def _cascade(session: StoreSession, sets: dict[int, RowSet]) -> None:
    """Add every CASCADE child row referring to a row in a set, until no set grows (cycle-safe)."""
    grown = True
    while grown:
        grown = False
        for fk in session.graph.foreign_keys:
            if fk.on_delete != OnDelete.CASCADE or fk.parent_id not in sets or fk.child_id not in sets:
                continue
            child, parent = sets[fk.child_id], sets[fk.parent_id]
            grown |= child.add(child.referencing(fk, parent)) > 0


def _referring_rows(session: StoreSession, sets: dict[int, RowSet], fk: ForeignKey) -> int:
    """Rows of fk's child table referring to a row of the parent's set and not in a set themselves."""
    graph = session.graph
    child_entity = graph.entity(fk.child_id)
    parent = sets[fk.parent_id]
    statement = sql.SQL("SELECT count(*) FROM {} AS t WHERE t.{} IN (SELECT p.{} FROM {} AS p)").format(
        session.table(child_entity),
        sql.Identifier(fk.column.name),
        sql.Identifier(fk.target.name),
        parent.temp,
    )
    if fk.child_id in sets:
        child = sets[fk.child_id]
        statement = sql.SQL("{} AND NOT EXISTS (SELECT 1 FROM {} AS s WHERE {})").format(
            statement, child.temp, child.match()
        )
    return session.scalar(statement)


def _children_check(session: StoreSession, sets: dict[int, RowSet], *, clearable: bool) -> list[tuple]:
    """Foreign keys whose child rows refer to rows about to leave, with their counts; RetentionRefused when
    such rows cannot be left behind (held, RESTRICT, or anything but clearable references)."""
    graph, clears = session.graph, []
    for parent_id, parent in sets.items():
        for fk in graph.children(parent_id):
            child_entity = graph.entity(fk.child_id)
            if not session.table_exists(child_entity):
                continue
            count = _referring_rows(session, sets, fk)
            if not count:
                continue
            what = f"{count} row(s) of {session.qualified(child_entity)} ({fk}) refer to expiring rows"
            if graph.hold_reason(fk.child_id):
                raise RetentionRefused(f"{what}, and {graph.hold_reason(fk.child_id)}. Nothing was changed.")
            if not clearable or fk.on_delete not in CLEARED_BY:
                hint = (
                    "archive or delete those rows first"
                    if not clearable
                    else f"its foreign key is ON DELETE {fk.column.get_on_delete_display()}: make it CASCADE "
                    "or SET NULL, or enforce a policy on that table first"
                )
                verb = "archived" if not clearable else "deleted"
                raise RetentionRefused(
                    f"Expired rows of {session.qualified(parent.entity)} cannot be {verb}: {what}; {hint}. "
                    "Nothing was changed."
                )
            clears.append((fk, count))
    return clears


def _cascade_hold_check(session: StoreSession, sets: dict[int, RowSet], expiring: RowSet) -> None:
    """Rows a cascade would delete must not be held."""
    for row_set in sets.values():
        reason = session.graph.hold_reason(row_set.entity.pk)
        if row_set is not expiring and reason and row_set.count():
            raise RetentionRefused(
                f"{row_set.count()} row(s) of {session.qualified(row_set.entity)} would be deleted with the "
                f"expired rows (ON DELETE CASCADE), but {reason}. Nothing was changed."
            )


def _clear_references(session: StoreSession, sets: dict[int, RowSet], fk: ForeignKey) -> int:
    """Set the child's foreign key to NULL (or its default) where it refers to a row about to be deleted."""
    graph = session.graph
    parent = sets[fk.parent_id]
    statement = sql.SQL("UPDATE {} AS t SET {} = {} WHERE t.{} IN (SELECT p.{} FROM {} AS p)").format(
        session.table(graph.entity(fk.child_id)),
        sql.Identifier(fk.column.name),
        CLEARED_BY[fk.on_delete],
        sql.Identifier(fk.column.name),
        sql.Identifier(fk.target.name),
        parent.temp,
    )
    if fk.child_id in sets:
        child = sets[fk.child_id]
        statement = sql.SQL("{} AND NOT EXISTS (SELECT 1 FROM {} AS s WHERE {})").format(
            statement, child.temp, child.match()
        )
    return session.execute(statement).rowcount


def _delete(session: StoreSession, sets: dict[int, RowSet], expiring: RowSet, *, dry_run: bool) -> list:
    _cascade(session, sets)
    _cascade_hold_check(session, sets, expiring)
    clears = _children_check(session, sets, clearable=True)
    effects = []
    for fk, count in clears:
        child = session.graph.entity(fk.child_id)
        rows = count if dry_run else _clear_references(session, sets, fk)
        note = f"{fk.column.name} set to {'NULL' if fk.on_delete == OnDelete.SET_NULL else 'its default'}"
        effects.append(
            TableEffect(child.name, session.qualified(child), TableAction.CLEAR_REFERENCE, rows, note)
        )
    order, _cycles = session.graph.children_first([pk for pk, s in sets.items() if s.count()])
    for pk in order:
        row_set = sets[pk]
        rows = row_set.count() if dry_run else row_set.delete()
        note = "" if row_set is expiring else "ON DELETE CASCADE from the expired rows"
        effects.append(_effect(session, row_set, TableAction.DELETE, rows, note))
    return effects


def _anonymize(session: StoreSession, sets: dict[int, RowSet], expiring: RowSet, *, dry_run: bool) -> list:
    rules, notes = anonymization_plan(session.graph, expiring.entity.pk)
    if not rules:
        raise RetentionRefused(
            f"{expiring.entity.name} has no personal-data column that can be anonymized"
            + (f" ({'; '.join(notes)})" if notes else "")
            + ". Choose delete or archive for this policy. Nothing was changed."
        )
    rows = expiring.count() if dry_run else anonymize_rows(expiring, rules)
    note = ", ".join(rule.describe() for rule in rules) + "".join(f"; {n}" for n in notes)
    return [_effect(session, expiring, TableAction.ANONYMIZE, rows, note)]


def _archive(session: StoreSession, sets: dict[int, RowSet], expiring: RowSet, *, dry_run: bool) -> list:
    _children_check(session, {expiring.entity.pk: expiring}, clearable=False)
    entity = expiring.entity
    archive_name = f"{entity.name}_archive"
    if len(archive_name.encode()) > 63:
        raise RetentionRefused(
            f"The archive table of {entity.name} would be named {archive_name}, longer than PostgreSQL's 63 "
            "bytes. Rename the entity or choose delete. Nothing was changed."
        )
    archive = sql.Identifier(session.schema, archive_name)
    exists = session.scalar(
        sql.SQL("SELECT to_regclass(%s) IS NOT NULL"), [session.regclass_name(session.schema, archive_name)]
    )
    if exists:
        _archive_shape_check(session, entity.name, archive_name)
    note = f"moved to {session.schema}.{archive_name}" + ("" if exists else " (created)")
    if dry_run:
        return [_effect(session, expiring, TableAction.ARCHIVE, expiring.count(), note)]
    if not exists:
        session.execute(sql.SQL("CREATE TABLE {} (LIKE {})").format(archive, expiring.table))
    copy = sql.SQL("INSERT INTO {} SELECT t.* FROM {} AS t JOIN {} AS s ON {} WHERE {}").format(
        archive, expiring.table, expiring.temp, expiring.match(), expiring.in_batch()
    )
    for after, up_to in expiring.batches():
        session.execute(copy, [after, up_to])
    return [_effect(session, expiring, TableAction.ARCHIVE, expiring.delete(), note)]


def _archive_shape_check(session: StoreSession, table: str, archive: str) -> None:
    """An existing archive table must have the table's columns, in order and of the same types."""
    statement = sql.SQL(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
    )
    live = session.execute(statement, [session.regclass_name(session.schema, table)]).fetchall()
    kept = session.execute(statement, [session.regclass_name(session.schema, archive)]).fetchall()
    if live != kept:
        differs = sorted(set(live) ^ set(kept)) or ["column order"]
        raise RetentionRefused(
            f"The archive table {session.schema}.{archive} no longer matches {session.schema}.{table} "
            f"(differs in: {', '.join(' '.join(d) if isinstance(d, tuple) else d for d in differs)}). "
            "Bring its columns in line with the table, then run again. Nothing was changed."
        )

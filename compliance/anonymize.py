"""Anonymizing rows in place: what happens to each personal-data column, and the SQL that does it.

The rule, per PII column (the catalog says which columns are personal data):

- Key columns (primary key, foreign keys and columns a foreign key points at) are never changed: other rows
  join on them. They are reported as kept.
- Text columns whose strategy is hash or tokenize get that masked value, and partial masking gets its
  partial value (hash instead when the column is unique, since partial values collide). The value is
  computed in Python with `core.masking.mask_value` (one definition of masking, keyed by the pepper,
  which the data store never sees) and written per batch with one UPDATE ... FROM unnest(...).
- Every other strategy (redact, nullify, none) sets the column to NULL when it may be NULL. A NOT NULL text
  column gets the hash instead (unique-safe and not reversible).
- A NOT NULL column of another type (a date of birth, a number) cannot be anonymized without inventing a
  value: the execution is refused, naming the column, so a steward can make it nullable or drop it.

Masked values must pass the column's checks (length, minimum length, pattern, allowed values), which the
database enforces: a value is cut to the column's length; one a pattern refuses is tried in the shape of an
e-mail address in the reserved `.invalid` domain (`<hash>@anonymized.invalid`), since e-mail checks are the
common case; partial masking that would leave a short value whole masks all of it. When no shape passes,
a nullable column gets NULL, and a NOT NULL one refuses the execution (rolled back), naming the column.

Non-PII columns are kept as they are.
"""

import re
from dataclasses import dataclass

from psycopg import sql

from catalog.models import Column
from compliance.exceptions import RetentionRefused
from compliance.graph import CatalogGraph
from compliance.store import ROW_NUMBER, RowSet
from core.masking import column_masking, mask_value

__all__ = ["ColumnAnonymization", "anonymization_plan", "anonymize_rows"]

PYTHON_MASKED = {"hash", "tokenize", "partial"}


@dataclass(frozen=True)
class ColumnAnonymization:
    """One PII column: set to NULL (`strategy` None) or to mask_value(value, strategy)."""

    column: Column
    strategy: str | None

    def masked(self, value):
        """The anonymized value: masked per the strategy, in a shape the column's checks accept."""
        if value is None or self.strategy is None:
            return None
        masked = mask_value(value, self.strategy)
        if masked == str(value):  # partial masking of a value no longer than what it shows
            masked = "*" * len(masked)
        for candidate in self._shapes(masked):
            if self._passes_checks(candidate):
                return candidate
        if self.column.nullable:
            return None
        raise RetentionRefused(
            f"No anonymized value of {self.column} passes its checks (pattern {self.column.pattern!r}, "
            f"allowed values {self.column.allowed_values or 'any'}) and it is NOT NULL. Relax the check or "
            "make the column nullable, then run again. Nothing was changed."
        )

    def _shapes(self, masked: str):
        length = self.column.length
        yield masked[:length] if length else masked
        domain = "@anonymized.invalid"
        yield (masked[: length - len(domain)] if length else masked) + domain

    def _passes_checks(self, candidate: str) -> bool:
        column = self.column
        if column.length and len(candidate) > column.length:
            return False
        if column.min_length is not None and len(candidate) < column.min_length:
            return False
        if column.allowed_values and candidate not in [str(v) for v in column.allowed_values]:
            return False
        # PostgreSQL's `~` finds the pattern anywhere in the value, as re.search does
        return not column.pattern or re.search(column.pattern, candidate) is not None

    def describe(self) -> str:
        return (
            f"{self.column.name}: NULL" if self.strategy is None else f"{self.column.name}: {self.strategy}"
        )


def _key_column_ids(graph: CatalogGraph, entity_id: int) -> set[int]:
    keys = {c.pk for c in graph.key_columns(entity_id)}
    keys |= {fk.column.pk for fk in graph.parents(entity_id)}
    keys |= {fk.target.pk for fk in graph.children(entity_id)}
    return keys


def _column_rule(column: Column) -> ColumnAnonymization:
    strategy = column_masking(column)
    if column.type_family == "string":
        if strategy in PYTHON_MASKED:
            return ColumnAnonymization(
                column, "hash" if strategy == "partial" and column.is_unique else strategy
            )
        return ColumnAnonymization(column, None if column.nullable else "hash")
    if column.nullable:
        return ColumnAnonymization(column, None)
    raise RetentionRefused(
        f"Column {column} is personal data ({column.get_pii_category_display()}) but NOT NULL and "
        f"{column.sql_type}: it cannot be anonymized without inventing a value. Make it nullable, or give "
        "it a text type, then run again. Nothing was changed."
    )


def anonymization_plan(graph: CatalogGraph, entity_id: int) -> tuple[list[ColumnAnonymization], list[str]]:
    """(what happens to each PII column, notes on PII columns kept because they are keys)."""
    keys = _key_column_ids(graph, entity_id)
    rules, notes = [], []
    for column in graph.columns[entity_id]:
        if not column.is_pii:
            continue
        if column.pk in keys:
            notes.append(f"{column.name} kept: it is a key other rows join on")
            continue
        rules.append(_column_rule(column))
    return rules, notes


def anonymize_rows(row_set: RowSet, rules: list[ColumnAnonymization], fates=None) -> int:
    """Apply the rules to the set's rows (optionally only those of some fates), batch by batch; returns
    the rows changed."""
    if not rules:
        return 0
    session = row_set.session
    masked = [rule for rule in rules if rule.strategy is not None]
    nulled = [rule for rule in rules if rule.strategy is None]
    assignments = [sql.SQL("{} = NULL").format(sql.Identifier(r.column.name)) for r in nulled]
    assignments += [
        sql.SQL("{} = m.{}").format(sql.Identifier(r.column.name), sql.Identifier(f"v{i}"))
        for i, r in enumerate(masked)
    ]
    fate_filter = row_set.fate_filter(fates)
    if masked:
        unnest = sql.SQL("unnest(%s::bigint[], {}) AS m(n, {})").format(
            sql.SQL(", ").join(sql.SQL("%s::text[]") for _ in masked),
            sql.SQL(", ").join(sql.Identifier(f"v{i}") for i in range(len(masked))),
        )
        read = sql.SQL("SELECT s.{}, {} FROM {} AS t JOIN {} AS s ON {} WHERE {}{}").format(
            sql.Identifier(ROW_NUMBER),
            sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(r.column.name)) for r in masked),
            row_set.table,
            row_set.temp,
            row_set.match(),
            row_set.in_batch(),
            fate_filter,
        )
        write = sql.SQL("UPDATE {} AS t SET {} FROM {} AS s, {} WHERE s.{} = m.n AND {}").format(
            row_set.table,
            sql.SQL(", ").join(assignments),
            row_set.temp,
            unnest,
            sql.Identifier(ROW_NUMBER),
            row_set.match(),
        )
    else:
        write = sql.SQL("UPDATE {} AS t SET {} FROM {} AS s WHERE {} AND {}{}").format(
            row_set.table,
            sql.SQL(", ").join(assignments),
            row_set.temp,
            row_set.match(),
            row_set.in_batch(),
            fate_filter,
        )
    changed = 0
    for after, up_to in row_set.batches():
        if not masked:
            changed += session.execute(write, [after, up_to]).rowcount
            continue
        batch = session.execute(read, [after, up_to]).fetchall()
        if not batch:
            continue
        numbers = [row[0] for row in batch]
        values = [[rule.masked(row[i + 1]) for row in batch] for i, rule in enumerate(masked)]
        changed += session.execute(write, [numbers, *values]).rowcount
    return changed

"""Lint of a release's changes: what could lose data, lock a table, fail on existing rows or break readers."""

from dataclasses import asdict, dataclass

from catalog.choices import LintSeverity
from catalog.schema.diff import Change

__all__ = ["Finding", "release_lint", "LARGE_TABLE_ROWS"]

LARGE_TABLE_ROWS = 100_000


@dataclass(frozen=True)
class Finding:
    severity: str
    code: str
    entity: str
    message: str

    def as_dict(self) -> dict:
        return asdict(self)


def _rows_phrase(rows: int | None) -> str:
    return "rows of unknown number" if rows is None else f"{rows:,} rows"


def _finding(change: Change, rows: int | None) -> Finding | None:
    has_rows = rows is None or rows > 0
    where = f"{change.entity}.{change.column}" if change.column else change.entity
    if change.kind == "table_dropped":
        return Finding(
            LintSeverity.ERROR,
            "drop-table",
            change.entity,
            f"Dropping table {change.entity} deletes its {_rows_phrase(rows)} for good.",
        )
    if change.kind == "column_dropped":
        return Finding(
            LintSeverity.ERROR,
            "drop-column",
            change.entity,
            f"Dropping {where} deletes its values in {_rows_phrase(rows)} for good.",
        )
    if change.kind == "column_type" and change.data.get("narrowing"):
        return Finding(
            LintSeverity.ERROR,
            "narrow-type",
            change.entity,
            f"{where} narrows from {change.data['old']} to {change.data['new']}: existing values that do "
            "not fit make the migration fail, or are cut.",
        )
    if change.kind == "column_type":
        return Finding(
            LintSeverity.WARNING,
            "change-type",
            change.entity,
            f"{where} changes from {change.data['old']} to {change.data['new']}: the table is rewritten "
            "under an exclusive lock.",
        )
    if change.kind == "column_nullability" and not change.data["nullable"] and has_rows:
        return Finding(
            LintSeverity.WARNING if rows is None else LintSeverity.ERROR,
            "set-not-null",
            change.entity,
            f"SET NOT NULL on {where} fails if any of its {_rows_phrase(rows)} holds NULL; fill them first.",
        )
    if (
        change.kind == "column_added"
        and not change.data["nullable"]
        and not change.data["has_default"]
        and has_rows
    ):
        return Finding(
            LintSeverity.WARNING if rows is None else LintSeverity.ERROR,
            "not-null-without-default",
            change.entity,
            f"New NOT NULL column {where} has no default: adding it to a table with "
            f"{_rows_phrase(rows)} fails. Give it a default or make it nullable first.",
        )
    if (
        (change.kind == "column_is_unique" and change.data["new"])
        or (change.kind in ("index_added", "index_changed") and change.data.get("unique"))
        or (change.kind == "column_added" and change.data.get("unique"))
    ):
        if has_rows:
            return Finding(
                LintSeverity.WARNING,
                "new-unique",
                change.entity,
                f"A new unique constraint on {where} fails if existing rows hold duplicates.",
            )
    if change.kind in ("index_added", "index_changed") and (rows is None or rows >= LARGE_TABLE_ROWS):
        return Finding(
            LintSeverity.WARNING,
            "index-locks",
            change.entity,
            f"CREATE INDEX {change.data['name']} blocks writes to {change.entity} ({_rows_phrase(rows)}) "
            "while it builds; on a busy table run it as CREATE INDEX CONCURRENTLY outside the release.",
        )
    if change.kind in ("table_renamed", "column_renamed"):
        return Finding(
            LintSeverity.WARNING,
            "rename",
            change.entity,
            f"{change.text}: queries, views and pipelines that use the old name break.",
        )
    return None


def release_lint(changes: list[Change], table_rows: dict[str, int] | None = None) -> list[Finding]:
    """Findings for a release's changes; `table_rows` (name -> rows) sharpens them if the target is known."""
    findings = []
    for change in changes:
        rows = None if table_rows is None else table_rows.get(change.entity, 0)
        if change.kind in ("table_added",):
            continue
        finding = _finding(change, rows)
        if finding:
            findings.append(finding)
    return findings

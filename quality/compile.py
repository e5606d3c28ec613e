"""Rules compiled to PostgreSQL, as statement values the runner executes (and records as the SQL it ran).

Each kind's declaration (quality/kinds.py) names its builder here; this module knows no kinds.

One entity's column rules share a single scan: `count(*) FILTER (WHERE <rule fails>)` per rule, with
`max(col)` for freshness and `count(*)` for volume. Uniqueness is one GROUP BY, referential integrity one
anti-join, custom SQL its own statement; each of those counts its failures and keeps up to ten examples in
the same statement, so no rule reads the table twice. Names reach SQL only as psycopg Identifiers and
values only as Literals.
"""

from dataclasses import dataclass

from psycopg import sql

__all__ = [
    "null_predicate",
    "pattern_predicate",
    "range_predicate",
    "allowed_values_predicate",
    "newest_aggregate",
    "ScanPlan",
    "scan_compile",
    "samples_compile",
    "unique_compile",
    "referential_compile",
    "custom_compile",
    "SAMPLE_ROWS",
]

SAMPLE_ROWS = 10
# A rule failing on at most this many rows has its examples found in one pass shared with other such rules.
RARE_ROWS = 10 * SAMPLE_ROWS


def _col(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def null_predicate(rule) -> sql.Composable:
    """not_null: the value is NULL."""
    return sql.SQL("{} IS NULL").format(_col(rule.columns[0]))


def pattern_predicate(rule) -> sql.Composable:
    """pattern: the value does not match. A NULL is incomplete, not invalid: completeness rules count it."""
    return sql.SQL("{c} IS NOT NULL AND {c}::text !~ {p}").format(
        c=_col(rule.columns[0]), p=sql.Literal(rule.params["pattern"])
    )


def range_predicate(rule) -> sql.Composable:
    """range: below min or above max, compared in the column's type."""
    column, params = _col(rule.columns[0]), rule.params
    parts = []
    if params.get("min") not in (None, ""):
        parts.append(sql.SQL("{} < {}").format(column, sql.Literal(str(params["min"]))))
    if params.get("max") not in (None, ""):
        parts.append(sql.SQL("{} > {}").format(column, sql.Literal(str(params["max"]))))
    return sql.SQL(" OR ").join(parts)


def allowed_values_predicate(rule) -> sql.Composable:
    """allowed_values: a value not in the list (NULLs are not checked)."""
    values = sql.SQL(", ").join(sql.Literal(str(v)) for v in rule.params["values"])
    return sql.SQL("{c} IS NOT NULL AND {c} NOT IN ({v})").format(c=_col(rule.columns[0]), v=values)


def newest_aggregate(rule) -> sql.Composable:
    """freshness: the newest value of the column."""
    return sql.SQL("max({})").format(_col(rule.columns[0]))


@dataclass
class ScanPlan:
    """The shared scan of one table: the statement and the alias of each aggregate after count(*)."""

    statement: sql.Composed
    aliases: dict  # key (a rule id) -> alias


def scan_compile(table: sql.Identifier, aggregates: list[tuple[object, sql.Composable | None]]) -> ScanPlan:
    """SELECT count(*) and each (key, aggregate) in one pass over the table; a None aggregate adds nothing
    (its rule is judged by the count)."""
    parts = [sql.SQL("count(*) AS total")]
    aliases = {}
    for position, (key, aggregate) in enumerate(aggregates):
        if aggregate is None:
            continue
        alias = aliases[key] = f"r{position}"
        parts.append(sql.SQL("{} AS {}").format(aggregate, sql.Identifier(alias)))
    statement = sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(parts), table)
    return ScanPlan(statement, aliases)


def samples_compile(
    table: sql.Identifier, columns: list[str], predicates: list[sql.Composable], failing: list[int]
) -> sql.Composed:
    """Examples of the rows meeting `predicates` (`failing`: each one's count in the scan), in one statement.

    A rule with many failing rows gets its own branch, `LIMIT` ten, which stops after a few thousand rows.
    Rules with few (at most RARE_ROWS) share one branch returning all their failing rows: one pass that
    evaluates only their conditions. Each row carries `custodian_rule`, the position of its rule (-1: the
    shared branch, whose rows carry a flag per rule instead).
    """
    rare = [i for i, count in enumerate(failing) if count <= RARE_ROWS]
    cols = sql.SQL(", ").join(_col(c) for c in columns)
    flags = sql.SQL(", ").join(
        (sql.SQL("({})").format(p) if i in rare else sql.SQL("false"))
        + sql.SQL(" AS {}").format(sql.Identifier(f"f{i}"))
        for i, p in enumerate(predicates)
    )
    branches = [
        sql.SQL(
            "(SELECT {i} AS custodian_rule, {cols}, {flags} FROM {table} WHERE {where} LIMIT {n})"
        ).format(
            i=sql.Literal(i),
            cols=cols,
            flags=flags,
            table=table,
            where=p,
            n=sql.Literal(SAMPLE_ROWS),
        )
        for i, p in enumerate(predicates)
        if i not in rare
    ]
    if rare:
        where = sql.SQL(" OR ").join(sql.SQL("({})").format(predicates[i]) for i in rare)
        branches.append(
            sql.SQL("(SELECT -1 AS custodian_rule, {cols}, {flags} FROM {table} WHERE {where})").format(
                cols=cols, flags=flags, table=table, where=where
            )
        )
    return sql.SQL(" UNION ALL ").join(branches)


COUNT_ROWS = sql.SQL("count(*)")


def _count_and_examples(cte: sql.Composable, groups: sql.Composable = COUNT_ROWS) -> sql.Composed:
    """(groups, failing rows, up to ten examples) of the failing rows `cte` finds, in one statement."""
    # The row alias must not be a name the rows have: json_agg(e) of a row with a column e aggregates the
    # column, not the row.
    return sql.SQL(
        "WITH failing AS MATERIALIZED ({cte}) "
        "SELECT {groups}, coalesce(sum(custodian_n), 0)::bigint, "
        "(SELECT coalesce(json_agg(custodian_example), '[]'::json) "
        "FROM (SELECT * FROM failing LIMIT {limit}) AS custodian_example) FROM failing"
    ).format(cte=cte, groups=groups, limit=sql.Literal(SAMPLE_ROWS))


def unique_compile(table: sql.Identifier, rule) -> sql.Composed:
    """Keys held by more than one row: (duplicate keys, rows involved, examples). NULL keys are skipped."""
    key = sql.SQL(", ").join(_col(c) for c in rule.columns)
    present = sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(_col(c)) for c in rule.columns)
    cte = sql.SQL(
        "SELECT {key}, count(*) AS custodian_n FROM {table} WHERE {present} "
        "GROUP BY {key} HAVING count(*) > 1"
    ).format(key=key, table=table, present=present)
    return _count_and_examples(cte)


def referential_compile(
    table: sql.Identifier, ref_table: sql.Identifier, rule, shown: list[str]
) -> sql.Composed:
    """Rows whose reference points at no row of the referenced entity: (distinct orphan values, orphan
    rows, examples). NULL references are not orphans."""
    ref_columns = rule.params["ref_columns"]
    present = sql.SQL(" AND ").join(sql.SQL("t.{} IS NOT NULL").format(_col(c)) for c in rule.columns)
    match = sql.SQL(" AND ").join(
        sql.SQL("r.{} = t.{}").format(_col(r), _col(c))
        for c, r in zip(rule.columns, ref_columns, strict=True)
    )
    cte = sql.SQL(
        "SELECT {shown}, 1 AS custodian_n FROM {table} AS t WHERE {present} "
        "AND NOT EXISTS (SELECT 1 FROM {ref} AS r WHERE {match})"
    ).format(
        shown=sql.SQL(", ").join(sql.SQL("t.{}").format(_col(c)) for c in shown),
        table=table,
        present=present,
        ref=ref_table,
        match=match,
    )
    # 50,094 orphan rows may be 721 missing keys: both are reported.
    key = sql.SQL(", ").join(_col(c) for c in rule.columns)
    distinct = sql.SQL("count(DISTINCT ({}))").format(key) if len(rule.columns) > 1 else None
    return _count_and_examples(cte, distinct or sql.SQL("count(DISTINCT {})").format(key))


def custom_compile(rule) -> sql.Composed:
    """The steward's SELECT of failing rows, counted, with examples."""
    query = rule.params["sql"].strip().rstrip(";")
    cte = sql.SQL("SELECT q.*, 1 AS custodian_n FROM ({}) AS q").format(sql.SQL(query))
    return _count_and_examples(cte)

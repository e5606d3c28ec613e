"""The one gate for user-written SQL: custom quality rules, SQL pipeline sources and their dry runs.

A query passes only if it is exactly one SELECT that reads ordinary tables of the data store and calls
functions from an allow-list. Everything else is refused with a message that names the part at fault:
system catalogs (`pg_shadow`, `information_schema`), admin and file functions (`pg_read_file`,
`pg_terminate_backend`, large objects, `dblink`, `set_config`), locking clauses, `SELECT INTO` and
data-modifying CTEs. An allow-list and not a deny-list: a function PostgreSQL adds next year is refused
until someone decides it is safe.

The check is the first of two guards. The second is `guard_transaction`: the statement runs in a read-only
transaction with a statement timeout, a fixed search path and, where the data store names one, as a
read-only role, so what the parser cannot see the database still refuses.
"""

import sqlglot
from psycopg import sql
from sqlglot import exp

__all__ = [
    "SqlRefused",
    "query_check",
    "query_problem",
    "guard_transaction",
    "ALLOWED_FUNCTIONS",
    "ALLOWED_FUNCTION_NAMES",
]


class SqlRefused(Exception):
    """User-written SQL that the gate does not let through; `message` is written for its author."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# Functions sqlglot knows by type: pure computations on values, aggregates and window functions.
ALLOWED_FUNCTIONS: tuple[type[exp.Func], ...] = tuple(
    getattr(exp, name)
    for name in (
        # text
        "Lower Upper Length Trim Substring Replace Concat ConcatWs Left Right StrPosition SplitPart "
        "RegexpReplace RegexpLike RegexpSubstr RegexpCount RegexpExtract RegexpILike Pad Initcap Reverse "
        "Translate BitLength StartsWith Format Chr Ascii Repeat Overlay MD5 SHA2Digest SHA SHA2 Encode "
        "Decode Hex "
        # conditionals and casts
        "Coalesce Nullif Greatest Least Case If Cast TryCast "
        # numbers
        "Abs Round Floor Ceil Trunc Pow Sqrt Sign Exp Ln Log WidthBucket ToNumber Rand "
        # dates and times
        "TimestampTrunc DateTrunc Extract CurrentDate CurrentTimestamp CurrentTime Localtimestamp TimeToStr "
        "StrToDate StrToTime UnixToTime Date DateBin JustifyDays JustifyHours JustifyInterval "
        # aggregates
        "Count Sum Avg Min Max Stddev StddevPop StddevSamp Variance VariancePop LogicalAnd LogicalOr "
        "GroupConcat ArrayAgg PercentileCont PercentileDisc Mode Corr CovarPop CovarSamp RegrSlope "
        "BitwiseAndAgg BitwiseOrAgg JSONArrayAgg JSONBObjectAgg AnyValue ApproxDistinct "
        # window functions
        "RowNumber Rank DenseRank Lag Lead Ntile FirstValue LastValue NthValue PercentRank CumeDist "
        # arrays, JSON, subquery predicates, ids
        "Array ArraySize ArrayToString StringToArray ArrayPosition ArrayRemove ArrayConcat ArrayContains "
        "Unnest Explode JSONExtract JSONExtractScalar JSONBExtract JSONBExtractScalar JSONBContains "
        "Exists Uuid CurrentUser "
        # set-returning: bounded by the statement timeout like any other query (date spines need it)
        "GenerateSeries ExplodingGenerateSeries GenerateDateArray"
    ).split()
    if hasattr(exp, name)
)

# Functions sqlglot does not know by type, by their PostgreSQL name.
ALLOWED_FUNCTION_NAMES = frozenset(
    """
    age make_date make_time make_timestamp make_timestamptz make_interval date_part isfinite timezone
    to_char to_date to_timestamp to_number clock_timestamp statement_timestamp transaction_timestamp
    char_length character_length octet_length btrim ltrim rtrim lpad rpad regexp_matches regexp_match
    regexp_split_to_array regexp_instr quote_literal quote_ident num_nonnulls num_nulls
    every cardinality array_length array_lower array_upper array_dims array_append array_prepend
    jsonb_extract_path_text jsonb_extract_path json_extract_path jsonb_typeof json_typeof jsonb_array_length
    json_array_length to_jsonb to_json row_to_json jsonb_agg jsonb_build_object json_build_object
    jsonb_build_array json_build_array jsonb_object_keys jsonb_strip_nulls jsonb_pretty
    generate_series div mod gcd lcm cbrt degrees radians pi trim_scale scale float8 numeric
    string_agg bool_and bool_or bit_or bit_xor regr_intercept regr_r2 regr_count
    lower upper length substring substr replace concat concat_ws strpos split_part coalesce nullif
    greatest least abs round floor ceil ceiling trunc power sqrt sign exp ln log log10 date_trunc
    count sum avg min max stddev variance starts_with initcap reverse translate md5 sha256 sha512
    encode decode to_hex chr ascii repeat overlay format left right position now
    """.split()
)

SYSTEM_SCHEMAS = frozenset({"pg_catalog", "information_schema", "pg_toast"})
WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.Command)
READS = (exp.Select, exp.Union, exp.Intersect, exp.Except)


def _function_name(node: exp.Func) -> str:
    return node.name.lower() if isinstance(node, exp.Anonymous) else node.sql_name().lower()


def _function_refusal(node: exp.Func, what: str) -> str | None:
    # A qualified call (pg_catalog.pg_read_file, someschema.f) could reach any function: never needed.
    if isinstance(node.parent, exp.Dot):
        return f"{what} may not call schema-qualified functions ({node.parent.sql('postgres')[:60]})."
    if isinstance(node, exp.Anonymous):
        allowed = node.name.lower() in ALLOWED_FUNCTION_NAMES
    else:
        allowed = isinstance(node, ALLOWED_FUNCTIONS)
    if allowed:
        return None
    return (
        f"{what} may not call {_function_name(node)}(): only functions that compute on values "
        "(text, numbers, dates, aggregates, window functions) are allowed."
    )


def _table_refusal(table: exp.Table, *, schema: str | None, cte_names: set[str], what: str) -> str | None:
    name, table_schema = table.name, table.db
    if not name:
        return None  # a table function (FROM unnest(...)): its function is checked on its own
    shown = ".".join(part for part in (table.catalog, table_schema, name) if part)
    if table.catalog:
        return f"{what} may only read tables of its own database, not {shown}."
    if not table_schema and name in cte_names:
        return None
    if name.lower().startswith("pg_") or table_schema.lower() in SYSTEM_SCHEMAS:
        return f"{what} may not read system catalogs ({shown})."
    if table_schema.lower().startswith("pg_"):
        return f"{what} may not read system schemas ({shown})."
    if schema and table_schema and table_schema != schema:
        return f"{what} may only read tables of the data store's schema '{schema}', not {shown}."
    return None


def _tree_refusal(tree: exp.Expression, *, schema: str | None, what: str) -> str | None:
    if tree.find(*WRITES):
        return f"{what} must only read (no INSERT, UPDATE, DELETE, MERGE or DDL, not even inside WITH)."
    if tree.find(exp.Into):
        return f"{what} must not create a table (SELECT ... INTO)."
    if tree.find(exp.Lock):
        return f"{what} must not lock rows (FOR UPDATE / FOR SHARE)."
    cte_names = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    for node in tree.walk():
        if isinstance(node, exp.Func):
            problem = _function_refusal(node, what)
        elif isinstance(node, exp.Table):
            problem = _table_refusal(node, schema=schema, cte_names=cte_names, what=what)
        else:
            problem = None
        if problem:
            return problem
    return None


def query_check(
    query: str, *, schema: str | None = None, dialect: str = "postgres", what: str = "The query"
) -> exp.Expression:
    """The parsed statement if `query` is one read-only SELECT the gate lets through; SqlRefused otherwise.

    `schema`, when given, is the only schema a table may be qualified with (the data store's own).
    """
    if not isinstance(query, str) or not query.strip():
        raise SqlRefused(f"{what} is empty: write one SELECT statement.")
    try:
        statements = [s for s in sqlglot.parse(query, read=dialect) if s is not None]
    except sqlglot.errors.SqlglotError as exc:
        raise SqlRefused(f"{what} does not parse: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise SqlRefused(f"{what} must be exactly one SELECT statement, not {len(statements)}.")
    tree = statements[0]
    if not isinstance(tree, READS):
        raise SqlRefused(f"{what} must be a SELECT statement.")
    problem = _tree_refusal(tree, schema=schema, what=what)
    if problem:
        raise SqlRefused(problem)
    return tree


def query_problem(
    query: str, *, schema: str | None = None, dialect: str = "postgres", what: str = "The query"
) -> str | None:
    """Why the gate refuses `query` (see query_check), or None when it passes."""
    try:
        query_check(query, schema=schema, dialect=dialect, what=what)
    except SqlRefused as refusal:
        return refusal.message
    return None


def guard_transaction(cursor, *, timeout_ms: int, role: str | None = None, schema: str | None = None) -> None:
    """Make the open transaction of a psycopg cursor safe for user-written SQL: run these first in it.

    Read only (a write is refused by PostgreSQL whatever the parser missed), a statement timeout, the
    data store's read-only role when it names one, and a search path of its own schema only, so an
    unqualified name cannot resolve elsewhere. Every setting is LOCAL: it ends with the transaction.
    """
    if timeout_ms <= 0:
        raise ValueError("timeout_ms must be positive")
    cursor.execute("SET TRANSACTION READ ONLY")
    cursor.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(int(timeout_ms))))
    cursor.execute("SET LOCAL lock_timeout = '5s'")
    if role:
        cursor.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
    if schema:
        cursor.execute(sql.SQL("SET LOCAL search_path = {}").format(sql.Identifier(schema)))

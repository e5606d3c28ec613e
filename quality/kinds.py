"""The rule kinds, one declaration each: everything else that names a kind is generated from here.

A `Kind` says what a rule of that kind is made of (how many columns, of which types; its parameters with
their YAML types and help), its default dimension, how it is evaluated and the words shown about it:

- `Evaluation.ROWS`: a condition a failing row meets (`predicate`), counted by `count(*) FILTER (WHERE ...)`
  in the entity's one shared scan, with examples of failing rows;
- `Evaluation.NEWEST` / `Evaluation.COUNT`: an aggregate of the shared scan (`max(column)`, the row count)
  judged as a whole;
- `Evaluation.SET`: a statement of its own (`statement`, built by quality/compile.py) that counts failing rows
  and keeps examples, run beside the scan.

Read by: `RuleKind`, `SCAN_KINDS` and `KIND_DIMENSIONS` (quality/choices.py), a rule's definition checks
(`rule_definition_errors`, below, which `Rule.clean` calls), the runner's dispatch (quality/runner.py), the
YAML keys and types (quality/spec.py), the admin's parameter help (quality/admin/forms.py) and the README's
table (`kinds_markdown`). Adding a kind
is one `_declare(Kind(...))` here, plus its SQL in quality/compile.py. Values and labels are the database's
choices: changing one needs a migration.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from psycopg import sql

from catalog.literals import is_orderable, parse_literal
from catalog.models import Entity
from catalog.patterns import pattern_problem
from core.sql_gate import query_problem
from quality import compile as sql_of
from quality.limits import DEFAULT_CUSTOM_SQL_TIMEOUT_SECONDS, max_timeout_seconds

__all__ = [
    "Param",
    "ParamType",
    "Columns",
    "Evaluation",
    "Kind",
    "KINDS",
    "SetTarget",
    "RuleNotRunnable",
    "ORDERABLE",
    "custom_sql_problem",
    "kind_of",
    "kind_runs_user_sql",
    "rule_definition_errors",
    "rule_definition_problems",
    "kinds_markdown",
]


class ParamType(StrEnum):
    """What a parameter's value is, as the YAML reader checks it."""

    TEXT = "text"
    REGEX = "regex"  # text the data store must accept as a regular expression
    BOUND = "bound"  # a number, a date or a text, compared in the column's type
    VALUES = "values"  # a non-empty list of texts or numbers
    NAMES = "names"  # a list of column names
    NUMBER = "number"
    WHOLE = "whole"  # a whole number, 0 or more


class Columns(StrEnum):
    """How many columns a rule of the kind names."""

    ONE = "one"
    SOME = "one or more"
    NONE = "none"


class Evaluation(StrEnum):
    ROWS = "rows"  # a FILTER predicate in the shared scan; failing rows counted, examples kept
    NEWEST = "newest"  # max(column) in the shared scan, judged against an age
    COUNT = "count"  # the shared scan's count(*), judged against bounds and history
    SET = "set"  # a statement of its own


@dataclass(frozen=True)
class Param:
    """One parameter, written flat in a rule's YAML mapping and stored in `Rule.params`."""

    name: str
    type: ParamType
    help: str = ""
    default: object = None


@dataclass(frozen=True)
class SetTarget:
    """What a set-based statement is built for: the entity, its table, the key columns examples show."""

    entity: Entity
    table: sql.Identifier
    key_columns: list[str]


class RuleNotRunnable(Exception):
    """A rule that cannot be compiled as stored (a reference gone, SQL the gate refuses); says why."""


# A parameter problem: (the parameter it is about, or None for the rule as a whole; the message).
ParamProblem = tuple[str | None, str]


@dataclass(frozen=True)
class Kind:
    """One rule kind. See the module docstring for how each part is used."""

    value: str
    label: str
    dimension: str
    columns: Columns
    evaluation: Evaluation
    fails_when: str  # README: "a row (or the table) fails when ..."
    example: str  # admin: the parameters as typed, e.g. "pattern: '@'"
    help: str  # admin: what the parameters mean
    params: tuple[Param, ...] = ()
    params_note: str = ""  # README: said once about all the parameters
    column_types: frozenset[str] = frozenset()  # the column's data types it accepts (empty: any)
    column_types_words: str = ""
    validate: Callable[..., ParamProblem | None] | None = None  # (rule, params) -> problem or None
    predicate: Callable[..., sql.Composable] | None = None  # ROWS: (rule) -> what a failing row meets
    aggregate: Callable[..., sql.Composable] | None = None  # NEWEST: (rule) -> the scan's aggregate
    statement: Callable[..., sql.Composed] | None = None  # SET: (rule, SetTarget) -> its statement
    measured: Callable[..., str] | None = None  # SET: (rule, groups, failing, total, percent) -> words
    user_sql: bool = False  # a steward's SQL: the gate's guard and the rule's own timeout
    example_counts: bool = False  # SET: each example carries how many rows it stands for ("rows")
    shows_shape: bool = False  # ROWS: failing values are shown by their shape to users without view_pii
    param_names: tuple[str, ...] = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "param_names", tuple(p.name for p in self.params))

    @property
    def in_scan(self) -> bool:
        return self.evaluation != Evaluation.SET

    def scan_aggregate(self, rule) -> sql.Composable | None:
        """The rule's column of the shared scan; None when the scan's count(*) is its measure."""
        if self.evaluation == Evaluation.ROWS:
            return sql.SQL("count(*) FILTER (WHERE {})").format(self.predicate(rule))
        if self.evaluation == Evaluation.NEWEST:
            return self.aggregate(rule)
        return None

    def param_problem(self, rule, params: dict) -> ParamProblem | None:
        """The first problem of the rule's parameters, or None: unknown names, then the kind's checks."""
        unknown = sorted(set(params) - set(self.param_names))
        if unknown:
            takes = ", ".join(sorted(self.param_names)) or "no parameters"
            return None, f"A {self.value} rule does not take {', '.join(unknown)} (it takes {takes})."
        return self.validate(rule, params) if self.validate else None


KINDS: dict[str, Kind] = {}


def _declare(kind: Kind) -> Kind:
    KINDS[kind.value] = kind
    return kind


def kind_of(value: str) -> Kind | None:
    """The declaration of a kind by its stored value; None for a value no kind has."""
    return KINDS.get(value)


def kind_runs_user_sql(value: str) -> bool:
    """Whether rules of the kind run a steward's SQL (writing one needs `quality.write_custom_sql`)."""
    kind = KINDS.get(value)
    return kind is not None and kind.user_sql


# Shared checks ----------------------------------------------------------------------------------------------

ORDERABLE = frozenset(
    {
        "smallint",
        "integer",
        "bigint",
        "numeric",
        "real",
        "double",
        "date",
        "time",
        "timestamp",
        "timestamptz",
        "varchar",
        "char",
        "text",
    }
)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def custom_sql_problem(rule, sql_text: str) -> str | None:
    """Why the SQL gate refuses a custom rule's SQL (one read-only SELECT over the data store's own schema,
    allow-listed functions), or None. Checked when the rule is saved and again before every run."""
    schema = (rule.entity.datastore.schema_name or None) if rule.entity_id else None
    return query_problem(sql_text, schema=schema, what="Custom SQL")


# The kinds --------------------------------------------------------------------------------------------------

_declare(
    Kind(
        "not_null",
        "Not null / completeness",
        dimension="completeness",
        columns=Columns.ONE,
        evaluation=Evaluation.ROWS,
        predicate=sql_of.null_predicate,
        fails_when="the value is NULL",
        example="",
        help="no parameters; one column.",
    )
)


def _unique_statement(rule, target: SetTarget) -> sql.Composed:
    return sql_of.unique_compile(target.table, rule)


def _unique_measured(rule, groups: int, failing: int, total: int | None, percent: float) -> str:
    return f"{groups:,} duplicated keys over {failing:,} rows"


_declare(
    Kind(
        "unique",
        "Unique",
        dimension="uniqueness",
        columns=Columns.SOME,
        evaluation=Evaluation.SET,
        statement=_unique_statement,
        measured=_unique_measured,
        example_counts=True,
        fails_when=(
            "its combination of values is held by another row too (rows with a NULL in the key are skipped)"
        ),
        example="",
        help="no parameters; the columns together are the key (NULL keys are skipped).",
    )
)


def _pattern_problem(rule, params: dict) -> ParamProblem | None:
    pattern = params.get("pattern")
    if not isinstance(pattern, str) or not pattern:
        return "pattern", "A pattern rule needs a pattern (a regular expression)."
    # PostgreSQL runs the pattern, so PostgreSQL (the rule's data store when it answers) judges it.
    reason = pattern_problem(pattern, datastore=rule.entity.datastore if rule.entity_id else None)
    if reason:
        return "pattern", f"PostgreSQL rejects the pattern: {reason}."
    return None


_declare(
    Kind(
        "pattern",
        "Pattern (regular expression)",
        dimension="validity",
        columns=Columns.ONE,
        evaluation=Evaluation.ROWS,
        params=(Param("pattern", ParamType.REGEX, "a regular expression (PostgreSQL's `~`)"),),
        validate=_pattern_problem,
        predicate=sql_of.pattern_predicate,
        shows_shape=True,
        fails_when="the value does not match; NULLs are not counted",
        example="pattern: '^[^@]+@[^@]+$'",
        help="a PostgreSQL regular expression (PostgreSQL checks it when saved); NULLs are not checked.",
    )
)


def _range_problem(rule, params: dict) -> ParamProblem | None:
    if params.get("min") in (None, "") and params.get("max") in (None, ""):
        return None, "A range rule needs min, max or both."
    if any(isinstance(params.get(k), (list, dict, bool)) for k in ("min", "max")):
        return None, "min and max are single values (a number, a date or a text)."
    column = _the_column(rule)
    if column is None or not is_orderable(column.data_type):
        return None
    # Bounds are compared in the column's type: one that is not a value of it would fail every check run
    bounds = {}
    for name in ("min", "max"):
        if params.get(name) not in (None, ""):
            try:
                bounds[name] = parse_literal(column.data_type, str(params[name]))
            except ValueError as exc:
                return name, f"{name}: {exc} (the column {column.name} is {column.sql_type})."
    if len(bounds) == 2 and bounds["min"] > bounds["max"]:
        return "max", f"max ({params['max']}) is below min ({params['min']}): every row would fail."
    return None


def _the_column(rule):
    """The catalog column a one-column rule checks, when its entity and column are known."""
    if not rule.entity_id or len(rule.columns or []) != 1:
        return None
    return next((c for c in rule.entity.columns.all() if c.name == rule.columns[0]), None)


_declare(
    Kind(
        "range",
        "Range (min/max)",
        dimension="validity",
        columns=Columns.ONE,
        evaluation=Evaluation.ROWS,
        params=(Param("min", ParamType.BOUND), Param("max", ParamType.BOUND)),
        params_note="either or both; numbers, dates or text",
        validate=_range_problem,
        predicate=sql_of.range_predicate,
        fails_when="the value is below `min` or above `max`",
        example="min: 0\nmax: 100",
        help="either bound may be left out; compared in the column's type.",
    )
)


def _allowed_values_problem(rule, params: dict) -> ParamProblem | None:
    values = params.get("values")
    if not (isinstance(values, list) and values):
        return "values", "An allowed-values rule needs values: a non-empty list."
    if not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in values):
        return "values", "Allowed values are single values (texts or numbers)."
    return None


_declare(
    Kind(
        "allowed_values",
        "Allowed values",
        dimension="validity",
        columns=Columns.ONE,
        evaluation=Evaluation.ROWS,
        params=(Param("values", ParamType.VALUES, "a list"),),
        validate=_allowed_values_problem,
        predicate=sql_of.allowed_values_predicate,
        fails_when="the value is not in the list; NULLs are not counted",
        example="values: [gold, silver]",
        help="NULLs are not checked (a not-null rule does that).",
    )
)


def _referential_problem(rule, params: dict) -> ParamProblem | None:
    ref_columns = params.get("ref_columns")
    if not params.get("ref_entity") or not isinstance(ref_columns, list) or not ref_columns:
        return None, "A referential rule needs ref_entity and ref_columns (the referenced key)."
    if len(ref_columns) != len(rule.columns):
        return "ref_columns", "ref_columns must pair up with the rule's columns."
    if rule.entity_id:
        ref = Entity.objects.filter(datastore_id=rule.entity.datastore_id, name=params["ref_entity"]).first()
        if ref is None:
            store = rule.entity.datastore.name
            return "ref_entity", f"No entity '{params['ref_entity']}' in data store {store}."
        missing = [c for c in ref_columns if not ref.columns.filter(name=c).exists()]
        if missing:
            return "ref_columns", f"{ref.name} has no column {', '.join(missing)}."
    return None


def _referential_statement(rule, target: SetTarget) -> sql.Composed:
    entity = target.entity
    ref = Entity.objects.filter(datastore_id=entity.datastore_id, name=rule.params["ref_entity"]).first()
    if ref is None:
        raise RuleNotRunnable(
            f"The referenced entity {rule.params['ref_entity']} no longer exists in the catalog."
        )
    ref_table = sql.Identifier(entity.datastore.schema_name or "public", ref.name)
    shown = list(dict.fromkeys(target.key_columns + rule.columns))
    return sql_of.referential_compile(target.table, ref_table, rule, shown)


def _referential_measured(rule, groups: int, failing: int, total: int | None, percent: float) -> str:
    # 50,094 orphan rows may be 721 missing keys: both are reported.
    values = "distinct value" + ("s" if groups != 1 else "")
    return (
        f"{failing:,} of {total or 0:,} rows refer to no {rule.params['ref_entity']} "
        f"({groups:,} {values} of {', '.join(rule.columns)}; {percent:.3f}%)"
    )


_declare(
    Kind(
        "referential",
        "Referential integrity",
        dimension="consistency",
        columns=Columns.SOME,
        evaluation=Evaluation.SET,
        params=(Param("ref_entity", ParamType.TEXT), Param("ref_columns", ParamType.NAMES)),
        params_note="paired with the columns",
        validate=_referential_problem,
        statement=_referential_statement,
        measured=_referential_measured,
        fails_when="no row of the referenced entity has the value (an orphan); NULLs are not orphans",
        example="ref_entity: country\nref_columns: [code]",
        help="an entity of the same data store and its key, paired with the rule's columns.",
    )
)


def _freshness_problem(rule, params: dict) -> ParamProblem | None:
    age = params.get("max_age_hours")
    if not isinstance(age, (int, float)) or age <= 0:
        return "max_age_hours", "A freshness rule needs max_age_hours, a positive number."
    return None


_declare(
    Kind(
        "freshness",
        "Freshness",
        dimension="timeliness",
        columns=Columns.ONE,
        column_types=frozenset({"date", "timestamp", "timestamptz"}),
        column_types_words="date or timestamp",
        evaluation=Evaluation.NEWEST,
        params=(Param("max_age_hours", ParamType.NUMBER),),
        validate=_freshness_problem,
        aggregate=sql_of.newest_aggregate,
        fails_when="the newest value is older than that, or there is none",
        example="max_age_hours: 24",
        help="how old the newest value of a date or timestamp column may be.",
    )
)

VOLUME_HISTORY = 10


def _volume_problem(rule, params: dict) -> ParamProblem | None:
    if not ({"min_rows", "max_rows", "max_change_percent"} & set(params)):
        return None, "A volume rule needs min_rows, max_rows or max_change_percent."
    for name in ("min_rows", "max_rows", "history"):
        if name in params and not (
            _is_number(params[name]) and float(params[name]).is_integer() and params[name] >= 0
        ):
            return None, f"{name} is a whole number of rows, not {params[name]!r}."
    change = params.get("max_change_percent")
    if "max_change_percent" in params and not (_is_number(change) and change >= 0):
        return None, f"max_change_percent is a number, not {change!r}."
    return None


_declare(
    Kind(
        "volume",
        "Volume",
        dimension="completeness",
        columns=Columns.NONE,
        evaluation=Evaluation.COUNT,
        params=(
            Param("min_rows", ParamType.WHOLE),
            Param("max_rows", ParamType.WHOLE),
            Param("max_change_percent", ParamType.NUMBER),
            Param("history", ParamType.WHOLE, default=VOLUME_HISTORY),
        ),
        validate=_volume_problem,
        fails_when=(
            "the row count is outside `min_rows`–`max_rows`, or more than `max_change_percent` away from the "
            "mean of the last `history` checks"
        ),
        example="min_rows: 1000\nmax_change_percent: 20",
        help="also max_rows; max_change_percent compares with the mean of the last checks (history: 10).",
    )
)


def _custom_sql_problem(rule, params: dict) -> ParamProblem | None:
    if "timeout_seconds" in params:
        timeout, most = params["timeout_seconds"], max_timeout_seconds()
        if not (_is_number(timeout) and timeout > 0):
            return "sql", "timeout_seconds is a positive number of seconds."
        if timeout > most:
            return "sql", f"timeout_seconds is at most {most:g} seconds (the platform's limit)."
    sql_text = params.get("sql")
    problem = (
        custom_sql_problem(rule, sql_text)
        if isinstance(sql_text, str) and sql_text.strip()
        else "Write the SQL: one SELECT returning the failing rows."
    )
    return ("sql", problem) if problem else None


def _custom_statement(rule, target: SetTarget) -> sql.Composed:
    # Checked again at every run: a rule saved before the gate (or written around it) must not run.
    refused = custom_sql_problem(rule, rule.params.get("sql") or "")
    if refused:
        raise RuleNotRunnable(f"Not run: {refused}")
    return sql_of.custom_compile(rule)


_declare(
    Kind(
        "custom_sql",
        "Custom SQL",
        dimension="accuracy",
        columns=Columns.NONE,
        evaluation=Evaluation.SET,
        params=(
            Param("sql", ParamType.TEXT, "one `SELECT` returning the failing rows"),
            Param(
                "timeout_seconds",
                ParamType.NUMBER,
                "at most `CUSTODIAN_QUALITY_MAX_TIMEOUT_SECONDS`",
                default=int(DEFAULT_CUSTOM_SQL_TIMEOUT_SECONDS),
            ),
        ),
        validate=_custom_sql_problem,
        statement=_custom_statement,
        user_sql=True,
        fails_when="each row the query returns",
        example="sql: SELECT * FROM app.customer WHERE score > 100\ntimeout_seconds: 30",
        help=(
            "one SELECT returning the failing rows, over the data store's own tables, calling only functions "
            "that compute (checked when saved and before every run); no columns. Needs the custom SQL "
            "permission. timeout_seconds: at most the platform's limit "
            "(CUSTODIAN_QUALITY_MAX_TIMEOUT_SECONDS)."
        ),
    )
)


# A rule checked against its kind ----------------------------------------------------------------------------


def rule_definition_errors(rule) -> dict[str, str]:
    """Errors keyed by field when a rule's definition cannot be evaluated as written."""
    return {name: message for name, (_param, message) in rule_definition_problems(rule).items()}


def rule_definition_problems(rule) -> dict[str, tuple[str | None, str]]:
    """Like `rule_definition_errors`, with the parameter each "params" problem is about (None: the rule as a
    whole), so a YAML file can say where it is. Checked against the rule's kind declaration."""
    columns, params = rule.columns, rule.params or {}
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        return {"columns": (None, 'Columns are a list of column names, e.g. ["email"].')}
    if not isinstance(params, dict):
        return {"params": (None, 'Parameters are a mapping, e.g. {"pattern": "@"}.')}
    kind = kind_of(rule.kind)
    if kind is None:
        return {"kind": (None, f"Unknown rule kind '{rule.kind}'.")}
    problems = {}
    column_problem = _column_problem(rule, kind, columns)
    if column_problem:
        problems["columns"] = (None, column_problem)
    param_problem = kind.param_problem(rule, params)
    if param_problem:
        problems["params"] = param_problem
    return problems


def _column_problem(rule, kind: Kind, columns: list[str]) -> str | None:
    problem = None
    if kind.columns == Columns.ONE and len(columns) != 1:
        problem = f"A {kind.value} rule checks exactly one column."
    if kind.columns == Columns.SOME and not columns:
        problem = f"A {kind.value} rule needs one or more columns."
    if kind.columns == Columns.NONE and columns:
        problem = f"A {kind.value} rule has no columns."
    if rule.entity_id:
        known = {c.name: c for c in rule.entity.columns.all()}
        missing = [c for c in columns if c not in known]
        if missing:
            return f"{rule.entity.name} has no column {', '.join(missing)}."
        if kind.column_types and columns and known[columns[0]].data_type not in kind.column_types:
            return f"{kind.label} needs a {kind.column_types_words} column."
    return problem


# The README's table -----------------------------------------------------------------------------------------


def _param_words(param: Param) -> str:
    if param.default is not None:
        extra = f", {param.help}" if param.help else ""
        return f"`{param.name}` (default {param.default}{extra})"
    return f"`{param.name}`" + (f": {param.help}" if param.help else "")


def _params_words(kind: Kind) -> str:
    explained = any(p.help and p.default is None for p in kind.params)
    words = ("; " if explained else ", ").join(_param_words(p) for p in kind.params)
    return words + (f" ({kind.params_note})" if kind.params_note else "")


def _columns_words(kind: Kind) -> str:
    if kind.column_types:
        return f"{kind.columns} {kind.column_types_words} column"
    return str(kind.columns)


def kinds_markdown() -> str:
    """The README's table of rule kinds (section "Data quality", "Rule kinds"), one row per kind."""
    lines = [
        "| kind | columns | parameters | a row (or the table) fails when | dimension |",
        "| --- | --- | --- | --- | --- |",
    ]
    for kind in KINDS.values():
        cells = [f"`{kind.value}`", _columns_words(kind), _params_words(kind), kind.fails_when]
        cells.append(kind.dimension)
        lines.append("| " + " | ".join(cells).replace("|  |", "| |") + " |")
    return "\n".join(lines) + "\n"

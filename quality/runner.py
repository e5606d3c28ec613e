"""A check run: every enabled rule of an entity (or of every entity of a data store) evaluated where the
data is, each result recorded with its counts, examples (masked) and SQL, then scores and incidents.

Every statement runs in its own read-only transaction with a statement timeout (bounded by the platform's
limits), so one rule's failure (a regex PostgreSQL rejects, a dropped column, custom SQL that runs too long)
is that rule's result and the other rules still run. Patterns are checked by the data store before the shared
scan, and a scan that fails otherwise has its culprits found by planning each rule alone (EXPLAIN reads no
row); nothing that timed out is run again.
"""

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Subquery, TextField, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from psycopg import sql

from catalog.models import Entity
from catalog.patterns import PATTERN_CHECK_TIMEOUT_MS, patterns_rejected
from core.connections import datastore_guard, datastore_pg_connect
from core.errors import SchemaError
from core.runs import run_claim, run_heartbeat
from core.sql_gate import guard_transaction
from quality.choices import CheckTrigger, ResultStatus, Severity
from quality.compile import SAMPLE_ROWS, samples_compile, scan_compile
from quality.kinds import VOLUME_HISTORY, Evaluation, ParamType, RuleNotRunnable, SetTarget, kind_of
from quality.limits import rule_timeout_seconds, scan_timeout_seconds
from quality.models import CheckRun, Rule, RuleResult
from quality.results import check_run_record
from quality.rules import rules_implied_sync
from quality.samples import SampleMasking, custom_sql_sample_masking, entity_sample_masking

__all__ = ["check_run_execute", "Outcome"]

logger = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What one rule found, before it is recorded."""

    rule: Rule
    status: str = ResultStatus.PASSED
    total_rows: int | None = None
    failing_rows: int | None = None
    measured: str = ""
    samples: list = field(default_factory=list)  # as everyone may see them (masked by origin)
    samples_pii: list = field(default_factory=list)  # as users with view_pii see them, when different
    samples_masked: bool = False
    duration_ms: float = 0.0
    sql: str = ""
    error: str = ""

    @property
    def failing_percent(self) -> float | None:
        if self.failing_rows is None or not self.total_rows:
            return None if self.failing_rows is None else (100.0 if self.failing_rows else 0.0)
        return 100.0 * self.failing_rows / self.total_rows


class _Store:
    """One data store connection and how statements run on it."""

    def __init__(self, connection: psycopg.Connection):
        self.connection = connection
        self.timeout_ms = int(scan_timeout_seconds() * 1000)

    def run(self, statement, *, timeout_ms: int | None = None, fetch: str = "one", guard=None):
        """(rows, seconds) of one statement in its own read-only transaction.

        With `guard` (the data store), the statement holds user-written SQL: the transaction is guarded as
        the SQL gate requires (read only, timeout, the store's read role, its schema as search path)."""
        started = time.monotonic()
        timeout_ms = timeout_ms or self.timeout_ms
        with self.connection.transaction(), self.connection.cursor() as cursor:
            if guard is not None:
                datastore_guard(cursor, guard, timeout_seconds=timeout_ms / 1000)
            else:
                guard_transaction(cursor, timeout_ms=timeout_ms)
            cursor.execute(statement)
            rows = cursor.fetchone() if fetch == "one" else cursor.fetchall()
        return rows, time.monotonic() - started

    def patterns_rejected(self, patterns: list[str]) -> dict[str, str]:
        """The patterns this data store's PostgreSQL rejects, with its reasons; reads no table."""
        with self.connection.transaction(), self.connection.cursor() as cursor:
            guard_transaction(cursor, timeout_ms=PATTERN_CHECK_TIMEOUT_MS)
            return patterns_rejected(cursor, patterns)

    def text(self, statement) -> str:
        return statement.as_string(self.connection)


TIMED_OUT = "Stopped by the statement timeout"
HELD_AFTER_TIMEOUT = "Not run automatically"


def _problem(exc: Exception, *, timeout_s: float | None = None) -> str:
    if isinstance(exc, psycopg.errors.QueryCanceled):
        limit = f" of {timeout_s:g} s" if timeout_s else ""
        return f"{TIMED_OUT}{limit}: the query ran too long, and is not re-run."
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
        return "Refused: the SQL tried to write, and rules only read."
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, psycopg.errors.InvalidRegularExpression):
        return f"PostgreSQL rejects the regular expression: {message}"
    return f"The database refused the rule's SQL: {message}"


def _table_columns(store: _Store, schema: str) -> dict[str, set[str]]:
    rows, _ = store.run(
        sql.SQL(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = {}"
        ).format(sql.Literal(schema)),
        fetch="all",
    )
    tables: dict[str, set[str]] = {}
    for table, column in rows:
        tables.setdefault(table, set()).add(column)
    return tables


def _key_columns(entity: Entity) -> list[str]:
    return [
        c.name
        for c in sorted(
            (c for c in entity.columns.all() if c.primary_key_position), key=lambda c: c.primary_key_position
        )
    ]


def evaluate_entity(
    store: _Store, entity: Entity, tables: dict[str, set[str]], *, automatic: bool = False
) -> list[Outcome]:
    """Every enabled rule of the entity, evaluated; one Outcome per rule.

    `automatic` (a schedule or a load started the check): a rule whose last check was stopped by the
    timeout is not run again until someone runs the check by hand, so a pattern that holds the data store's
    CPU does not do so at every tick."""
    try:
        rules_implied_sync(entity)
    except ValidationError as exc:  # the catalog states what no rule can check: the stored rules still run
        logger.warning("Implied rules of %s not synced: %s", entity.name, "; ".join(exc.messages))
    rules = list(_rules_with_last_error(entity))
    schema = entity.datastore.schema_name or "public"
    table = sql.Identifier(schema, entity.name)
    existing = tables.get(entity.name)
    outcomes: dict[int, Outcome] = {}
    runnable = []
    for rule in rules:
        if automatic and rule.last_error.startswith((TIMED_OUT, HELD_AFTER_TIMEOUT)):
            outcomes[rule.pk] = Outcome(
                rule,
                ResultStatus.ERROR,
                error=(
                    f"{HELD_AFTER_TIMEOUT}: it was stopped by the statement timeout in check "
                    f"#{rule.last_run_id}. Run the check by hand, or change the rule, to try it again."
                ),
            )
            continue
        if existing is None:
            outcomes[rule.pk] = Outcome(
                rule,
                ResultStatus.ERROR,
                error=(
                    f"The table {schema}.{entity.name} does not exist in the data store: "
                    "apply the schema first."
                ),
            )
            continue
        missing = [c for c in rule.columns if c not in existing]
        if missing:
            outcomes[rule.pk] = Outcome(
                rule,
                ResultStatus.ERROR,
                error=(
                    f"Column {', '.join(missing)} no longer exists in {schema}.{entity.name}; "
                    "update or delete the rule."
                ),
            )
            continue
        runnable.append(rule)
    scan_rules = [r for r in runnable if kind_of(r.kind).in_scan]
    target = SetTarget(entity, table, _key_columns(entity))
    prepared = [_set_rule_prepare(target, r) for r in runnable if not kind_of(r.kind).in_scan]
    # The set-based statements run on a second connection while this one scans: the uniqueness aggregate
    # is one process, so it overlaps the scan's parallel workers instead of waiting for them.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(_set_rules_run, entity.datastore, prepared) if prepared else None
        total = _evaluate_scan(store, entity, table, scan_rules, outcomes) if scan_rules or runnable else None
        ran = pending.result() if pending else []
    for (rule, statement, error), (row, seconds, exc) in zip(prepared, ran, strict=True):
        finished = error or _set_rule_finish(store, entity, rule, statement, row, seconds, exc, total)
        outcomes[rule.pk] = finished
    return [outcomes[rule.pk] for rule in rules]


def _rules_with_last_error(entity: Entity):
    """The entity's enabled rules with `last_error` and `last_run_id` of their latest result."""
    latest = RuleResult.objects.filter(rule=OuterRef("pk")).order_by("-created_at", "-id")
    return (
        Rule.objects.filter(entity=entity, enabled=True)
        .annotate(
            last_error=Coalesce(Subquery(latest.values("error")[:1]), Value(""), output_field=TextField()),
            last_run_id=Subquery(latest.values("check_run_id")[:1]),
        )
        .order_by("name")
    )


def _set_rules_run(datastore, prepared) -> list[tuple]:
    """(row, seconds, psycopg error) of each prepared set-rule statement, on a connection of its own."""
    ran = []
    with datastore_pg_connect(datastore, application_name="custodian-quality") as connection:
        connection.autocommit = True
        store = _Store(connection)
        for rule, statement, error in prepared:
            if error is not None:
                ran.append((None, 0.0, None))
                continue
            timeout, guard = None, None
            if kind_of(rule.kind).user_sql:
                timeout, guard = int(rule_timeout_seconds(rule) * 1000), datastore
            try:
                ran.append((*store.run(statement, timeout_ms=timeout, guard=guard), None))
            except psycopg.Error as exc:
                ran.append((None, 0.0, exc))
    return ran


def _evaluate_scan(store, entity, table, rules, outcomes) -> int | None:
    """The shared scan, run once: rules that cannot run are set aside before it, never re-run after it.

    Patterns PostgreSQL rejects are found first by one cheap statement that reads no table, so the other
    rules keep the shared scan. A scan stopped by the timeout is not re-run rule by rule (that would hold the
    data store as long again per rule): each of its rules is recorded as stopped by the timeout."""
    rules = _patterns_checked(store, rules, outcomes)
    if not rules:
        return None
    plan = _scan_plan(table, rules)
    try:
        row, seconds = store.run(plan.statement)
    except psycopg.errors.QueryCanceled as exc:
        _scan_failed(store, plan, rules, outcomes, _problem(exc, timeout_s=store.timeout_ms / 1000))
        return None
    except psycopg.Error as exc:
        remaining = _planning_checked(store, table, rules, outcomes)
        if len(remaining) == len(rules) or not remaining:
            _scan_failed(store, plan, remaining, outcomes, _problem(exc))
            return None
        return _evaluate_scan(store, entity, table, remaining, outcomes)
    return _scan_judge(store, entity, table, rules, outcomes, plan, row, seconds)


def _patterns_checked(store, rules, outcomes) -> list:
    """The rules whose patterns the data store accepts; the others get their error outcome."""
    patterns = [pattern for r in rules for pattern in _regexes(r)]
    if not patterns:
        return rules
    try:
        rejected = store.patterns_rejected(patterns)
    except psycopg.Error as exc:  # the check itself failed: the scan says what is wrong
        logger.warning("Patterns could not be checked first: %s", exc)
        return rules
    kept = []
    for rule in rules:
        reason = next((rejected[p] for p in _regexes(rule) if p in rejected), None)
        if reason:
            outcomes[rule.pk] = Outcome(
                rule, ResultStatus.ERROR, error=f"PostgreSQL rejects the regular expression: {reason}"
            )
        else:
            kept.append(rule)
    return kept


def _regexes(rule) -> list[str]:
    """The rule's regular expressions (its parameters of type regex), which the data store judges first."""
    kind = kind_of(rule.kind)
    return [rule.params[p.name] for p in kind.params if p.type == ParamType.REGEX and p.name in rule.params]


def _scan_plan(table, rules):
    return scan_compile(table, [(rule.pk, kind_of(rule.kind).scan_aggregate(rule)) for rule in rules])


def _planning_checked(store, table, rules, outcomes) -> list:
    """The rules PostgreSQL can plan alone (EXPLAIN: no row is read); the others get their error outcome."""
    kept = []
    for rule in rules:
        alone = _scan_plan(table, [rule]).statement
        try:
            store.run(sql.SQL("EXPLAIN {}").format(alone), fetch="all")
        except psycopg.Error as exc:
            outcomes[rule.pk] = Outcome(rule, ResultStatus.ERROR, error=_problem(exc), sql=store.text(alone))
        else:
            kept.append(rule)
    return kept


def _scan_failed(store, plan, rules, outcomes, problem: str) -> None:
    text = store.text(plan.statement)
    for rule in rules:
        outcomes[rule.pk] = Outcome(rule, ResultStatus.ERROR, error=problem, sql=text)


def _scan_judge(store, entity, table, rules, outcomes, plan, row, seconds) -> int:
    """Each rule's outcome from the shared scan's row, then their failing samples; the table's row count."""
    total = row[0]
    values = dict(zip(["total", *plan.aliases.values()], row, strict=True))
    text = store.text(plan.statement)
    for rule in rules:
        outcome = Outcome(rule, total_rows=total, duration_ms=round(seconds * 1000, 1), sql=text)
        evaluation = kind_of(rule.kind).evaluation
        if evaluation == Evaluation.NEWEST:
            _judge_freshness(outcome, values[plan.aliases[rule.pk]])
        elif evaluation == Evaluation.COUNT:
            _judge_volume(outcome, total)
        else:
            outcome.failing_rows = values[plan.aliases[rule.pk]]
            _judge_rows(outcome)
        outcomes[rule.pk] = outcome
    _collect_samples(store, entity, table, [outcomes[r.pk] for r in rules])
    return total


def _judge_rows(outcome: Outcome) -> None:
    threshold = float(outcome.rule.threshold_percent)
    percent = outcome.failing_percent or 0.0
    failed = outcome.failing_rows and percent > threshold
    outcome.status = _failing_status(outcome.rule) if failed else ResultStatus.PASSED
    if outcome.failing_rows:
        outcome.measured = f"{outcome.failing_rows:,} of {outcome.total_rows:,} rows fail ({percent:.3f}%)"


def _failing_status(rule: Rule) -> str:
    return ResultStatus.FAILED if rule.severity == Severity.ERROR else ResultStatus.WARNED


def _judge_freshness(outcome: Outcome, newest) -> None:
    limit = float(outcome.rule.params["max_age_hours"])
    if newest is None:
        outcome.status, outcome.measured = _failing_status(outcome.rule), "the table has no values at all"
        return
    if not isinstance(newest, datetime):  # a date column
        newest = datetime(newest.year, newest.month, newest.day, tzinfo=timezone.get_current_timezone())
    elif timezone.is_naive(newest):
        newest = timezone.make_aware(newest, timezone.get_current_timezone())
    age_hours = (timezone.now() - newest).total_seconds() / 3600
    outcome.measured = f"newest value {newest.isoformat()} is {age_hours:.1f} h old (limit {limit:g} h)"
    outcome.status = _failing_status(outcome.rule) if age_hours > limit else ResultStatus.PASSED


def _judge_volume(outcome: Outcome, total: int) -> None:
    params = outcome.rule.params
    problems = []
    if params.get("min_rows") is not None and total < int(params["min_rows"]):
        problems.append(f"below the minimum {int(params['min_rows']):,}")
    if params.get("max_rows") is not None and total > int(params["max_rows"]):
        problems.append(f"above the maximum {int(params['max_rows']):,}")
    if params.get("max_change_percent") is not None:
        history = int(params.get("history") or VOLUME_HISTORY)
        previous = list(
            RuleResult.objects.filter(
                rule=outcome.rule,
                total_rows__isnull=False,
                status__in=[ResultStatus.PASSED, ResultStatus.WARNED, ResultStatus.FAILED],
            )
            .order_by("-created_at")
            .values_list("total_rows", flat=True)[:history]
        )
        if previous:
            mean = sum(previous) / len(previous)
            change = 100.0 * abs(total - mean) / mean if mean else (0.0 if total == 0 else 100.0)
            if change > float(params["max_change_percent"]):
                problems.append(
                    f"{change:.1f}% away from the mean of the last {len(previous)} checks ({mean:,.0f})"
                )
    outcome.measured = f"{total:,} rows" + (f": {'; '.join(problems)}" if problems else "")
    outcome.status = _failing_status(outcome.rule) if problems else ResultStatus.PASSED


def _collect_samples(store, entity, table, outcomes: list[Outcome]) -> None:
    """Up to ten failing rows per row rule, from one statement whose branches stop once they have enough."""
    failing = [o for o in outcomes if o.failing_rows and kind_of(o.rule.kind).evaluation == Evaluation.ROWS]
    if not failing:
        return
    shown = list(dict.fromkeys(_key_columns(entity) + [c for o in failing for c in o.rule.columns]))
    predicates = [kind_of(o.rule.kind).predicate(o.rule) for o in failing]
    statement = samples_compile(table, shown, predicates, [o.failing_rows for o in failing])
    try:
        rows, _ = store.run(statement, fetch="all")
    except psycopg.Error as exc:  # examples are a courtesy; the counts stand
        logger.warning("Samples for %s failed: %s", entity.name, exc)
        return
    found: dict[int, list[dict]] = {position: [] for position in range(len(failing))}
    for row in rows:
        values = dict(zip(shown, row[1 : 1 + len(shown)], strict=True))
        flags = row[1 + len(shown) :]
        for position in found:
            mine = row[0] == position or (row[0] == -1 and flags[position])
            if mine and len(found[position]) < SAMPLE_ROWS:
                found[position].append(values)
    columns = list(entity.columns.all())
    for position, outcome in enumerate(failing):
        shaped = outcome.rule.columns if kind_of(outcome.rule.kind).shows_shape else ()
        _samples_set(outcome, found[position], entity_sample_masking(columns, shaped=shaped))


def _samples_set(outcome: Outcome, rows: list[dict], masking: SampleMasking) -> None:
    """The outcome's samples as everyone sees them and, when that hides something, as view_pii sees them."""
    outcome.samples, for_pii, outcome.samples_masked = masking.apply(rows)
    outcome.samples_pii = for_pii if outcome.samples_masked else []


def _set_rule_prepare(target: SetTarget, rule) -> tuple:
    """(rule, statement, None), or (rule, None, an error Outcome) when the rule cannot be compiled."""
    try:
        return rule, kind_of(rule.kind).statement(rule, target), None
    except RuleNotRunnable as exc:
        return rule, None, Outcome(rule, ResultStatus.ERROR, error=str(exc))


def _set_rule_finish(store, entity, rule, statement, row, seconds, exc, total) -> Outcome:
    text = store.text(statement)
    kind = kind_of(rule.kind)
    if exc is not None:
        limit = rule_timeout_seconds(rule) if kind.user_sql else scan_timeout_seconds()
        problem = _problem(exc, timeout_s=limit)
        return Outcome(rule, ResultStatus.ERROR, error=problem, sql=text, total_rows=total)
    groups, failing, examples = row
    outcome = Outcome(
        rule, total_rows=total, failing_rows=failing, duration_ms=round(seconds * 1000, 1), sql=text
    )
    rows = [
        {
            ("rows" if k == "custodian_n" else k): v
            for k, v in e.items()
            if kind.example_counts or k != "custodian_n"
        }
        for e in (examples or [])
    ]
    # Tracing a custom query's outputs costs a catalog read and sqlglot's lineage: only for examples to mask
    # (without any, the outcome keeps its empty, unmasked samples)
    if rows:
        if kind.user_sql:
            masking = custom_sql_sample_masking(rule.params["sql"], entity)
        else:
            masking = entity_sample_masking(list(entity.columns.all()), counts=("rows",))
        _samples_set(outcome, rows, masking)
    _judge_rows(outcome)
    if kind.measured and failing:
        outcome.measured = kind.measured(rule, groups, failing, total, outcome.failing_percent or 0)
    return outcome


def check_run_execute(check_run_id: int) -> CheckRun | None:
    """Evaluate a queued check run and record everything; returns the finished run."""
    run = run_claim(CheckRun, check_run_id, related=("datastore", "entity"))
    if run is None:
        return None
    entities = [run.entity] if run.entity_id else list(run.datastore.entities.order_by("name"))
    results: list[tuple[Entity, Outcome]] = []
    with run_heartbeat(run):  # until recorded: alerts may wait on a webhook
        error = _evaluate(run, entities, results)
        check_run_record(run, results, error=error)
    return run


def _evaluate(run: CheckRun, entities: list[Entity], results: list) -> str:
    """Evaluate every entity's rules into `results`; the run-level error, if any."""
    error = ""
    automatic = run.trigger in (CheckTrigger.SCHEDULE, CheckTrigger.PIPELINE)
    try:
        with datastore_pg_connect(run.datastore, application_name="custodian-quality") as connection:
            connection.autocommit = True
            store = _Store(connection)
            tables = _table_columns(store, run.datastore.schema_name or "public")
            for entity in entities:
                outcomes = evaluate_entity(store, entity, tables, automatic=automatic)
                results += [(entity, outcome) for outcome in outcomes]
    except SchemaError as exc:
        error = exc.message
        done = {outcome.rule.pk for _, outcome in results}
        for entity in entities:
            try:
                rules_implied_sync(entity)  # so the implied rules report the outage too
            except Exception:
                logger.exception("Implied rules of %s could not be synced", entity.name)
            for rule in Rule.objects.filter(entity=entity, enabled=True).exclude(pk__in=done):
                results.append((entity, Outcome(rule, ResultStatus.ERROR, error=exc.message)))
    except Exception as exc:  # a bug must not leave the run "running" forever: record it, keep the trace
        logger.exception("Check run %s failed", run.pk)
        error = f"Internal error ({type(exc).__name__}: {exc}); see the worker log."
    return error


__all__ += ["evaluate_entity"]

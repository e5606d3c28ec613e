"""Benchmark: a 12-rule quality suite on N rows (default 3,000,000) x 12 columns vs an expert's SQL.

The data store is a scratch PostgreSQL database holding `bench.orders` (N rows, generated server-side) and
`bench.customers` (100,000 rows, the referenced table). Every rule's column has about 0.1% failing rows,
and the columns of the pattern, range, allowed-values and referential rules also hold about 0.1% NULLs,
which those rules must not count. The suite is 12 steward rules on `orders` (4 not-null, 2 pattern, 2
range, 1 allowed values, 1 unique, 1 referential integrity, 1 freshness); the two rules the catalog implies
from the primary key are disabled, as a steward would, so exactly those 12 run. It runs through the normal
service path: check_run_request, then check_run_execute (implied-rule sync, the shared scan, samples, the
uniqueness and referential statements, results, scores and incidents recorded as in production).

In the same run the bench times what an expert would write by hand for the same rules: one
`count(*) FILTER` scan for the ten column rules, one GROUP BY for uniqueness and one anti-join for
referential integrity (EXPERT_SQL below, counts only, no samples), and a bare `SELECT count(*)`. It checks
that the suite and the expert find the same counts. Timing: after one untimed run of each (cache warm,
hint bits set), suite, expert and scan alternate for --repeat rounds; the JSON line has the median of
each, and every round is printed with the best. The expert keeps one open connection; the suite connects
per run, as a check run does. On a busy machine run it with --repeat 5 or more.

Runs in throwaway databases (Django's test database for DATABASE_URL, a scratch database for the store).
Usage: DATABASE_URL=postgres://... python bench/quality_bench.py [--rows N] [--repeat 3]
The last line is a JSON object.
"""

import argparse
import json
import os
import statistics
import time
from datetime import datetime

import _common
import psycopg
from django.contrib.auth import get_user_model
from psycopg import sql

SCHEMA = "bench"
TABLE = "orders"
REF_TABLE = "customers"
REF_ROWS = 100_000
URL_ENV = "CUSTODIAN_QUALITY_BENCH_URL"
EMAIL_PATTERN = r"^[a-z0-9._-]+@[a-z0-9.-]+\.[a-z]{2,}$"
SKU_PATTERN = r"^[A-Z]{3}-[0-9]{6}$"
STATUSES = ["new", "paid", "shipped", "delivered", "cancelled"]

# The suite: (name, kind, columns, params). Every rule tolerates no failing row (threshold 0).
RULES = [
    ("customer_id_not_null", "not_null", ["customer_id"], {}),
    ("email_not_null", "not_null", ["email"], {}),
    ("amount_not_null", "not_null", ["amount"], {}),
    ("created_at_not_null", "not_null", ["created_at"], {}),
    ("email_pattern", "pattern", ["email"], {"pattern": EMAIL_PATTERN}),
    ("sku_pattern", "pattern", ["sku"], {"pattern": SKU_PATTERN}),
    ("amount_range", "range", ["amount"], {"min": "0", "max": "10000"}),
    ("quantity_range", "range", ["quantity"], {"min": "1", "max": "100"}),
    ("status_allowed_values", "allowed_values", ["status"], {"values": STATUSES}),
    ("order_ref_unique", "unique", ["order_ref"], {}),
    (
        "customer_id_references_customers",
        "referential",
        ["customer_id"],
        {"ref_entity": REF_TABLE, "ref_columns": ["id"]},
    ),
    ("updated_at_fresh", "freshness", ["updated_at"], {"max_age_hours": 24}),
]

# (name, catalog type, column fields) of orders; only the key is declared, so the catalog implies little.
COLUMNS = [
    ("id", "bigint", {"primary_key_position": 1, "nullable": False}),
    ("order_ref", "varchar", {"length": 20}),
    ("customer_id", "bigint", {}),
    ("email", "varchar", {"length": 120, "pii_category": "direct_identifier"}),
    ("sku", "varchar", {"length": 12}),
    ("amount", "numeric", {"precision": 12, "scale": 2}),
    ("quantity", "integer", {}),
    ("status", "varchar", {"length": 12}),
    ("created_at", "timestamptz", {}),
    ("updated_at", "timestamptz", {}),
    ("country", "char", {"length": 2}),
    ("note", "text", {}),
]

# Names and values reach the statements below composed by psycopg (DESIGN.md, "Trust boundary").
NAMES = {
    "schema": sql.Identifier(SCHEMA),
    "table": sql.Identifier(SCHEMA, TABLE),
    "ref": sql.Identifier(SCHEMA, REF_TABLE),
}

# Row i of a column with offset k is NULL when (i + k) % 1000 = 0 and breaks its rule when it is 500: one
# NULL and one bad value per thousand consecutive rows, at a different place for every column, so no row
# is bad in several columns at once. order_ref is a hash, in no particular order on disk (a sort finds no
# presorted runs); one row in 2,000 repeats the previous row's reference. {rows} is the row count.
DATA_SQL = sql.SQL("""
CREATE SCHEMA {schema};
CREATE TABLE {ref} (id bigint PRIMARY KEY, name text NOT NULL);
INSERT INTO {ref} SELECT i, 'customer ' || i FROM generate_series(1, {ref_rows}) AS i;
CREATE TABLE {table} (
    id bigint PRIMARY KEY, order_ref varchar(20), customer_id bigint, email varchar(120), sku varchar(12),
    amount numeric(12, 2), quantity integer, status varchar(12), created_at timestamptz,
    updated_at timestamptz, country char(2), note text
);
INSERT INTO {table}
SELECT i,
    CASE WHEN (i + 113) % 1000 = 0 THEN NULL
         ELSE 'ORD-' || upper(left(md5((i - ((i + 131) % 2000 = 0)::int)::text), 16)) END,
    CASE (i + 11) % 1000 WHEN 0 THEN NULL WHEN 500 THEN {ref_rows} + 1 + i % 1000
         ELSE 1 + i * 7 % {ref_rows} END,
    CASE (i + 23) % 1000 WHEN 0 THEN NULL WHEN 500 THEN 'user' || i || '-at-example.com'
         ELSE 'user' || i || '@example.com' END,
    CASE (i + 37) % 1000 WHEN 0 THEN NULL WHEN 500 THEN 'abc-' || lpad((i % 1000000)::text, 6, '0')
         ELSE chr(65 + i::int % 26) || chr(65 + i::int / 26 % 26) || chr(65 + i::int / 676 % 26) || '-'
              || lpad((i % 1000000)::text, 6, '0') END,
    CASE (i + 41) % 1000 WHEN 0 THEN NULL WHEN 500 THEN CASE WHEN i % 2 = 0 THEN -12.50 ELSE 25000 END
         ELSE i * 7 % 1000000 / 100.0 END,
    CASE (i + 53) % 1000 WHEN 0 THEN NULL WHEN 500 THEN CASE WHEN i % 2 = 0 THEN 0 ELSE 500 END
         ELSE 1 + i % 100 END,
    CASE (i + 67) % 1000 WHEN 0 THEN NULL WHEN 500 THEN 'lost'
         ELSE ({statuses}::text[])[1 + i % 5] END,
    CASE (i + 79) % 1000 WHEN 0 THEN NULL
         ELSE timestamptz '2024-01-01 00:00:00+00' + i * interval '1 s' END,
    CASE (i + 97) % 1000 WHEN 0 THEN NULL ELSE now() - ({rows} - i) % 3600 * interval '1 s' END,
    (ARRAY['DE', 'FR', 'US', 'GB', 'NL', 'IT'])[1 + i % 6],
    CASE WHEN i % 10 = 0 THEN NULL ELSE 'note ' || i END
FROM generate_series(1::bigint, {rows}) AS i;
""")

# What an expert writes by hand for the same 12 rules: same semantics (a NULL fails only the not-null
# rules; uniqueness counts the rows holding a duplicated key), counts only.
EXPERT_SQL = [
    sql.SQL("""SELECT count(*),
    count(*) FILTER (WHERE customer_id IS NULL), count(*) FILTER (WHERE email IS NULL),
    count(*) FILTER (WHERE amount IS NULL), count(*) FILTER (WHERE created_at IS NULL),
    count(*) FILTER (WHERE email !~ {email}), count(*) FILTER (WHERE sku !~ {sku}),
    count(*) FILTER (WHERE amount < 0 OR amount > 10000),
    count(*) FILTER (WHERE quantity < 1 OR quantity > 100),
    count(*) FILTER (WHERE status NOT IN ({statuses})),
    max(updated_at)
FROM {table}""").format(
        email=sql.Literal(EMAIL_PATTERN),
        sku=sql.Literal(SKU_PATTERN),
        statuses=sql.SQL(", ").join(map(sql.Literal, STATUSES)),
        **NAMES,
    ),
    sql.SQL("""SELECT count(*), coalesce(sum(n), 0) FROM (
    SELECT order_ref, count(*) AS n FROM {table} WHERE order_ref IS NOT NULL
    GROUP BY order_ref HAVING count(*) > 1
) AS duplicated""").format(**NAMES),
    sql.SQL("""SELECT count(*) FROM {table} AS o
WHERE o.customer_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM {ref} AS c WHERE c.id = o.customer_id)""").format(**NAMES),
]
# The rules whose failing counts the expert's scan returns, in its column order (after the total).
SCAN_RULES = [name for name, kind, _c, _p in RULES if kind not in ("unique", "referential", "freshness")]
SCAN_SQL = sql.SQL("SELECT count(*) FROM {table}").format(**NAMES)


# The data store -----------------------------------------------------------------------------------------


def store_connect() -> psycopg.Connection:
    return psycopg.connect(os.environ[URL_ENV], autocommit=True)


def data_load(rows: int) -> float:
    """Create and fill both tables server-side, then VACUUM ANALYZE them; seconds taken."""
    started = time.perf_counter()
    with store_connect() as conn:
        conn.execute(
            DATA_SQL.format(
                ref_rows=sql.Literal(REF_ROWS),
                statuses=sql.Literal(STATUSES),
                rows=sql.Literal(int(rows)),
                **NAMES,
            )
        )
        for table in (NAMES["ref"], NAMES["table"]):
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(table))
        conn.execute("CHECKPOINT")
    return time.perf_counter() - started


# The catalog and the suite ------------------------------------------------------------------------------


def catalog_build(user):
    """The store, `customers` and `orders` described in the catalog, and the 12 rules on `orders`."""
    from catalog.models import Column, DataStore, Entity
    from catalog.services import catalog_object_save
    from quality.models import Rule
    from quality.rules import rules_implied_sync

    store = catalog_object_save(
        obj=DataStore(name="bench", engine="postgresql", schema_name=SCHEMA, url_env=URL_ENV), user=user
    )
    customers = catalog_object_save(obj=Entity(datastore=store, name=REF_TABLE), user=user)
    key = Column(
        entity=customers, name="id", data_type="bigint", position=1, primary_key_position=1, nullable=False
    )
    catalog_object_save(obj=key, user=user)
    catalog_object_save(obj=Column(entity=customers, name="name", data_type="text", position=2), user=user)
    orders = catalog_object_save(obj=Entity(datastore=store, name=TABLE), user=user)
    for position, (name, data_type, fields) in enumerate(COLUMNS, 1):
        column = Column(entity=orders, name=name, data_type=data_type, position=position, **fields)
        catalog_object_save(obj=column, user=user)
    for name, kind, columns, params in RULES:
        catalog_object_save(
            obj=Rule(entity=orders, name=name, kind=kind, columns=columns, params=params), user=user
        )
    # The primary key implies two rules; the suite is exactly the 12 above, so a steward turns them off.
    rules_implied_sync(orders)
    for rule in Rule.objects.filter(entity=orders, origin="catalog"):
        rule.enabled = False
        catalog_object_save(obj=rule, user=user)
    enabled = Rule.objects.filter(entity=orders, enabled=True).count()
    if enabled != len(RULES):
        raise RuntimeError(f"The suite should be {len(RULES)} rules, but {enabled} are enabled.")
    return store, orders


def suite_run(store, entity, user):
    """(seconds, finished CheckRun) of one check of `orders` through the service path."""
    from quality.runner import check_run_execute
    from quality.services import check_run_request

    started = time.perf_counter()
    run = check_run_request(datastore=store, entity=entity, user=user, enqueue=False)
    run = check_run_execute(run.pk)
    return time.perf_counter() - started, run


def expert_run(conn: psycopg.Connection) -> tuple[float, dict]:
    """(seconds, what the expert's three statements found)."""
    started = time.perf_counter()
    scan, unique, referential = (conn.execute(statement).fetchone() for statement in EXPERT_SQL)
    seconds = time.perf_counter() - started
    found = {"total": scan[0], **dict(zip(SCAN_RULES, scan[1:-1], strict=True))}
    found |= {"newest": scan[-1], "order_ref_unique": unique[1], "duplicated_keys": unique[0]}
    found["customer_id_references_customers"] = referential[0]
    return seconds, found


def scan_run(conn: psycopg.Connection) -> tuple[float, int]:
    started = time.perf_counter()
    total = conn.execute(SCAN_SQL).fetchone()[0]
    return time.perf_counter() - started, total


# Checks and report --------------------------------------------------------------------------------------


def counts_compare(run, expert: dict) -> list[str]:
    """Differences between what the suite recorded and what the expert's SQL found (none expected)."""
    results = {r.rule_name: r for r in run.results.all()}
    problems = [f"{r.rule_name}: {r.status} {r.error}" for r in results.values() if r.status == "error"]
    if set(results) != {name for name, *_ in RULES}:
        problems.append(f"the suite ran {sorted(results)}")
    for name, found in expert.items():
        if name in results and results[name].failing_rows != found:
            problems.append(f"{name}: suite {results[name].failing_rows}, expert {found}")
    for result in results.values():
        if result.total_rows != expert["total"]:
            problems.append(f"{result.rule_name}: total {result.total_rows}, expert {expert['total']}")
    unique = results["order_ref_unique"].measured
    if not unique.startswith(f"{expert['duplicated_keys']:,} duplicated keys"):
        problems.append(f"order_ref_unique: suite '{unique}', expert {expert['duplicated_keys']} keys")
    fresh = results["updated_at_fresh"].measured
    newest = datetime.fromisoformat(fresh.removeprefix("newest value ").split(" ")[0])
    if newest != expert["newest"] or results["updated_at_fresh"].status != "passed":
        problems.append(f"updated_at_fresh: suite '{fresh}', expert newest {expert['newest']}")
    return problems


def suite_sql_print(run) -> None:
    """The statements the suite recorded as its SQL (the samples cursor is not recorded)."""
    print("SQL the suite ran (RuleResult.sql):")
    for text in dict.fromkeys(r.sql for r in run.results.order_by("rule_name")):
        print(f"  {text}")


def breakdown(run, seconds: float) -> str:
    """A suite run of `seconds`: each statement's recorded time, and what the run spent besides them."""
    per_statement = {result.sql: result.duration_ms / 1000 for result in run.results.all()}
    labels = {"FILTER": "scan", "GROUP BY": "unique", "NOT EXISTS": "referential"}
    shown = ", ".join(
        f"{next((v for k, v in labels.items() if k in text), 'other')} {took:.2f} s"
        for text, took in per_statement.items()
    )
    rest = seconds - sum(per_statement.values())
    if rest < 0:
        return f"{seconds:.2f} s: {shown} (the statements overlapped)"
    return f"{seconds:.2f} s: {shown}; samples, implied-rule sync, recording and connecting {rest:.2f} s"


def measure(store, entity, user, repeat: int) -> dict:
    """One untimed run of each side, then `repeat` alternating rounds; medians, and the last run's results."""
    suite, expert, scan = [], [], []
    with store_connect() as conn:
        _, run = suite_run(store, entity, user)
        _, found = expert_run(conn)
        scan_run(conn)
        for _ in range(repeat):
            seconds, run = suite_run(store, entity, user)
            suite.append(seconds)
            seconds, found = expert_run(conn)
            expert.append(seconds)
            seconds, total = scan_run(conn)
            scan.append(seconds)
    for label, times in (("suite", suite), ("expert SQL", expert), ("SELECT count(*)", scan)):
        print(f"{label} runs: {', '.join(f'{s:.2f}' for s in times)} s (best {min(times):.2f})")
    print(f"  last suite run {breakdown(run, suite[-1])}")
    return {
        "run": run,
        "expert": found,
        "suite_s": statistics.median(suite),
        "expert_s": statistics.median(expert),
        "scan_s": statistics.median(scan),
        "total": total,
    }


def run_bench(rows: int, repeat: int) -> dict:
    user = get_user_model().objects.create_user("bench")
    with _common.scratch_database() as (_name, url):
        os.environ[URL_ENV] = url
        load_s = data_load(rows)
        print(f"loaded {rows:,} + {REF_ROWS:,} rows and ran VACUUM ANALYZE in {load_s:.1f} s")
        store, entity = catalog_build(user)
        figures = measure(store, entity, user, repeat)
    problems = counts_compare(figures["run"], figures["expert"])
    if figures["total"] != figures["expert"]["total"]:
        problems.append(f"Plain count(*) found {figures['total']}, the expert {figures['expert']['total']}")
    failing = {r.rule_name: r.failing_rows for r in figures["run"].results.order_by("rule_name")}
    print("failing rows per rule: " + ", ".join(f"{k} {v:,}" for k, v in failing.items() if v is not None))
    suite_sql_print(figures["run"])
    if problems:
        raise SystemExit("The suite and the expert disagree:\n  " + "\n  ".join(problems))
    print("suite and expert SQL agree on every count, the total and the newest updated_at")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds; medians are reported")
    args = parser.parse_args()
    with _common.throwaway_catalog():
        figures = run_bench(args.rows, max(1, args.repeat))
    suite_s, expert_s, scan_s = figures["suite_s"], figures["expert_s"], figures["scan_s"]
    print(
        f"{args.rows:,} rows, {len(RULES)} rules (median of {args.repeat}): suite {suite_s:.2f} s, "
        f"expert SQL {expert_s:.2f} s, SELECT count(*) {scan_s:.2f} s; suite/expert {suite_s / expert_s:.2f}"
    )
    summary = {
        "rows": args.rows,
        "rules": len(RULES),
        "suite_s": round(suite_s, 3),
        "expert_s": round(expert_s, 3),
        "scan_s": round(scan_s, 3),
        "ratio": round(suite_s / expert_s, 3),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

"""Benchmark: load a CSV of N rows (default 1,000,000) x 12 typed columns through a pipeline vs plain COPY.

The source file has 1% dirty rows (one bad value each, spread over all 12 columns) and messy text that the
pipeline's transforms clean up (trim, lower, upper, map, regex_replace, parse_number, default). The pipeline
validates every column against the catalog (types, NOT NULL, lengths, patterns, allowed values, min/max),
rejects the dirty rows to quarantine and appends the rest, through COPY, into the applied target table.

Plain COPY cannot load that file: the target's CHECK constraints and types refuse the dirty rows (one of them
aborts the whole COPY) and the messy values would be stored as they are. So the same run writes a second
file holding exactly the rows the pipeline loads, already clean, and times `COPY ... FROM STDIN (FORMAT csv)`
of it into `copy_target`, an identical table (`LIKE ... INCLUDING ALL`: same types, CHECKs, keys). That is
the floor: the least PostgreSQL has to do to end with the same rows. The bench checks that both tables end
with the same rows (EXCEPT ALL both ways), so the comparison is of equal work on the target side.

Then 1% new rows (later watermark) are appended to the source file and the pipeline (incremental,
watermark updated_at) runs again; it should read only the new bytes and load only the new rows.

Each pipeline run executes in a child process (a fresh interpreter) that reports its peak resident set
(VmHWM), which counts what Arrow and Polars allocate natively. Resident memory moves by up to about 100 MB
between batches without growing with N: Polars' jemalloc keeps freed pages for its dirty_decay_ms (10 s)
before returning them. Run with `_RJEM_MALLOC_CONF=dirty_decay_ms:0,muzzy_decay_ms:0` to see the live
set alone: 440 MB at 1M rows and 448 MB at 4M measured that way, flat across batches, at a cost in speed.

Everything runs in throwaway databases: Django's test database for DATABASE_URL, and a scratch PostgreSQL
database as the target.
Usage: DATABASE_URL=postgres://... python bench/etl_bench.py [--rows N] [--repeat K] [--profile]
The last line is a JSON object.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import _common
import polars as pl
import psycopg
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from psycopg import sql

SCHEMA = "bench"
TABLE = "orders"
COPY_TABLE = "copy_target"
URL_ENV = "CUSTODIAN_ETL_BENCH_URL"
SOURCE_FILE = "orders.csv"
CLEAN_FILE = "orders_clean.csv"
CHUNK_ROWS = 500_000
SEED = 20240917
DIRTY_EVERY = 100  # one row in a hundred has one bad value
COUNTRIES_RAW = ["de", "FR", " us", "uk", "NL ", "it"]
COUNTRIES = ["DE", "FR", "US", "GB", "NL", "IT"]
ACTIVE_RAW = ["Yes", "no", "TRUE", "FALSE", "y", "n"]

# (target column, type, column fields, source field, steps): validation has a rule on every column.
COLUMNS = [
    ("order_id", "integer", {"primary_key_position": 1, "nullable": False}, "id", []),
    ("customer_ref", "bigint", {"nullable": False, "min_value": "1"}, "customer", ["trim"]),
    (
        "email",
        "varchar",
        {"length": 120, "nullable": False, "pattern": "^[^@ ]+@[^@ ]+$"},
        "email",
        ["trim", "lower"],
    ),
    (
        "country",
        "char",
        {"length": 2, "allowed_values": COUNTRIES},
        "country",
        ["trim", "upper", {"op": "map", "values": {"UK": "GB"}}],
    ),
    (
        "note",
        "text",
        {"min_length": 2},
        "note",
        [{"op": "regex_replace", "pattern": r"\s+", "replacement": " "}, "trim"],
    ),
    (
        "amount",
        "numeric",
        {"precision": 12, "scale": 2, "min_value": "0", "max_value": "1000000"},
        "amount",
        [{"op": "parse_number", "decimal": ".", "thousands": ","}],
    ),
    ("ratio", "double", {"min_value": "0", "max_value": "1"}, "ratio", []),
    ("is_active", "boolean", {"nullable": False}, "active", ["lower"]),
    ("signup_date", "date", {"min_value": "2000-01-01"}, "signup", []),
    (
        "updated_at",
        "timestamptz",
        {"nullable": False, "min_value": "2020-01-01 00:00:00+00:00"},
        "updated_at",
        [],
    ),
    ("account_uuid", "uuid", {"nullable": False}, "account", ["lower"]),
    (
        "priority",
        "smallint",
        {"min_value": "1", "max_value": "5"},
        "priority",
        [{"op": "default", "value": "3"}],
    ),
]
WATERMARK = "updated_at"


# Data -------------------------------------------------------------------------------------------------


def _pick(index: pl.Expr, values: list[str]) -> pl.Expr:
    return index.replace_strict(list(range(len(values))), values, return_dtype=pl.String)


def _values(h: pl.Expr) -> dict[str, tuple[pl.Expr, pl.Expr, pl.Expr]]:
    """Per source field: (raw text in the source file, clean text as loaded, a dirty value)."""
    row = pl.col("id")
    text = row.cast(pl.String)
    customer = (h % 10_000_000 + 1).cast(pl.String)
    whole, cents = h // 7 % 1_000_000, (h // 11 % 100).cast(pl.String).str.zfill(2)
    thousands = pl.format("{},{}.{}", whole // 1000, (whole % 1000).cast(pl.String).str.zfill(3), cents)
    plain_amount = pl.format("{}.{}", whole, cents)
    country = h // 13 % 6
    active = h // 17 % 6
    signup = (pl.date(2015, 1, 1) + pl.duration(days=h // 19 % 3000)).dt.strftime("%Y-%m-%d")
    updated = (pl.datetime(2024, 1, 1, time_zone="UTC") + pl.duration(seconds=row)).dt.strftime(
        "%Y-%m-%d %H:%M:%S+00:00"
    )
    account = pl.format(
        "{}-{}-4{}-a{}-{}",
        *[(h // d % m).cast(pl.String).str.zfill(w) for d, m, w in ((1, 10**8, 8), (23, 10**4, 4))],
        *[(h // d % 1000).cast(pl.String).str.zfill(3) for d in (29, 31)],
        text.str.zfill(12),
    )
    priority = (h // 37 % 5 + 1).cast(pl.String)
    blank_priority = h // 41 % 10 == 0
    return {
        "id": (text, text, text + "x"),
        "customer": (pl.format(" {} ", customer), customer, "-" + customer),
        "email": (
            pl.format("  User{}@Example.COM ", row),
            pl.format("user{}@example.com", row),
            pl.format("user{}.example.com", row),
        ),
        "country": (_pick(country, COUNTRIES_RAW), _pick(country, COUNTRIES), pl.lit("XX")),
        "note": (
            pl.format("Order {}   packed,\tready ", row),
            pl.format("Order {} packed, ready", row),
            pl.lit("x"),
        ),
        "amount": (
            pl.when(whole >= 1000).then(thousands).otherwise(plain_amount),
            plain_amount,
            pl.lit("12.3.4"),
        ),
        "ratio": (
            pl.format("0.{}", (h // 43 % 1000).cast(pl.String).str.zfill(3)),
            pl.format("0.{}", (h // 43 % 1000).cast(pl.String).str.zfill(3)),
            pl.lit("1.5"),
        ),
        "active": (
            _pick(active, ACTIVE_RAW),
            pl.when(active % 2 == 0).then(pl.lit("true")).otherwise(pl.lit("false")),
            pl.lit("maybe"),
        ),
        "signup": (signup, signup, pl.lit("2024-13-45")),
        "updated_at": (updated, updated, pl.lit("yesterday")),
        "account": (account.str.to_uppercase(), account, pl.lit("not-a-uuid")),
        "priority": (
            pl.when(blank_priority).then(pl.lit("")).otherwise(priority),
            pl.when(blank_priority).then(pl.lit("3")).otherwise(priority),
            pl.lit("9"),
        ),
    }


def rows_frames(first_id: int, count: int, dirty_fields: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(source rows as written to the file, the clean rows the pipeline should load from them).

    Row ids run from first_id; every DIRTY_EVERY-th row gets one bad value, in the next of dirty_fields.
    """
    frame = pl.DataFrame({"id": pl.int_range(first_id, first_id + count, eager=True)})
    frame = frame.with_columns(h=pl.col("id").hash(SEED))
    dirty = pl.col("id") % DIRTY_EVERY == DIRTY_EVERY // 2
    which = pl.col("id") // DIRTY_EVERY % len(dirty_fields)
    values = _values(pl.col("h"))
    raw_columns, clean_columns = [], []
    for column, _type, _fields, source, _steps in COLUMNS:
        raw, clean, bad = values[source]
        if source in dirty_fields:
            raw = pl.when(dirty & (which == dirty_fields.index(source))).then(bad).otherwise(raw)
        raw_columns.append(raw.alias(source))
        clean_columns.append(clean.alias(column))
    source = frame.select(raw_columns)
    clean = frame.filter(~dirty).select(clean_columns)
    return source, clean


def files_write(workdir: Path, first_id: int, count: int, dirty_fields: list[str], *, append: bool) -> int:
    """Write (or append) source rows, and write the clean file alongside unless appending; dirty rows."""
    source_path, clean_path = workdir / SOURCE_FILE, workdir / CLEAN_FILE
    dirty = 0
    with source_path.open("ab" if append else "wb") as source_file:
        clean_file = None if append else clean_path.open("wb")
        try:
            for start in range(first_id, first_id + count, CHUNK_ROWS):
                size = min(CHUNK_ROWS, first_id + count - start)
                source, clean = rows_frames(start, size, dirty_fields)
                header = start == first_id and not append
                source.write_csv(source_file, include_header=header)
                if clean_file is not None:
                    clean.write_csv(clean_file, include_header=header)
                dirty += size - clean.height
        finally:
            if clean_file is not None:
                clean_file.close()
    return dirty


# Catalog and target -----------------------------------------------------------------------------------


def _target_dsn() -> str:
    return os.environ[URL_ENV].replace("postgresql+psycopg://", "postgresql://")


def target_query(statement, params=()) -> list[tuple]:
    with psycopg.connect(_target_dsn()) as conn:
        return conn.execute(statement, params).fetchall()


def catalog_build(user, *, batch_size: int | None):
    """The store, the applied `orders` entity, its COPY twin, and the pipeline that loads it."""
    from catalog.models import Column, DataStore, Entity
    from catalog.schema.apply import schema_apply_execute
    from catalog.schema.releases import release_publish
    from catalog.services import catalog_object_save
    from pipelines.models import FieldMapping, Pipeline

    store = catalog_object_save(
        obj=DataStore(name="bench", engine="postgresql", schema_name=SCHEMA, url_env=URL_ENV), user=user
    )
    entity = catalog_object_save(obj=Entity(datastore=store, name=TABLE), user=user)
    columns = {}
    for position, (name, data_type, fields, _source, _steps) in enumerate(COLUMNS, 1):
        column = Column(entity=entity, name=name, data_type=data_type, position=position, **fields)
        columns[name] = catalog_object_save(obj=column, user=user)
    release_publish(datastore=store, user=user, message="etl bench")
    schema_apply_execute(datastore=store, target_version=1, user=user)
    with psycopg.connect(_target_dsn()) as conn:
        conn.execute(
            sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(
                sql.Identifier(SCHEMA, COPY_TABLE), sql.Identifier(SCHEMA, TABLE)
            )
        )
    pipeline = Pipeline(
        target=entity,
        name="etl-bench",
        source_path=SOURCE_FILE,
        extract_mode="incremental",
        watermark_field=WATERMARK,
        load_mode="append",
        reject_threshold_percent=2,
    )
    if batch_size:
        pipeline.batch_size = batch_size
    pipeline = catalog_object_save(obj=pipeline, user=user)
    for position, (name, _type, _fields, source, steps) in enumerate(COLUMNS):
        mapping = FieldMapping(
            pipeline=pipeline, column=columns[name], source_field=source, steps=steps, position=position
        )
        catalog_object_save(obj=mapping, user=user)
    pipeline.full_clean()  # now with its mappings: the watermark is mapped, every required column too
    return pipeline


# Loads ------------------------------------------------------------------------------------------------


def checkpoint() -> None:
    """Flush dirty buffers first, so one load does not pay for writing out the previous one."""
    _common.admin_execute("CHECKPOINT")


def copy_load(path: Path) -> float:
    """Seconds to COPY the clean file into copy_target and commit."""
    statement = sql.SQL("COPY {} FROM STDIN (FORMAT csv, HEADER true)").format(
        sql.Identifier(SCHEMA, COPY_TABLE)
    )
    with psycopg.connect(_target_dsn()) as conn:
        started = time.perf_counter()
        with conn.cursor() as cursor, cursor.copy(statement) as copy, path.open("rb") as source:
            while chunk := source.read(1 << 20):
                copy.write(chunk)
        conn.commit()
        return time.perf_counter() - started


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS now, VmHWM its peak), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field} (Linux only).")


def pipeline_child(pipeline_id: int, profile_path: str | None) -> dict:
    """In the child: one run, timed from request to recorded outcome, with this process's peak RSS."""
    from pipelines.choices import RunTrigger
    from pipelines.models import Pipeline
    from pipelines.runner import pipeline_run_execute
    from pipelines.services import pipeline_run_request

    pipeline = Pipeline.objects.get(pk=pipeline_id)
    baseline_mb = _status_mb("VmRSS")
    profiler = None
    if profile_path:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started, cpu_started = time.perf_counter(), time.process_time()
    run = pipeline_run_request(pipeline, trigger=RunTrigger.COMMAND, enqueue=False)
    request_seconds = time.perf_counter() - started  # the preflight: configuration, the file's header
    resident = []  # VmRSS after each batch: flat when memory does not grow with the file
    run = pipeline_run_execute(run.pk, progress=lambda _run: resident.append(_status_mb("VmRSS")))
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile_path)
    fields = ("status", "error", "rows_extracted", "rows_loaded", "rows_rejected", "timings", "watermark_to")
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,  # of this process, all threads (Polars, Arrow, the COPY writer)
        "run_seconds": run.duration,
        "request_seconds": request_seconds,
        "baseline_mb": baseline_mb,
        # Not ru_maxrss: Linux carries the parent's peak into a child's across fork and exec.
        "peak_mb": _status_mb("VmHWM"),
        "resident_mb": resident,
        **{name: getattr(run, name) for name in fields},
    }


def _catalog_database_url() -> str:
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    host, port, user = _common.server()
    return f"postgres://{quote(user, safe='')}{password}@{host}:{port}/{db['NAME']}"


def pipeline_measure(pipeline, workdir: Path, label: str, profile: bool) -> dict:
    """Run the pipeline once in a fresh interpreter; what pipeline_child reported."""
    command = [sys.executable, __file__, "--child-run", str(pipeline.pk)]
    if profile:
        command += ["--profile-to", str(workdir / f"profile-{label}.pstats")]
    env = os.environ | {
        "DEBUG": "false",  # as a worker runs: Django keeps no log of the queries
        "DATABASE_URL": _catalog_database_url(),
        "CUSTODIAN_IMPORT_ROOT": str(workdir),
        URL_ENV: os.environ[URL_ENV],
    }
    checkpoint()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"The pipeline child failed:\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["status"] != "succeeded":
        raise RuntimeError(f"The {label} run did not succeed: {result['error']}")
    return result


def _profile_top(path: Path, lines: int = 25) -> str:
    import io
    import pstats

    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("tottime").print_stats(lines)
    stats.sort_stats("cumulative").print_stats(r"pipelines/|bulk_create|write_csv|copy\.py", lines)
    return out.getvalue()


# The run ----------------------------------------------------------------------------------------------


def tables_match() -> bool:
    """Both tables hold exactly the same rows (as typed values, duplicates counted)."""
    target, twin = sql.Identifier(SCHEMA, TABLE), sql.Identifier(SCHEMA, COPY_TABLE)
    statement = sql.SQL(
        "SELECT (SELECT count(*) FROM (TABLE {a} EXCEPT ALL TABLE {b}) x), "
        "(SELECT count(*) FROM (TABLE {b} EXCEPT ALL TABLE {a}) y)"
    ).format(a=target, b=twin)
    return target_query(statement)[0] == (0, 0)


def _forget_full_load() -> None:
    """Empty both tables and the pipeline's stored position, so the next full load starts afresh."""
    from pipelines.load import STATE_TABLE

    with psycopg.connect(_target_dsn()) as conn:
        conn.execute(
            sql.SQL("TRUNCATE {}, {}").format(
                sql.Identifier(SCHEMA, TABLE), sql.Identifier(SCHEMA, COPY_TABLE)
            )
        )
        conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(SCHEMA, STATE_TABLE)))


def full_load(pipeline, workdir: Path, rows: int, *, repeat: int, profile: bool) -> dict:
    """COPY, then the pipeline, `repeat` times on emptied tables; the best time of each, the highest peak.

    On a shared machine other work slows some attempts; alternating the two loads and keeping the best of
    each compares them under like conditions.
    """
    all_fields = [source for *_rest, source, _steps in COLUMNS]
    dirty = files_write(workdir, 1, rows, all_fields, append=False)
    clean_rows = rows - dirty
    copies, runs = [], []
    for attempt in range(repeat):
        if attempt:
            _forget_full_load()
        checkpoint()
        copies.append(copy_load(workdir / CLEAN_FILE))
        run = pipeline_measure(pipeline, workdir, "full", profile)
        assert run["rows_extracted"] == rows, run
        assert run["rows_loaded"] + run["rows_rejected"] == rows, run
        assert (run["rows_loaded"], run["rows_rejected"]) == (clean_rows, dirty), run
        assert tables_match(), "the pipeline and COPY loaded different rows"
        runs.append(run)
    best = min(runs, key=lambda r: r["seconds"])
    return {
        "dirty": dirty,
        "file_mb": (workdir / SOURCE_FILE).stat().st_size / 2**20,
        "copy_s": min(copies),
        "copies": copies,
        "pipelines": [r["seconds"] for r in runs],
        "run": best | {"peak_mb": max(r["peak_mb"] for r in runs)},
    }


def _saved_position() -> tuple:
    from pipelines.load import STATE_TABLE

    statement = sql.SQL("SELECT watermark, file_position FROM {}").format(sql.Identifier(SCHEMA, STATE_TABLE))
    return target_query(statement)[0]


def _forget_increment(rows: int, position: tuple) -> None:
    """Take the appended rows out of the target and put the stored position back to after the full load."""
    from psycopg.types.json import Jsonb

    from pipelines.load import STATE_TABLE

    with psycopg.connect(_target_dsn()) as conn:
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE order_id > %s").format(sql.Identifier(SCHEMA, TABLE)), (rows,)
        )
        conn.execute(
            sql.SQL("UPDATE {} SET watermark = %s, file_position = %s").format(
                sql.Identifier(SCHEMA, STATE_TABLE)
            ),
            (position[0], Jsonb(position[1])),
        )


def incremental_load(pipeline, workdir: Path, rows: int, loaded: int, *, repeat: int, profile: bool) -> dict:
    """Append 1% new rows (later watermarks) and run again, `repeat` times: only they are read and loaded."""
    # The engine filters a file on the stored watermark before validating, so a row whose watermark cannot
    # be read is dropped there, not rejected; the new rows keep readable watermarks so the counts add up.
    fields = [source for *_rest, source, _steps in COLUMNS if source != WATERMARK]
    new_rows = max(1, rows // 100)
    position = _saved_position()
    dirty = files_write(workdir, rows + 1, new_rows, fields, append=True)
    runs = []
    for attempt in range(repeat):
        if attempt:
            _forget_increment(rows, position)
        run = pipeline_measure(pipeline, workdir, "incremental", profile)
        assert run["rows_extracted"] == new_rows, (
            f"read {run['rows_extracted']} rows, not only the new {new_rows}"
        )
        assert run["rows_loaded"] + run["rows_rejected"] == new_rows, run
        assert run["rows_rejected"] == dirty, run
        statement = sql.SQL("SELECT count(*), count(*) FILTER (WHERE order_id > %s) FROM {}").format(
            sql.Identifier(SCHEMA, TABLE)
        )
        total, new = target_query(statement, (rows,))[0]
        assert (total, new) == (loaded + run["rows_loaded"], run["rows_loaded"]), (total, new)
        runs.append(run)
    best = min(runs, key=lambda r: r["seconds"])
    return {"new_rows": new_rows, "dirty": dirty, "seconds": [r["seconds"] for r in runs], "run": best}


def run(rows: int, workdir: Path, *, batch_size: int | None, repeat: int, profile: bool) -> dict:
    user = get_user_model().objects.create_user("bench")
    settings.CUSTODIAN_IMPORT_ROOT = workdir
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        with _common.scratch_database(sqlalchemy=True) as (_name, url):
            os.environ[URL_ENV] = url
            pipeline = catalog_build(user, batch_size=batch_size)
            full = full_load(pipeline, workdir, rows, repeat=repeat, profile=profile)
            loaded = full["run"]["rows_loaded"]
            incremental = incremental_load(pipeline, workdir, rows, loaded, repeat=repeat, profile=profile)
    finally:
        for generated in (SOURCE_FILE, CLEAN_FILE):
            (workdir / generated).unlink(missing_ok=True)
    return {"rows": rows, "batch_size": pipeline.batch_size, "full": full, "incremental": incremental}


PHASES = ("extract", "transform", "load", "commit")


def _phases(run: dict) -> str:
    """The run's own timings per phase, and what the runner spent outside them (rejects, bookkeeping)."""
    timings = run["timings"]
    shown = [f"{name} {timings.get(name, 0):.2f} s" for name in PHASES]
    outside = run["seconds"] - sum(timings.values())
    shown.append(f"outside the phases {outside:.2f} s (of which the request {run['request_seconds']:.2f} s)")
    shown.append(f"CPU of the pipeline process {run['cpu_seconds']:.2f} s")
    return ", ".join(shown)


def _curve(resident: list[float]) -> str:
    """VmRSS after the first batch, at each quarter of the run and after the last batch."""
    if not resident:
        return "(no batches)"
    picks = sorted({0, *(len(resident) * q // 4 for q in (1, 2, 3)), len(resident) - 1})
    return ", ".join(f"{i + 1}: {resident[i]:.0f} MB" for i in picks)


def _tries(seconds: list[float]) -> str:
    return f" (best of {', '.join(f'{s:.2f}' for s in seconds)} s)" if len(seconds) > 1 else ""


def report(figures: dict, workdir: Path, profile: bool) -> dict:
    """Print the figures for people; return the summary for the JSON line."""
    rows, full, incremental = figures["rows"], figures["full"], figures["incremental"]
    run, incr = full["run"], incremental["run"]
    pipeline_s, copy_s, incremental_s = run["seconds"], full["copy_s"], incr["seconds"]
    clean_rows = rows - full["dirty"]
    print(
        f"{rows:,} rows x {len(COLUMNS)} columns ({full['file_mb']:.0f} MB), {full['dirty']:,} dirty "
        f"({100 * full['dirty'] / rows:.2f}%), pipeline batch size {figures['batch_size']:,}"
    )
    print(
        f"plain COPY of the {clean_rows:,} clean rows: {copy_s:.2f} s ({clean_rows / copy_s:,.0f} rows/s)"
        + _tries(full["copies"])
    )
    print(
        f"pipeline: {pipeline_s:.2f} s ({rows / pipeline_s:,.0f} rows/s read), "
        f"{run['rows_loaded']:,} loaded, {run['rows_rejected']:,} rejected; "
        f"{pipeline_s / copy_s:.2f}x plain COPY" + _tries(full["pipelines"])
    )
    print(f"  {_phases(run)}")
    print(
        f"incremental: {incremental['new_rows']:,} new rows ({incr['rows_loaded']:,} loaded, "
        f"{incr['rows_rejected']:,} rejected) in {incremental_s:.2f} s, "
        f"{100 * incremental_s / pipeline_s:.1f}% of the full load" + _tries(incremental["seconds"])
    )
    print(f"  {_phases(incr)}")
    print(
        f"peak memory of the pipeline process (VmHWM): {run['peak_mb']:.0f} MB, of which "
        f"{run['baseline_mb']:.0f} MB before the run started; incremental run {incr['peak_mb']:.0f} MB"
    )
    print(f"  resident after batch {_curve(run['resident_mb'])}")
    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    if load > cpus:
        print(f"note: load average {load:.1f} on {cpus} CPUs; other work competed and the times are noisy")
    if profile:
        for label in ("full", "incremental"):
            print(f"--- profile of the last {label} run ---")
            print(_profile_top(workdir / f"profile-{label}.pstats"))
    return {
        "rows": rows,
        "pipeline_s": round(pipeline_s, 2),
        "copy_s": round(copy_s, 2),
        "ratio": round(pipeline_s / copy_s, 2),
        "incremental_ratio": round(incremental_s / pipeline_s, 4),
        "peak_mb": round(run["peak_mb"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=None, help="the pipeline's batch size")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/etlbench"), help="for the generated files")
    parser.add_argument("--repeat", type=int, default=1, help="times each load runs; the best one counts")
    parser.add_argument("--profile", action="store_true", help="cProfile both runs and print the top")
    parser.add_argument("--child-run", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_run:
        print(json.dumps(pipeline_child(args.child_run, args.profile_to), default=str))
        return
    workdir = args.workdir.resolve()
    with _common.throwaway_catalog():
        figures = run(
            args.rows, workdir, batch_size=args.batch_size, repeat=max(1, args.repeat), profile=args.profile
        )
    summary = report(figures, workdir, args.profile)
    for label in ("full", "incremental"):
        (workdir / f"profile-{label}.pstats").unlink(missing_ok=True)
    if workdir.is_dir() and not any(workdir.iterdir()):
        workdir.rmdir()
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

"""Benchmark: import a catalog of N columns (default 5,000) from CSV through the normal service path.

Runs in a throwaway database (Django's test database for DATABASE_URL), so nothing of yours is touched.
Prints the time of a dry run and of the real import, rows per second and queries per row; the last line
is a JSON object. Usage: DATABASE_URL=postgres://... python bench/import_bench.py [--columns N]
"""

import argparse
import json
import time

import _common
from django.contrib.auth import get_user_model
from django.db import connection

COLUMNS_PER_ENTITY = 20


def catalog_files(total_columns: int) -> tuple[bytes, bytes]:
    """entities.csv and columns.csv; each entity has a key, typed columns, checks, PII and a forward FK."""
    entity_count = max(1, total_columns // COLUMNS_PER_ENTITY)
    entities = ["datastore,name,kind,description"] + [
        f"bench,entity_{i:04d},table,Benchmark entity {i}" for i in range(entity_count)
    ]
    header = (
        "datastore,entity,name,position,data_type,length,precision,scale,nullable,primary_key_position,"
        "is_unique,min_value,max_value,pattern,allowed_values,pii_category,masking_strategy,references,on_delete"
    )
    rows = [header]
    for i in range(entity_count):
        entity = f"entity_{i:04d}"
        # A foreign key to the next entity: its key is defined further down the file.
        target = f"entity_{(i + 1) % entity_count:04d}.id"
        specs = [
            ("id", "bigint", "", "", "", "0", "1", "0", "", "", "", "", "none", "none", "", "no_action"),
            (
                "email",
                "varchar",
                "254",
                "",
                "",
                "1",
                "",
                "1",
                "",
                "",
                "^[^@]+@[^@]+$",
                "",
                "direct_identifier",
                "hash",
                "",
                "no_action",
            ),
            (
                "amount",
                "numeric",
                "",
                "12",
                "2",
                "1",
                "",
                "0",
                "0",
                "100000",
                "",
                "",
                "none",
                "none",
                "",
                "no_action",
            ),
            (
                "status",
                "varchar",
                "10",
                "",
                "",
                "0",
                "",
                "0",
                "",
                "",
                "",
                '"[""new"", ""paid""]"',
                "none",
                "none",
                "",
                "no_action",
            ),
            (
                "next_id",
                "bigint",
                "",
                "",
                "",
                "1",
                "",
                "0",
                "",
                "",
                "",
                "",
                "none",
                "none",
                target,
                "set_null",
            ),
        ]
        specs += [
            (
                f"attr_{j:02d}",
                "integer",
                "",
                "",
                "",
                "1",
                "",
                "0",
                "0",
                "1000",
                "",
                "",
                "none",
                "none",
                "",
                "no_action",
            )
            for j in range(COLUMNS_PER_ENTITY - len(specs))
        ]
        for position, spec in enumerate(specs, 1):
            rows.append(",".join(["bench", entity, spec[0], str(position), *spec[1:]]))
    return ("\n".join(entities) + "\n").encode(), ("\n".join(rows) + "\n").encode()


def run(total_columns: int) -> dict:
    from django.contrib.auth.models import Group

    from catalog.imports import catalog_import, result_error_lines
    from catalog.models import Column, DataStore
    from catalog.roles import DATA_STEWARD
    from catalog.services import catalog_object_save

    # A steward: the file sets PII categories, which an import accepts only from someone who may.
    user = get_user_model().objects.create_user("bench")
    user.groups.add(Group.objects.get(name=DATA_STEWARD))
    catalog_object_save(obj=DataStore(name="bench", engine="postgresql"), user=user)
    entities_csv, columns_csv = catalog_files(total_columns)
    result = catalog_import(resource_name="entities", content=entities_csv, file_format="csv", user=user)
    assert not result_error_lines(result), result_error_lines(result)[:5]

    started = time.perf_counter()
    dry = catalog_import(
        resource_name="columns", content=columns_csv, file_format="csv", user=user, dry_run=True
    )
    dry_s = time.perf_counter() - started
    assert not result_error_lines(dry), result_error_lines(dry)[:5]
    assert Column.objects.count() == 0

    queries = []
    with connection.execute_wrapper(
        lambda execute, sql, params, many, context: queries.append(1) or execute(sql, params, many, context)
    ):
        started = time.perf_counter()
        result = catalog_import(resource_name="columns", content=columns_csv, file_format="csv", user=user)
        import_s = time.perf_counter() - started
    assert not result_error_lines(result), result_error_lines(result)[:5]
    imported = Column.objects.count()
    assert imported == Column.history.filter(history_user=user).values("id").distinct().count()
    return {
        "columns": imported,
        "dry_run_s": round(dry_s, 2),
        "import_s": round(import_s, 2),
        "rows_per_s": round(imported / import_s),
        "queries_per_row": round(len(queries) / imported, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--columns", type=int, default=5000)
    args = parser.parse_args()
    with _common.throwaway_catalog():
        figures = run(args.columns)
    print(
        f"engine: {connection.vendor}; {figures['columns']} columns imported in {figures['import_s']} s "
        f"({figures['rows_per_s']} rows/s, {figures['queries_per_row']} queries per row); "
        f"dry run {figures['dry_run_s']} s"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

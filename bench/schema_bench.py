"""Benchmark: schema as code on a catalog of 1,000 entities x 20 columns with indexes and foreign keys.

Times full DDL generation, a release diff (with up/down SQL and lint) after changing 5% of the entities, and
introspection of the applied schema (the schema is applied to a scratch PostgreSQL database first).
Runs in throwaway databases. Usage: DATABASE_URL=postgres://... python bench/schema_bench.py [--entities N]
The last line is a JSON object.
"""

import argparse
import json
import os
import time

import _common
from django.contrib.auth import get_user_model
from django.db import connection

COLUMNS = 20


class QueryCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def build_catalog(entities: int):
    from catalog.models import Column, DataStore, Entity, Index, IndexColumn

    store = DataStore.objects.create(
        name="bench", engine="postgresql", schema_name="bench", url_env="CUSTODIAN_BENCH_URL"
    )
    made = Entity.objects.bulk_create(Entity(datastore=store, name=f"table_{i:04d}") for i in range(entities))
    columns = []
    for entity in made:
        columns.append(
            Column(
                entity=entity,
                name="id",
                position=1,
                data_type="bigint",
                primary_key_position=1,
                nullable=False,
            )
        )
        columns.append(
            Column(entity=entity, name="code", position=2, data_type="varchar", length=40, is_unique=True)
        )
        columns.append(Column(entity=entity, name="parent_id", position=3, data_type="bigint"))
        columns.append(
            Column(
                entity=entity,
                name="amount",
                position=4,
                data_type="numeric",
                precision=12,
                scale=2,
                min_value="0",
            )
        )
        columns += [
            Column(entity=entity, name=f"attr_{j:02d}", position=j + 1, data_type="integer")
            for j in range(4, COLUMNS)
        ]
    Column.objects.bulk_create(columns, batch_size=5000)
    ids = {c.entity_id: c for c in Column.objects.filter(entity__datastore=store, name="id")}
    parents = list(Column.objects.filter(entity__datastore=store, name="parent_id"))
    for i, column in enumerate(parents):  # each table points at the previous one
        column.references = ids[made[i - 1].pk] if i else None
    Column.objects.bulk_update(parents, ["references"], batch_size=5000)
    indexes = Index.objects.bulk_create(
        Index(entity=e, name=f"table_{i:04d}_amount_idx") for i, e in enumerate(made)
    )
    amounts = {c.entity_id: c for c in Column.objects.filter(entity__datastore=store, name="amount")}
    IndexColumn.objects.bulk_create(
        IndexColumn(index=i, column=amounts[i.entity_id], position=1) for i in indexes
    )
    return store


def change_five_percent(store, user):
    from catalog.models import Column, Entity

    changed = Entity.objects.filter(datastore=store).order_by("name")[::20]
    new_columns = [
        Column(entity=e, name="added_col", position=COLUMNS + 1, data_type="text") for e in changed
    ]
    Column.objects.bulk_create(new_columns)
    Column.objects.filter(entity__in=changed, name="attr_05").update(data_type="bigint")
    return len(changed)


def timed(work):
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def run(entities: int) -> dict:
    from catalog.schema.apply import schema_apply_execute
    from catalog.schema.ddl import ddl_render, schema_ddl
    from catalog.schema.dialects import profile_for
    from catalog.schema.releases import release_preview, release_publish
    from catalog.schema.snapshot import snapshot_build

    user = get_user_model().objects.create_user("bench")
    store = build_catalog(entities)
    counter = QueryCounter()

    def generate_ddl():
        return ddl_render(schema_ddl(snapshot_build(store), profile_for("postgresql")))

    # The first run in a process pays one-time costs (imports, SQLAlchemy's compiled caches); a web process or
    # worker has paid them already, so the figure that counts is the second run. Both are printed.
    with connection.execute_wrapper(counter):
        ddl_cold_s, script = timed(generate_ddl)
    ddl_queries = counter.count
    ddl_s, _script = timed(generate_ddl)
    release_publish(datastore=store, user=user, message="baseline")
    changed = change_five_percent(store, user)
    counter.count = 0
    with connection.execute_wrapper(counter):
        diff_cold_s, preview = timed(lambda: release_preview(datastore=store))
    diff_queries = counter.count
    diff_s, _preview = timed(lambda: release_preview(datastore=store))
    with _common.scratch_database(sqlalchemy=True) as (_name, url):
        os.environ["CUSTODIAN_BENCH_URL"] = url
        started = time.perf_counter()
        schema_apply_execute(datastore=store, target_version=1, user=user)
        apply_s = time.perf_counter() - started
        from catalog.schema.drift import drift_compare
        from catalog.schema.metadata import schema_tables_build
        from catalog.schema.model import schema_model_from_snapshot
        from core.connections import datastore_connect

        snapshot = store.releases.get(version=1).snapshot
        expected = schema_tables_build(schema_model_from_snapshot(snapshot), profile_for("postgresql"))
        with datastore_connect(store) as target:
            started = time.perf_counter()
            report = drift_compare(expected=expected, connection=target)
            introspect_s = time.perf_counter() - started
        assert not report.has_drift, (report.missing[:3], report.extra[:3], report.different[:3])
    return {
        "entities": entities,
        "columns": entities * COLUMNS,
        "ddl_s": round(ddl_s, 2),
        "ddl_cold_s": round(ddl_cold_s, 2),
        "diff_cold_s": round(diff_cold_s, 2),
        "ddl_queries": ddl_queries,
        "ddl_bytes": len(script),
        "changed_entities": changed,
        "diff_s": round(diff_s, 2),
        "diff_queries": diff_queries,
        "changes": len(preview.changes),
        "apply_s": round(apply_s, 2),
        "introspect_s": round(introspect_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=1000)
    args = parser.parse_args()
    with _common.throwaway_catalog():
        figures = run(args.entities)
    print(
        f"{figures['entities']} entities x {COLUMNS} columns: DDL {figures['ddl_s']} s "
        f"(first run in the process {figures['ddl_cold_s']} s) "
        f"({figures['ddl_queries']} queries, {figures['ddl_bytes']:,} bytes); "
        f"diff of {figures['changed_entities']} changed entities "
        f"{figures['diff_s']} s (first {figures['diff_cold_s']} s; {figures['diff_queries']} queries, "
        f"{figures['changes']} changes); apply "
        f"{figures['apply_s']} s; introspection and comparison {figures['introspect_s']} s"
    )
    print(
        json.dumps(
            {k: figures[k] for k in ("entities", "ddl_s", "diff_s", "introspect_s")}
            | {k: figures[k] for k in ("ddl_cold_s", "diff_cold_s", "ddl_queries", "diff_queries", "apply_s")}
        )
    )


if __name__ == "__main__":
    main()

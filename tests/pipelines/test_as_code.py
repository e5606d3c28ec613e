"""Pipelines as code: YAML out and back unchanged, create/update/delete with history, every error located."""

import copy
import re
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import DataStore
from catalog.services import catalog_object_save
from pipelines.as_code import (
    PipelineConfigError,
    pipeline_apply_config,
    pipeline_to_config,
    pipeline_yaml_dump,
    pipeline_yaml_load,
)
from pipelines.models import FieldMapping, Pipeline
from pipelines.spec import pipeline_spec_errors, pipeline_spec_from_pipeline
from tests.pipelines.conftest import customer_entity, make_pipeline
from tests.readme import readme_yaml

ROOT = Path(__file__).resolve().parents[2]
WRITES = re.compile(r"\s*(INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|TRUNCATE)\b", re.I)


def catalog_shop_make(steward) -> DataStore:
    """The catalog side of a PostgreSQL store `shop` with the customer entity; applying needs no database."""
    store = catalog_object_save(
        obj=DataStore(name="shop", engine="postgresql", schema_name="app"), user=steward
    )
    store.customer = customer_entity(store, steward)
    return store


@pytest.fixture
def shop_catalog(db, steward):
    return catalog_shop_make(steward)


def history_rows() -> int:
    return Pipeline.history.count() + FieldMapping.history.count()


def customer_config(**overrides) -> dict:
    """A complete config for the `shop` fixture's customer entity."""
    config = {
        "name": "crm_customers",
        "description": "Customers from the CRM.\nNightly.",
        "enabled": True,
        "target": {"datastore": "shop", "entity": "customer"},
        "source": {
            "kind": "csv",
            "path": "crm/customers.csv",
            "encoding": "utf-8",
            "delimiter": ";",
            "quotechar": '"',
            "header": True,
            "null_markers": ["", "NULL", "n/a"],
        },
        "extract": {"mode": "incremental", "watermark": "updated"},
        "load": {"mode": "upsert", "key": ["customer_id"]},
        "reject_threshold_percent": 2.5,
        "batch_size": 10_000,
        "max_retries": 2,
        "schedule": "30 2 * * *",
        "mappings": [
            {"column": "customer_id", "field": "id"},
            {"column": "email", "field": "email", "steps": ["trim", "lower"]},
            {
                "column": "full_name",
                "field": "name",
                "steps": [{"op": "regex_replace", "pattern": "\\s+", "replacement": " "}, "trim"],
            },
            {
                "column": "country",
                "field": "country",
                "steps": [{"op": "map", "values": {"Germany": "DE", "France": "FR"}, "strict": True}],
            },
            {
                "column": "signup_date",
                "field": "signup",
                "steps": [{"op": "parse_date", "format": "%d/%m/%Y"}],
            },
            {"column": "active", "constant": "true"},
            {"column": "updated_at", "field": "updated"},
        ],
    }
    config.update(overrides)
    return config


def problems_of(config: dict, user) -> list[str]:
    with pytest.raises(PipelineConfigError) as caught:
        pipeline_apply_config(config, user=user)
    return caught.value.problems


@pytest.mark.django_db
class TestRoundTrip:
    def test_export_then_apply_changes_nothing_and_writes_no_history(
        self, shop_catalog, import_root, platform_admin
    ):
        upstream = make_pipeline(shop_catalog.customer, platform_admin, name="upstream")
        pipeline, created, _ = pipeline_apply_config(
            customer_config(owner="platform", run_after="upstream"), user=platform_admin
        )
        assert created and pipeline.run_after == upstream
        text = pipeline_yaml_dump(pipeline)
        before, rows = pipeline_to_config(pipeline), history_rows()
        again, created, changes = pipeline_apply_config(pipeline_yaml_load(text), user=platform_admin)
        assert (again.pk, created, changes) == (pipeline.pk, False, [])
        assert history_rows() == rows
        assert pipeline_to_config(Pipeline.objects.get(pk=pipeline.pk)) == before
        assert Pipeline.objects.get(pk=pipeline.pk).version == pipeline.version

    def test_export_is_readable_yaml_in_the_documented_layout(
        self, shop_catalog, import_root, platform_admin
    ):
        pipeline, _, _ = pipeline_apply_config(customer_config(owner="platform"), user=platform_admin)
        text = pipeline_yaml_dump(pipeline)
        assert text.startswith("# Custodian pipeline.")
        keys = [line.split(":")[0] for line in text.splitlines() if re.match(r"^[a-z_]+:", line)]
        assert keys == [
            "name",
            "description",
            "owner",
            "enabled",
            "target",
            "source",
            "extract",
            "load",
            "reject_threshold_percent",
            "batch_size",
            "max_retries",
            "schedule",
            "mappings",
        ]
        assert "description: |-\n  Customers from the CRM.\n  Nightly.\n" in text
        assert "null_markers: ['', 'NULL', n/a]" in text  # NULL quoted, or YAML would read it as null
        assert "steps: [trim, lower]" in text
        assert "- {op: parse_date, format: '%d/%m/%Y'}" in text
        assert "key: [customer_id]" in text

    def test_config_of_a_pipeline_made_in_the_admin_round_trips(
        self, shop_catalog, import_root, platform_admin
    ):
        pipeline = make_pipeline(shop_catalog.customer, platform_admin)
        rows = history_rows()
        _, created, changes = pipeline_apply_config(
            pipeline_yaml_load(pipeline_yaml_dump(pipeline)), user=platform_admin
        )
        assert (created, changes, history_rows()) == (False, [], rows)


@pytest.mark.django_db
class TestApply:
    def test_create_writes_the_pipeline_and_mappings_with_history_under_the_user(
        self, shop_catalog, import_root, platform_admin
    ):
        pipeline, created, changes = pipeline_apply_config(customer_config(), user=platform_admin)
        assert created
        assert pipeline.history.get().history_user == platform_admin
        mappings = list(pipeline.mappings.order_by("position").select_related("column"))
        assert [(m.position, m.column.name) for m in mappings] == list(
            enumerate(["customer_id", "email", "full_name", "country", "signup_date", "active", "updated_at"])
        )
        assert mappings[1].steps == [{"op": "trim"}, {"op": "lower"}]
        assert mappings[5].constant == "true" and mappings[5].source_field == ""
        assert {h.history_user for h in FieldMapping.history.all()} == {platform_admin}
        assert FieldMapping.history.filter(history_type="+").count() == 7
        assert "mappings.email: added (field 'email', steps [trim, lower])" in changes
        stored = Pipeline.objects.get(pk=pipeline.pk)
        assert stored.schedule == "30 2 * * *" and str(stored.reject_threshold_percent) == "2.50"

    def test_update_changes_fields_updates_adds_and_deletes_mappings_in_file_order(
        self, shop_catalog, import_root, platform_admin, steward
    ):
        pipeline, _, _ = pipeline_apply_config(customer_config(), user=platform_admin)
        config = customer_config(description="Customers from the CRM, hourly.", schedule="0 * * * *")
        mappings = config["mappings"]
        mappings[1]["steps"] = ["trim"]  # email: no lower any more
        del mappings[5]  # active: removed
        mappings.insert(0, mappings.pop(3))  # country first
        mappings.append({"column": "score", "field": "score", "steps": [{"cast": {"type": "number"}}]})
        rows = history_rows()
        updated, created, changes = pipeline_apply_config(config, user=steward)
        assert updated.pk == pipeline.pk and not created
        assert changes == [
            'description: "Customers from the CRM.\\nNightly." → "Customers from the CRM, hourly."',
            'schedule: "30 2 * * *" → "0 * * * *"',
            "mappings.email.steps: [trim, lower] → [trim]",
            "mappings.score: added (field 'score', steps [cast(type='number')])",
            "mappings.active: removed",
            "mappings: reordered (country, customer_id, email, full_name, signup_date, updated_at, score)",
        ]
        names = list(updated.mappings.order_by("position").values_list("column__name", flat=True))
        assert names == ["country", "customer_id", "email", "full_name", "signup_date", "updated_at", "score"]
        assert updated.mappings.get(column__name="score").steps == [{"op": "cast", "type": "number"}]
        new_rows = list(Pipeline.history.filter(history_user=steward)) + list(
            FieldMapping.history.filter(history_user=steward)
        )
        assert len(new_rows) == history_rows() - rows
        kinds = {(row.history_type, getattr(row, "column", None) and row.column.name) for row in new_rows}
        assert ("-", "active") in kinds and ("+", "score") in kinds and ("~", None) in kinds
        assert Pipeline.objects.get(pk=pipeline.pk).version == pipeline.version + 1

    def test_applying_the_same_file_twice_writes_history_once(
        self, shop_catalog, import_root, platform_admin
    ):
        pipeline_apply_config(customer_config(), user=platform_admin)
        rows = history_rows()
        _, created, changes = pipeline_apply_config(customer_config(), user=platform_admin)
        assert (created, changes, history_rows()) == (False, [], rows)

    def test_dry_run_reports_the_changes_and_saves_nothing(self, shop_catalog, import_root, platform_admin):
        _, created, changes = pipeline_apply_config(customer_config(), user=platform_admin, dry_run=True)
        assert created and len(changes) == 7
        assert not Pipeline.objects.exists() and history_rows() == 0
        pipeline_apply_config(customer_config(), user=platform_admin)
        rows = history_rows()
        _, created, changes = pipeline_apply_config(
            customer_config(batch_size=500), user=platform_admin, dry_run=True
        )
        assert (created, changes) == (False, ["batch_size: 10000 → 500"])
        assert Pipeline.objects.get().batch_size == 10_000 and history_rows() == rows

    def test_a_dry_run_and_a_refused_file_send_no_write_to_the_database(
        self, shop_catalog, import_root, platform_admin
    ):
        pipeline_apply_config(customer_config(), user=platform_admin)
        broken = without_mapping("email")
        for apply in (
            lambda: pipeline_apply_config(customer_config(batch_size=500), user=platform_admin, dry_run=True),
            lambda: pytest.raises(PipelineConfigError, pipeline_apply_config, broken, user=platform_admin),
        ):
            with CaptureQueriesContext(connection) as queries:
                apply()
            assert [q["sql"] for q in queries if WRITES.match(q["sql"])] == []

    def test_checking_a_spec_reads_only_and_places_each_problem(
        self, shop_catalog, import_root, platform_admin
    ):
        pipeline, _, _ = pipeline_apply_config(customer_config(), user=platform_admin)
        before = pipeline_to_config(pipeline)
        spec = pipeline_spec_from_pipeline(pipeline)
        spec.load_mode, spec.key_columns = "upsert", ["email"]
        spec.mappings = [m for m in spec.mappings if m.column_name != "email"]
        spec.mappings[0].steps = [{"op": "trim"}, {"op": "trim"}, {"op": "nope"}]
        with CaptureQueriesContext(connection) as queries:
            problems = pipeline_spec_errors(spec, instance=pipeline)
        assert [q["sql"] for q in queries if WRITES.match(q["sql"])] == []
        assert {(p.field, p.mapping) for p in problems} == {
            ("steps", 0),
            ("mappings", None),
            ("key_columns", None),
        }
        assert pipeline_to_config(Pipeline.objects.get()) == pipeline_to_config(pipeline) == before

    def test_a_file_with_a_problem_changes_nothing_of_an_existing_pipeline(
        self, shop_catalog, import_root, platform_admin
    ):
        pipeline, _, _ = pipeline_apply_config(customer_config(), user=platform_admin)
        before, rows = pipeline_to_config(pipeline), history_rows()
        config = customer_config(description="changed")
        config["mappings"][3]["steps"] = ["trimm"]
        problems = problems_of(config, platform_admin)
        assert problems == [
            "mappings[3].steps: Step 1: unknown step 'trimm'. Known steps: " + known_steps() + "."
        ]
        assert pipeline_to_config(Pipeline.objects.get(pk=pipeline.pk)) == before
        assert history_rows() == rows

    def test_target_change_moves_mappings_to_the_new_entity_by_column_name(
        self, shop_catalog, import_root, platform_admin, steward
    ):
        other = customer_entity(shop_catalog, steward, name="customer_copy")
        pipeline, _, _ = pipeline_apply_config(customer_config(), user=platform_admin)
        config = customer_config(target={"datastore": "shop", "entity": "customer_copy"})
        _, _, changes = pipeline_apply_config(config, user=platform_admin)
        assert changes == ['target.entity: "customer" → "customer_copy"']
        assert set(pipeline.mappings.values_list("column__entity", flat=True)) == {other.pk}


def known_steps() -> str:
    from pipelines.transforms import STEPS

    return ", ".join(sorted(STEPS))


def without_mapping(column: str) -> dict:
    config = customer_config()
    config["mappings"] = [m for m in config["mappings"] if m["column"] != column]
    return config


def with_mapping(index: int, **changes) -> dict:
    config = customer_config()
    config["mappings"][index] = {**config["mappings"][index], **changes}
    return config


def with_source(**changes) -> dict:
    config = customer_config()
    config["source"] = {**config["source"], **changes}
    return config


ERROR_CASES = [
    (customer_config(schedul="0 1 * * *"), "schedul: unknown key (did you mean 'schedule'?)"),
    (
        customer_config(target={"datastore": "shop", "entity": "custmer"}),
        "target.entity: no entity 'custmer' in data store 'shop' (did you mean 'customer'?)",
    ),
    (
        customer_config(target={"datastore": "shoop", "entity": "customer"}),
        "target.datastore: no data store 'shoop' (did you mean 'shop'?)",
    ),
    (customer_config(target="shop.customer"), "target: must be a mapping, not text ('shop.customer')"),
    ({"name": "x", "source": {"kind": "csv", "path": "x.csv"}}, "target: missing"),
    (
        with_mapping(2, steps=["trimm"]),
        "mappings[2].steps: Step 1: unknown step 'trimm'. Known steps: cast,",
    ),
    (
        with_mapping(4, steps=[{"op": "parse_date"}]),
        "mappings[4].steps: Step 1: Step 'parse_date' needs format.",
    ),
    (with_mapping(1, steps="trim"), "mappings[1].steps: Steps must be a list"),
    (with_mapping(1, column="emial"), "mappings[1].column: entity 'customer' has no column 'emial'"),
    (with_mapping(3, column="email"), "mappings[3].column: 'email' is mapped twice (also in mappings[1])"),
    (with_mapping(0, constant="1"), "mappings[0]: give a field or a constant, not both"),
    (with_mapping(0, fields="id"), "mappings[0].fields: unknown key (did you mean 'field'?)"),
    (with_mapping(0, column=None), "mappings[0].column: missing"),
    (
        customer_config(mappings=[["customer_id", "id"]]),
        "mappings[0]: must be a mapping (column: ..., field: ...)",
    ),
    (customer_config(mappings={"customer_id": "id"}), "mappings: must be a list of mappings"),
    (without_mapping("email"), "mappings: Required (NOT NULL, no default) columns are not mapped: email."),
    (customer_config(batch_size="many"), "batch_size: must be a whole number, not text ('many')"),
    (customer_config(batch_size=10), "batch_size: Ensure this value is greater than or equal to 100."),
    (customer_config(max_retries=1.5), "max_retries: must be a whole number, not a number (1.5)"),
    (customer_config(enabled="yes"), "enabled: must be true or false, not text ('yes')"),
    (customer_config(name=7), "name: must be text, not a number (7)"),
    (customer_config(name="crm customers"), "name: Use letters, digits, '_' and '-'"),
    (
        customer_config(reject_threshold_percent=150),
        "reject_threshold_percent: Ensure this value is less than or equal to 100.",
    ),
    (
        customer_config(reject_threshold_percent="5%"),
        "reject_threshold_percent: must be a number from 0 to 100",
    ),
    (customer_config(owner="nobody"), "owner: no user 'nobody'"),
    (customer_config(run_after="nothing"), "run_after: no pipeline 'nothing'"),
    (customer_config(schedule="every day"), "schedule: 'every day' is not a cron expression"),
    (
        customer_config(extract={"mode": "incremental"}),
        "extract.watermark: Incremental extraction needs the watermark field",
    ),
    (
        customer_config(extract={"mode": "sometimes"}),
        "extract.mode: 'sometimes' is not one of full, incremental",
    ),
    (
        customer_config(load={"mode": "merge"}),
        "load.mode: 'merge' is not one of append, replace, upsert, scd2",
    ),
    (
        customer_config(load={"mode": "upsert", "key": ["ident"]}),
        "load.key: entity 'customer' has no column 'ident'",
    ),
    (customer_config(load={"mode": "upsert", "key": "customer_id"}), "load.key: must be a list of text"),
    (
        customer_config(load={"mode": "append", "key": ["customer_id"]}),
        "load.key: Key columns apply to upsert and SCD type 2 loads only; append already rejects rows",
    ),
    (
        customer_config(load={"mode": "upsert", "keys": ["customer_id"]}),
        "load.keys: unknown key (did you mean",
    ),
    (with_source(kind="parquet"), "source.kind: 'parquet' is not one of csv, jsonl, json, xlsx, sql_table"),
    (with_source(kind="jsonl"), "source.delimiter: only applies to csv sources"),
    (with_source(table="customers"), "source.table: only applies to SQL sources; a csv source reads a file"),
    (with_source(path="../../etc/passwd"), "source.path: '../../etc/passwd' is outside the import folder"),
    (with_source(path=None), "source.path: A file source needs an uploaded file or a path"),
    (with_source(upload="pipeline_sources/missing.csv"), "source.upload: no uploaded file"),
    (with_source(encoding="klingon"), "source.encoding: Unknown encoding 'klingon'."),
    (
        with_source(null_markers=[None]),
        "source.null_markers: must be a list of text; it holds nothing (null)",
    ),
    (with_source(delimiter=";;;"), "source.delimiter: Ensure this value has at most 2 characters"),
    (
        customer_config(source={"kind": "sql_table", "datastore": "shop"}),
        "source.table: Name the source table",
    ),
    (
        customer_config(source={"kind": "sql_query", "datastore": "shop", "query": "DELETE FROM x"}),
        "source.query: ",
    ),
    (
        customer_config(source={"kind": "sql_table", "datastore": "nowhere", "table": "t"}),
        "source.datastore: no data store 'nowhere'",
    ),
    (
        customer_config(source={"kind": "sql_table", "datastore": "shop", "table": "t", "path": "x.csv"}),
        "source.path: only applies to file sources",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize("config, expected", ERROR_CASES, ids=[case[1][:60] for case in ERROR_CASES])
def test_each_problem_is_reported_at_its_location_and_nothing_is_saved(
    shop_catalog, import_root, platform_admin, config, expected
):
    problems = problems_of(copy.deepcopy(config), platform_admin)
    assert any(problem.startswith(expected) for problem in problems), problems
    assert not Pipeline.objects.exists() and history_rows() == 0


@pytest.mark.django_db
def test_every_problem_of_a_file_is_listed_at_once(shop_catalog, import_root, platform_admin):
    config = customer_config(schedul="x", batch_size="many", owner="nobody")
    config["mappings"][2]["steps"] = ["trimm"]
    config["mappings"][3]["column"] = "countri"
    del config["mappings"][1]  # email, a required column
    with pytest.raises(PipelineConfigError) as caught:
        pipeline_apply_config(config, user=platform_admin)
    problems = caught.value.problems
    assert [p.split(":")[0] for p in problems] == [
        "schedul",
        "owner",
        "batch_size",
        "mappings[1].steps",
        "mappings[2].column",
        "mappings",
    ]
    assert "Required (NOT NULL, no default) columns are not mapped: email" in problems[-1]
    assert caught.value.message.startswith("The pipeline configuration has 6 problems; nothing was changed:")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("name: x\n  target: [1,\n", "line 2, column 9: not valid YAML"),
        ("name: [unclosed\n", "line 2, column 1: not valid YAML"),
        ("", "file: it is empty"),
        ("- name: x\n", "file: it holds a list"),
        ("name: a\n---\nname: b\n", "line 2, column 1: not valid YAML: a second document starts here"),
    ],
)
def test_invalid_yaml_is_refused_with_where_it_breaks(text, expected):
    with pytest.raises(PipelineConfigError) as caught:
        pipeline_yaml_load(text)
    assert caught.value.problems[0].startswith(expected), caught.value.problems


def readme_example() -> str:
    return readme_yaml("Pipelines")


@pytest.mark.django_db
def test_the_readme_example_applies_to_the_demo_catalog_and_round_trips(import_root, steward):
    from catalog.demo import demo_load

    demo_load()
    pipeline, created, _ = pipeline_apply_config(pipeline_yaml_load(readme_example()), user=steward)
    assert created and pipeline.mappings.count() >= 5
    assert pipeline.history.get().history_user == steward
    rows = history_rows()
    _, created, changes = pipeline_apply_config(
        pipeline_yaml_load(pipeline_yaml_dump(pipeline)), user=steward
    )
    assert (created, changes, history_rows()) == (False, [], rows)
    # The example shows every top-level key of the format.
    from pipelines.as_code import KEY_ORDER

    shown = set(pipeline_yaml_load(readme_example())) | {
        key for key in KEY_ORDER if re.search(rf"^# ?{key}:", readme_example(), flags=re.M)
    }
    assert shown == set(KEY_ORDER)

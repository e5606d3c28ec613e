"""Django models from the catalog: makemigrations + migrate build the tables Custodian's own DDL builds.

Differences Django 5.2 cannot avoid, asserted as such (everything else must be equal):
- Primary keys are named by PostgreSQL (<table>_pkey): Django has no option to name them.
- Foreign keys are named by Django (<table>_<col>_<hash>_fk_<target>...), have no ON DELETE (Django carries
  out on_delete in Python) and are DEFERRABLE INITIALLY DEFERRED.
- A default of now() is Django's Now(), which PostgreSQL stores as statement_timestamp().
- makemigrations adds foreign-key columns after the others, in name order (its autodetector creates them with
  AddField and its optimizer folds those into CreateModel); a foreign key that is the primary key stays.
- A json column is jsonb: Django's JSONField has no json form (the file says so in a comment).
- A regular-expression check casts the column to text (Django's regex lookup does; char(n) shows it).
- A partial index's condition is Django's rendering of the Q (NOT "import", NOT (status = 'shipped')): the
  same rows as Custodian's condition, other text.
"""

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from catalog.codegen.base import CodegenError, code_model_build
from catalog.codegen.django_models import generate
from catalog.codegen.service import codegen_generate
from catalog.models import DataStore
from core.quoting import identifier
from tests.catalog.codegen.test_sqlalchemy import (
    catalog_column,
    catalog_entity,
    catalog_index,
    custodian_schema,
    keyless_snapshot,
    rich_snapshot,
    ruff_findings,
    schema_facts,
    snapshot_of,
)
from tests.catalog.schema.conftest import run_sql

REPO = Path(__file__).resolve().parents[3]
APP = "generated_catalog"


def models_source(snapshot: dict, **options) -> str:
    (generated,) = generate(code_model_build(snapshot), options)
    assert generated.path == "models.py"
    return generated.content


def comments(source: str) -> str:
    """The file's # comments as one text (the generator wraps long ones)."""
    return " ".join(line.strip()[2:] for line in source.splitlines() if line.strip().startswith("# "))


def django(tmp_path: Path, *args: str) -> str:
    """`python -m django <args>` with the throwaway settings; its output, or a failure showing it."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "generated_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)]),
    }
    result = subprocess.run(
        [sys.executable, "-m", "django", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def migrate_app(tmp_path: Path, source: str, url: str) -> str:
    """The generated models in an app package with their own settings: check, makemigrations, migrate."""
    package = tmp_path / APP
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "apps.py").write_text(
        f"from django.apps import AppConfig\n\n\nclass GeneratedConfig(AppConfig):\n    name = {APP!r}\n"
    )
    (package / "models.py").write_text(source)
    database = make_url(url)
    (tmp_path / "generated_settings.py").write_text(
        "from config.settings import *  # noqa: F403\n\n"
        f"INSTALLED_APPS = [{APP!r}]\n"
        "ROOT_URLCONF = 'generated_settings'\n"
        "urlpatterns = []\n"
        "DATABASES = {'default': {'ENGINE': 'django.db.backends.postgresql', "
        f"'NAME': {database.database!r}, 'USER': {database.username!r}, 'HOST': {database.host!r}, "
        f"'PORT': {database.port!r}}}}}\n"
    )
    # Warnings fail too: W342 (unique ForeignKey), E034 (index name length) ... mean the generator erred.
    assert "System check identified no issues" in django(tmp_path, "check", "--fail-level", "WARNING")
    output = django(tmp_path, "makemigrations", APP) + django(tmp_path, "migrate", APP)
    assert "Warning" not in output, output  # e.g. a naive datetime default on a time-zone-aware field
    return output


def without_django_differences(facts: dict) -> dict:
    """The Django database's facts with the documented differences asserted and taken out."""
    normal = {}
    for table, table_facts in facts.items():
        name, columns = table_facts["primary_key"]
        assert name == f"{table}_pkey"
        foreign_keys = []
        for _name, constrained, schema, target, referred, options in table_facts["foreign_keys"]:
            assert dict(options) == {"deferrable": True, "initially": "DEFERRED"}
            foreign_keys.append((constrained, schema, target, referred))
        normal[table] = {
            **table_facts,
            "primary_key": columns,
            "foreign_keys": sorted(foreign_keys),
            "columns": [
                (*column[:3], "now()" if column[3] == "statement_timestamp()" else column[3], column[4])
                for column in table_facts["columns"]
            ],
            "checks": _without_text_casts(table_facts["checks"]),
            "indexes": [_without_condition_text(index) for index in table_facts["indexes"]],
        }
    return normal


def without_custodian_differences(facts: dict) -> dict:
    """Custodian's facts reduced to what Django can say: the same taken out as from Django's, foreign-key
    columns (but a primary key's) moved last in name order, json as jsonb."""
    normal = {}
    for table, table_facts in facts.items():
        key = table_facts["primary_key"][1]
        moved = {column for fk in table_facts["foreign_keys"] for column in fk[1]} - (
            {key[0]} if len(key) == 1 else set()
        )
        columns = [(c[0], "JSONB" if c[1] == "JSON" else c[1], *c[2:]) for c in table_facts["columns"]]
        normal[table] = {
            **table_facts,
            "primary_key": key,
            "foreign_keys": sorted(fk[1:5] for fk in table_facts["foreign_keys"]),
            "columns": [c for c in columns if c[0] not in moved]
            + sorted(c for c in columns if c[0] in moved),
            "checks": _without_text_casts(table_facts["checks"]),
            "indexes": [_without_condition_text(index) for index in table_facts["indexes"]],
        }
    return normal


def _without_text_casts(checks: list) -> list:
    return [(name, re.sub(r"::text ~ ", " ~ ", text)) for name, text in checks]


def _without_condition_text(index: tuple) -> tuple:
    options = tuple((k, "<condition>" if k == "postgresql_where" else v) for k, v in index[4])
    return (*index[:4], options)


# --- The proof ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("catalog", ["demo_snapshot", "introspected_snapshot", "rich"])
def test_migrations_build_the_tables_custodian_ddl_builds(db, request, catalog, scratch_database, tmp_path):
    snapshot = rich_snapshot() if catalog == "rich" else request.getfixturevalue(catalog)
    schema = snapshot["datastore"]["schema"]
    from_django, from_ddl = scratch_database(), scratch_database()
    custodian_schema(from_ddl, snapshot)
    run_sql(from_django, sql.SQL("CREATE SCHEMA {}").format(identifier(schema)))
    migrate_app(tmp_path, models_source(snapshot), from_django)

    expected = schema_facts(from_ddl, schema)
    actual = schema_facts(from_django, schema)
    assert sorted(actual) == sorted(expected)  # no table of Django's own in the catalog's schema
    assert without_django_differences(actual) == without_custodian_differences(expected)


def test_generated_code_passes_pyflakes_and_import_order(demo_snapshot, introspected_snapshot, tmp_path):
    for snapshot in (demo_snapshot, introspected_snapshot, rich_snapshot()):
        assert ruff_findings(models_source(snapshot), tmp_path) == ""


# --- Names --------------------------------------------------------------------------------------------


def test_reserved_words_are_escaped_and_the_database_names_kept(introspected_snapshot):
    source = models_source(introspected_snapshot)
    assert 'class_field = models.CharField(max_length=20, db_column="class", null=True, blank=True)' in source
    assert 'import_field = models.BooleanField(db_column="import", db_default=False)' in source
    assert "    namespace = models.TextField(null=True, blank=True)" in source
    assert "condition=models.Q(import_field=False)" in source


def test_foreign_keys_become_relations_with_on_delete_and_related_names(introspected_snapshot):
    source = models_source(introspected_snapshot)
    assert re.search(
        r'department = models\.ForeignKey\(\s*"Department",\s*on_delete=models\.PROTECT,\s*'
        r'related_name="employee",\s*db_index=False,\s*\)',
        source,
    )
    assert 'related_name="department_by_parent"' in source
    assert "on_delete=models.SET_NULL" in source
    assert 'pk = models.CompositePrimaryKey("employee_id", "project_code")' in source


def test_names_django_forbids_or_the_module_uses_are_escaped():
    key = {"primary_key_position": 1, "nullable": False}
    snapshot = snapshot_of(
        {
            "e1": catalog_entity(
                "now",
                {
                    "c1": catalog_column("code", 1, "integer", **key),
                    "c2": catalog_column("id", 2, "integer"),
                    "c3": catalog_column("save", 3, "text"),
                    "c4": catalog_column("pk", 4, "text"),
                },
            ),
        }
    )
    source = models_source(snapshot)
    assert "class NowModel(models.Model):" in source  # class names may not end in _ (models.E024)
    assert 'id_field = models.IntegerField(db_column="id", null=True, blank=True)' in source  # models.E004
    assert 'save_field = models.TextField(db_column="save", null=True, blank=True)' in source
    assert 'pk_field = models.TextField(db_column="pk", null=True, blank=True)' in source


def test_columns_that_collide_after_conversion_are_an_error():
    snapshot = snapshot_of(
        {
            "e1": catalog_entity(
                "orders",
                {
                    "c1": catalog_column("order_id", 1, "integer", primary_key_position=1, nullable=False),
                    "c2": catalog_column("orderId", 2, "integer"),
                },
            )
        }
    )
    with pytest.raises(
        CodegenError, match="Entity 'orders': 'order_id' and 'orderId' both become 'order_id'"
    ):
        generate(code_model_build(snapshot), {})


# --- Keys ---------------------------------------------------------------------------------------------


def test_entity_without_primary_key_is_an_error():
    with pytest.raises(CodegenError, match="Entity 'event_log' of data store 'lab' has no primary key"):
        generate(code_model_build(keyless_snapshot()), {})


def test_generate_keys_adds_a_clearly_named_surrogate_key(scratch_database, tmp_path):
    source = models_source(keyless_snapshot(), generate_keys=True)
    assert "    generated_id = models.BigAutoField(primary_key=True)" in source
    url = scratch_database()
    run_sql(url, "CREATE SCHEMA lab")
    migrate_app(tmp_path, source, url)
    facts = schema_facts(url, "lab")["event_log"]
    assert facts["primary_key"] == ("event_log_pkey", ("generated_id",))
    assert [c[0] for c in facts["columns"]] == ["generated_id", "message"]


# --- Markers, options, output -------------------------------------------------------------------------


def test_pii_columns_carry_a_marker_comment(introspected_snapshot):
    source = models_source(introspected_snapshot)
    assert (
        "    # PII: direct_identifier; masking: hash\n    email = models.CharField(max_length=254)" in source
    )


def test_app_label_is_set_in_every_meta(introspected_snapshot):
    source = models_source(introspected_snapshot, app_label="hr")
    assert source.count('        app_label = "hr"\n') == 3


def test_output_is_deterministic(demo_snapshot):
    reordered = copy.deepcopy(demo_snapshot)
    reordered["entities"] = dict(reversed(list(reordered["entities"].items())))
    for entity in reordered["entities"].values():
        entity["columns"] = dict(reversed(list(entity["columns"].items())))
        entity["indexes"] = dict(reversed(list(entity["indexes"].items())))
    first = generate(code_model_build(demo_snapshot), {})
    assert generate(code_model_build(demo_snapshot), {}) == first
    assert generate(code_model_build(reordered), {})[0].content.encode() == first[0].content.encode()


def test_what_django_cannot_say_is_a_comment_and_the_app_still_migrates(scratch_database, tmp_path):
    pk = {"primary_key_position": 1, "nullable": False}
    columns = {
        "a1": catalog_column("id", 1, "bigint", **pk),
        "a2": catalog_column("name", 2, "varchar", length=40, nullable=False),
        "a3": catalog_column("nickname", 3, "varchar", length=40),
        "a4": catalog_column("payload", 4, "json"),
    }
    indexes = {
        "i1": catalog_index(
            "account_name_lowercase_lookup_idx", [["a2", "asc"]], condition="lower(name) = 'x'"
        ),
        "i2": catalog_index("_account_nickname", [["a3", "desc"]], condition="nickname <> 'x'"),
        "i3": catalog_index(
            "account_nick_uniq", [["a3", "asc"]], is_unique=True, condition="lower(nickname) = 'x'"
        ),
        "i4": catalog_index("account_name_open_idx", [["a2", "asc"]], condition="name <> 'closed'"),
    }
    snapshot = snapshot_of({"e1": catalog_entity("account", columns, indexes)})
    source = models_source(snapshot)
    said = comments(source)
    assert "payload: json in the catalog: Django's JSONField is jsonb on PostgreSQL." in said
    assert "index account_name_lowercase_lookup_idx is named ix_account_name_l_b1dbd8fb_idx here" in said
    assert "index _account_nickname is named ix__account_nickn_fb861577_idx here" in said
    assert (
        "WHERE lower(name) = 'x' is not a comparison Django's Q can say on PostgreSQL; it covers all rows."
        in said
    )
    # NOT (x = v) differs from x <> v where x is NULL: only said as Q for a NOT NULL column.
    assert "WHERE nickname <> 'x' is not a comparison Django's Q" in said
    assert 'condition=~models.Q(name="closed")' in source
    assert "this unique index is left out." in said and '"account_nick_uniq"' not in source

    url = scratch_database()
    run_sql(url, "CREATE SCHEMA lab")
    migrate_app(tmp_path, source, url)
    indexes = {name for name, *_rest in schema_facts(url, "lab")["account"]["indexes"]}
    assert indexes == {
        "account_name_open_idx",
        "ix_account_name_l_b1dbd8fb_idx",
        "ix__account_nickn_fb861577_idx",
    }


def test_a_selection_keeps_keys_to_left_out_entities_as_plain_columns(demo_snapshot):
    store = DataStore.objects.get(name="shop")
    (generated,) = codegen_generate(datastore=store, target="django", entity_names=["orders"])
    assert "class Orders(models.Model):" in generated.content and "class Customers" not in generated.content
    assert (
        "customer_id: A foreign key to an entity outside this selection: the column is kept, not the key."
        in (comments(generated.content))
    )
    assert "    customer_id = models.BigIntegerField()\n" in generated.content


# Their catalogs come from fixtures chosen at run time: marked so they run before transactional tests.
pytestmark = pytest.mark.django_db

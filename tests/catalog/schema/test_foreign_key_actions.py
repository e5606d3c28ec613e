"""A foreign key's ON UPDATE action and deferrability, end to end: catalog, snapshot, DDL per dialect, diff,
reversible migration, drift and introspection of a live PostgreSQL schema."""

import os

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql

from catalog.choices import Deferrability, OnDelete, OnUpdate
from catalog.models import Column, DataStore, Entity
from catalog.schema.ddl import ddl_render, schema_ddl
from catalog.schema.dialects import MYSQL, POSTGRESQL, SQLITE, SQLSERVER
from catalog.schema.diff import schema_diff
from catalog.schema.drift import drift_compare
from catalog.schema.introspect import schema_introspect
from catalog.schema.metadata import schema_tables_build
from catalog.schema.migrate import migration_statements
from catalog.schema.model import schema_model_from_snapshot, schema_model_snapshot
from catalog.schema.snapshot import snapshot_build, snapshot_canonical
from catalog.services import catalog_object_save
from core.errors import SchemaError
from tests.catalog.schema.conftest import run_sql
from tests.conftest import add_column

# The pagila shape the catalog used to skip: ON UPDATE CASCADE with ON DELETE RESTRICT, deferred.
LIVE_DDL = """
CREATE SCHEMA app;
CREATE TABLE app.language (id integer PRIMARY KEY, code char(2) NOT NULL UNIQUE);
CREATE TABLE app.film (
    id integer PRIMARY KEY,
    language_id integer NOT NULL
        REFERENCES app.language (id) ON UPDATE CASCADE ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED,
    original_language_id integer
        REFERENCES app.language (id) ON UPDATE SET NULL ON DELETE SET NULL DEFERRABLE,
    fallback_code char(2) NOT NULL DEFAULT 'en' REFERENCES app.language (code) ON UPDATE SET DEFAULT,
    sequel_of integer REFERENCES app.film (id) ON UPDATE RESTRICT ON DELETE CASCADE
);
"""


def _constraint_definitions(url: str) -> dict[str, set[str]]:
    """pg_get_constraintdef of every foreign key of schema app, by table (names left out: ours differ)."""
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        rows = connection.execute(
            "SELECT c.conrelid::regclass::text, pg_get_constraintdef(c.oid) FROM pg_constraint c "
            "JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = %s AND c.contype = 'f'",
            ["app"],
        ).fetchall()
    definitions: dict[str, set[str]] = {}
    for table, definition in rows:
        definitions.setdefault(table, set()).add(definition)
    return definitions


@pytest.fixture
def library(db, steward):
    """language(id, code unique) and book(id, language_id -> language ON UPDATE CASCADE DEFERRABLE INITIALLY
    DEFERRED, code -> language.code with a default)."""
    store = catalog_object_save(
        obj=DataStore(name="library", engine="postgresql", schema_name="app"), user=steward
    )
    language = catalog_object_save(obj=Entity(datastore=store, name="language"), user=steward)
    add_column(language, "id", "integer", steward, primary_key_position=1, nullable=False)
    add_column(language, "code", "char", steward, length=2, is_unique=True, nullable=False)
    book = catalog_object_save(obj=Entity(datastore=store, name="book"), user=steward)
    add_column(book, "id", "integer", steward, primary_key_position=1, nullable=False)
    add_column(
        book,
        "language_id",
        "integer",
        steward,
        nullable=False,
        references=language.columns.get(name="id"),
        on_delete=OnDelete.RESTRICT,
        on_update=OnUpdate.CASCADE,
        deferrable=Deferrability.INITIALLY_DEFERRED,
    )
    add_column(
        book,
        "code",
        "char",
        steward,
        length=2,
        default_value="en",
        references=language.columns.get(name="code"),
    )
    return store


def _book_column(store: DataStore, name: str) -> Column:
    return Column.objects.get(entity__datastore=store, entity__name="book", name=name)


def _ddl(store, profile) -> str:
    return ddl_render(schema_ddl(snapshot_build(store), profile))


# --- Snapshot and typed model -------------------------------------------------------------------------


def test_snapshot_holds_on_update_and_deferrable_only_when_set_and_reads_them_back(library):
    snapshot = snapshot_build(library)
    columns = {c["name"]: c for e in snapshot["entities"].values() for c in e["columns"].values()}
    assert (columns["language_id"]["on_update"], columns["language_id"]["deferrable"]) == (
        "cascade",
        "initially_deferred",
    )
    assert "on_update" not in columns["code"] and "deferrable" not in columns["code"]
    model = schema_model_from_snapshot(snapshot)
    book = model.table_named("book")
    foreign_key = book.foreign_key_of(book.column_named("language_id").id)
    assert (foreign_key.on_delete, foreign_key.on_update, foreign_key.deferrable) == (
        "restrict",
        "cascade",
        "initially_deferred",
    )
    assert snapshot_canonical(schema_model_snapshot(model)) == snapshot_canonical(snapshot)


def test_a_release_older_than_on_update_loads_as_no_action_and_keeps_its_json(library):
    language_id = _book_column(library, "language_id")
    language_id.on_update, language_id.deferrable = OnUpdate.NO_ACTION, Deferrability.NOT_DEFERRABLE
    language_id.save()
    snapshot = snapshot_build(library)
    assert not any(
        {"on_update", "deferrable"} & column.keys()
        for entity in snapshot["entities"].values()
        for column in entity["columns"].values()
    )
    model = schema_model_from_snapshot(snapshot)
    assert all(
        (fk.on_update, fk.deferrable) == ("no_action", "not_deferrable")
        for table in model.tables
        for fk in table.foreign_keys
    )
    assert schema_model_snapshot(model) == snapshot


# --- DDL per dialect ----------------------------------------------------------------------------------


def test_postgresql_and_sqlite_ddl_say_on_update_and_deferrable(library):
    for profile in (POSTGRESQL, SQLITE):
        ddl = _ddl(library, profile)
        assert "ON DELETE RESTRICT ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED" in ddl, profile.name
        assert ddl.count("ON UPDATE") == 1, profile.name


def test_mysql_ddl_keeps_on_update_and_says_the_deferral_it_leaves_out(library):
    ddl = _ddl(library, MYSQL)
    assert "ON DELETE RESTRICT ON UPDATE CASCADE" in ddl
    assert "DEFERRABLE INITIALLY" not in ddl.replace("-- ", "\n--").split("\n--")[0]
    assert (
        "-- book.language_id: MySQL has no DEFERRABLE foreign keys; this one (INITIALLY DEFERRED in the "
        "catalog) is checked at each statement." in ddl
    )
    assert not [line for line in ddl.splitlines() if "DEFERRABLE" in line and not line.startswith("--")]


def test_sql_server_ddl_says_what_it_leaves_out(library):
    language_id = _book_column(library, "language_id")
    language_id.on_update = OnUpdate.RESTRICT
    language_id.save()
    ddl = _ddl(library, SQLSERVER)
    statements = [line for line in ddl.splitlines() if not line.startswith("--")]
    assert not [line for line in statements if "RESTRICT" in line or "DEFERRABLE" in line]
    assert "-- book.language_id: SQL Server has no ON UPDATE RESTRICT; NO ACTION refuses the update" in ddl
    assert "-- book.language_id: SQL Server has no ON DELETE RESTRICT" in ddl
    assert "-- book.language_id: SQL Server has no DEFERRABLE foreign keys" in ddl


@pytest.mark.parametrize("field", ["on_update", "on_delete"])
def test_mysql_refuses_set_default_naming_the_column(library, field):
    code = _book_column(library, "code")
    setattr(code, field, OnDelete.SET_DEFAULT)
    code.save()
    event = field.removeprefix("on_").upper()
    with pytest.raises(
        SchemaError, match=rf"Column 'book.code': MySQL \(InnoDB\) refuses ON {event} SET DEFAULT"
    ):
        _ddl(library, MYSQL)
    assert f"ON {event} SET DEFAULT" in _ddl(library, POSTGRESQL)


# --- Diff and reversible migration --------------------------------------------------------------------


def test_changing_an_action_or_deferrability_recreates_the_constraint_and_down_restores_it(
    library, scratch_database
):
    before = snapshot_build(library)
    language_id = _book_column(library, "language_id")
    language_id.on_update, language_id.deferrable = OnUpdate.NO_ACTION, Deferrability.INITIALLY_IMMEDIATE
    language_id.save()
    after = snapshot_build(library)

    (change,) = schema_diff(schema_model_from_snapshot(before), schema_model_from_snapshot(after))
    assert change.kind == "column_foreign_key"
    assert change.text == (
        "book.language_id: foreign key changed (ON UPDATE CASCADE → NO ACTION; INITIALLY DEFERRED → "
        "INITIALLY IMMEDIATE)"
    )
    up = [s.sql for s in migration_statements(before, after, POSTGRESQL)]
    down = [s.sql for s in migration_statements(after, before, POSTGRESQL)]
    assert [s.split()[3:5] for s in up] == [["DROP", "CONSTRAINT"], ["ADD", "CONSTRAINT"]]
    assert "ON UPDATE" not in up[1] and up[1].endswith("DEFERRABLE INITIALLY IMMEDIATE")
    assert down[1].endswith("ON DELETE RESTRICT ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED")

    url = scratch_database()
    run_sql(url, "CREATE SCHEMA app", ddl_render(schema_ddl(before, POSTGRESQL)))
    original = _constraint_definitions(url)
    run_sql(url, *up)
    assert _constraint_definitions(url)["app.book"] == {
        "FOREIGN KEY (language_id) REFERENCES app.language(id) ON DELETE RESTRICT DEFERRABLE",
        "FOREIGN KEY (code) REFERENCES app.language(code)",
    }
    run_sql(url, *down)
    assert _constraint_definitions(url) == original


# --- Drift --------------------------------------------------------------------------------------------


def _drift(snapshot: dict, url: str):
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return drift_compare(
                expected=schema_tables_build(schema_model_from_snapshot(snapshot), POSTGRESQL),
                connection=connection,
            )
    finally:
        engine.dispose()


def test_drift_compares_the_live_on_update_and_deferrability(library, scratch_database):
    url = scratch_database()
    run_sql(url, "CREATE SCHEMA app", _ddl(library, POSTGRESQL))
    snapshot = snapshot_build(library)
    assert not _drift(snapshot, url).has_drift
    (name,) = _names(url, "language_id")
    run_sql(
        url,
        sql.SQL(
            "ALTER TABLE app.book DROP CONSTRAINT {name}, ADD CONSTRAINT {name} FOREIGN KEY (language_id) "
            "REFERENCES app.language (id) ON DELETE RESTRICT ON UPDATE SET NULL"
        ).format(name=sql.Identifier(name)),
    )

    report = _drift(snapshot, url)

    assert (report.missing, report.extra) == ([], [])
    assert report.different == [
        "table app.book: foreign key (language_id) is language(id) ON DELETE RESTRICT ON UPDATE CASCADE "
        "DEFERRABLE INITIALLY DEFERRED in the release, language(id) ON DELETE RESTRICT ON UPDATE SET NULL in "
        "the database"
    ]


def _names(url: str, column: str) -> list[str]:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        return [
            row[0]
            for row in connection.execute(
                "SELECT conname FROM pg_constraint WHERE contype = 'f' AND conrelid = 'app.book'::regclass "
                "AND pg_get_constraintdef(oid) LIKE %s",
                [f"FOREIGN KEY ({column})%"],
            )
        ]


# --- Introspection ------------------------------------------------------------------------------------


def test_introspection_reads_every_action_and_deferrability_and_regenerates_the_same_constraints(
    target_store, steward, scratch_database
):
    store = target_store("films")
    live = os.environ[store.url_env]
    run_sql(live, LIVE_DDL)

    report = schema_introspect(datastore=store, user=steward)

    assert not [s for s in report.skipped if s.item.startswith("foreign key")], report.lines()
    film = {c.name: c for c in Column.objects.filter(entity__datastore=store, entity__name="film")}
    assert {
        name: (str(c.references), c.on_delete, c.on_update, c.deferrable)
        for name, c in film.items()
        if c.references_id
    } == {
        "language_id": ("language.id", "restrict", "cascade", "initially_deferred"),
        "original_language_id": ("language.id", "set_null", "set_null", "initially_immediate"),
        "fallback_code": ("language.code", "no_action", "set_default", "not_deferrable"),
        "sequel_of": ("film.id", "cascade", "restrict", "not_deferrable"),
    }
    rebuilt = scratch_database()
    run_sql(rebuilt, "CREATE SCHEMA app", _ddl(store, POSTGRESQL))
    assert _constraint_definitions(rebuilt) == _constraint_definitions(live)
    assert "ON UPDATE CASCADE ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED" in str(
        _constraint_definitions(live)
    )
    assert not schema_introspect(datastore=store, user=steward).changed

"""The embedded default end to end: a SQLite file introspected, released, baselined, drift-checked."""

import sqlite3

import pytest
from django.core.management import call_command

from catalog.models import DataStore
from catalog.services import catalog_object_save


def test_sqlite_file_from_introspection_to_drift(tmp_path, steward, monkeypatch, capsys):
    path = tmp_path / "src.db"
    with sqlite3.connect(path) as connection:
        # INTEGER PRIMARY KEY is SQLite's rowid alias: reported as nullable, never NULL.
        connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    monkeypatch.setenv("LITE_URL", f"sqlite:///{path}")
    catalog_object_save(obj=DataStore(name="lite", engine="sqlite", url_env="LITE_URL"), user=steward)
    call_command("schema_introspect", "--datastore", "lite", "--user", "steward")
    column = DataStore.objects.get(name="lite").entities.get(name="t").columns.get(name="id")
    assert (column.primary_key_position, column.nullable) == (1, False)
    call_command("schema_release", "--datastore", "lite", "--message", "init", "--user", "steward")
    call_command("schema_apply", "--datastore", "lite", "--baseline", "--version", "1")
    call_command("schema_drift", "--datastore", "lite")
    assert "no drift" in capsys.readouterr().out
    with sqlite3.connect(path) as connection:
        connection.execute("ALTER TABLE t ADD COLUMN email TEXT")
    with pytest.raises(SystemExit) as exit_info:
        call_command("schema_drift", "--datastore", "lite")
    assert exit_info.value.code == 1
    assert "column email is not in the release" in capsys.readouterr().out

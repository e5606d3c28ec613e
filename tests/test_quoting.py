"""core/quoting.py is the one way a name reaches SQL, in every dialect, and nothing else quotes."""

import ast

import pytest
import sqlalchemy as sa
from psycopg import sql

from catalog.schema.dialects import PROFILES
from core import quoting
from tests.test_sql_text import ROOT, project_files

HOSTILE = ['ba"z', "a`b", "x]y", "Robert'); DROP TABLE students;--", "select", "MixedCase", "with space"]

EXPECTED = {
    ("postgresql", 'ba"z'): '"ba""z"',
    ("mysql", "a`b"): "`a``b`",
    ("sqlserver", "x]y"): "[x]]y]",
    ("sqlite", 'ba"z'): '"ba""z"',
    ("postgresql", "plain"): '"plain"',
    ("mysql", "plain"): "`plain`",
    ("sqlserver", "plain"): "[plain]",
}


@pytest.mark.parametrize(("dialect", "name"), EXPECTED, ids=lambda part: part)
def test_a_name_is_always_quoted_and_its_quote_character_doubled(dialect, name):
    assert quoting.quote(name, dialect) == EXPECTED[dialect, name]


@pytest.mark.parametrize("profile", PROFILES.values(), ids=lambda profile: profile.name)
@pytest.mark.parametrize("name", HOSTILE)
def test_the_dialect_profile_quotes_through_the_one_function(profile, name):
    assert profile.quote(name) == quoting.quote(name, profile.sqla) == quoting.quote(name, profile.name)


def test_a_qualified_name_leaves_out_a_missing_schema():
    assert quoting.qualified("app", 'ba"z') == '"app"."ba""z"'
    assert quoting.qualified(None, "t", dialect="sqlserver") == "[t]"


def test_psycopg_identifiers_leave_out_a_missing_schema_and_escape(db):
    from django.db import connection

    with connection.cursor() as cursor:
        raw = cursor.cursor.connection
        assert quoting.identifier("app", 'ba"z').as_string(raw) == '"app"."ba""z"'
        assert quoting.identifier("", "t").as_string(raw) == '"t"'
        assert quoting.identifier(None, "t") == sql.Identifier("t")
    with pytest.raises(ValueError):
        quoting.identifier("", None)


def test_sqlalchemy_constructs_quote_a_forced_name_whatever_its_spelling():
    table = sa.table(quoting.forced("orders"), sa.column(quoting.forced("id")), schema=quoting.forced("app"))
    assert str(sa.select(table.c.id).compile(dialect=PROFILES["postgresql"].sqla)) == (
        'SELECT "app"."orders"."id" \nFROM "app"."orders"'
    )


def test_needs_quoting_says_when_a_bare_name_would_read_differently():
    assert not quoting.needs_quoting("orders")
    assert quoting.needs_quoting("Orders") and quoting.needs_quoting("select")


def test_an_unknown_dialect_or_a_name_that_is_not_text_is_a_programming_error():
    with pytest.raises(ValueError, match="oracle"):
        quoting.quote("t", "oracle")
    with pytest.raises(TypeError):
        quoting.quote(None)


def _other_quoting(path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr in {"identifier_preparer", "quote_name"}:
            found.append(f"{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == (
            "quoted_name"
        ):
            found.append(f"{node.lineno}: quoted_name()")
    return found


@pytest.mark.parametrize(
    "path",
    [p for p in project_files() if p.parts[len(ROOT.parts)] != "tests" and p.name != "quoting.py"],
    ids=lambda path: str(path.relative_to(ROOT)),
)
def test_no_module_quotes_names_another_way(path):
    """SQLAlchemy's preparer, Django's quote_name and quoted_name are reached only through core.quoting."""
    assert _other_quoting(path) == []

"""Every difference between SQL dialects lives in catalog/schema/dialects.py: no module outside it compares a
dialect's name, and each profile's templates say what it can and cannot do."""

import ast
from collections import Counter
from pathlib import Path

import pytest

from catalog.schema.dialects import MYSQL, POSTGRESQL, PROFILES, SQLITE, SQLSERVER, profile_for

ROOT = Path(__file__).resolve().parents[3]
DIALECT_NAMES = {
    "postgresql",
    "postgres",
    "mysql",
    "mariadb",
    "sqlite",
    "sqlite3",
    "sqlserver",
    "mssql",
    "tsql",
}
SKIPPED_DIRS = {".venv", "node_modules", "tests", "bench", "migrations", ".git"}

# Where naming a dialect is the point.
HOME = {
    "catalog/schema/dialects.py",  # the dialect layer itself
    "core/databases.py",  # reads Custodian's own DATABASES URL for Django, not a data store's dialect
}

# Branches on a data store's engine that predate the rule, per file: each one is a debt to move into a
# DialectProfile flag, template or hook. The counts may only go down; a new file or a new branch fails.
KNOWN_DEBTS = {
    "catalog/patterns.py": 1,  # regex checks run in the store only on PostgreSQL
    "compliance/models.py": 1,  # retention runs on PostgreSQL stores only
    "core/connections.py": 2,  # connect timeout and psycopg-only connections
    "pipelines/config.py": 2,  # which stores can be sources and targets
    "pipelines/load.py": 1,  # COPY loads need PostgreSQL
    "pipelines/sources.py": 5,  # sqlglot dialect, schema-qualified names and errors of SQLite sources
    "quality/management/commands/run_quality.py": 1,  # checks run on PostgreSQL stores only
}


def _names(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value.lower()} & DIALECT_NAMES
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return set().union(set(), *(_names(element) for element in node.elts))
    return set()


def _is_own_database(node: ast.Compare) -> bool:
    """`connection.vendor == "postgresql"` asks about Custodian's own database, not a data store's."""
    return any(
        isinstance(side, ast.Attribute) and side.attr == "vendor" for side in [node.left, *node.comparators]
    )


def dialect_comparisons(source: str) -> list[int]:
    """Lines of `source` that compare something with a dialect's name (==, !=, in, not in)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and not _is_own_database(node):
            if _names(node.left) or any(_names(comparator) for comparator in node.comparators):
                lines.append(node.lineno)
    return sorted(lines)


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if not SKIPPED_DIRS & set(relative.parts[:-1]):
            yield relative.as_posix(), path


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ('if profile.name == "mysql":\n    pass', [1]),
        ('x = dialect in ("postgresql", "sqlserver")', [1]),
        ('x = "sqlite" != connection.dialect.name', [1]),
        ("x = engine not in {'postgres'}", [1]),
        ('x = profile.has_template("touch_trigger")', []),
        ('x = connection.vendor == "postgresql"', []),
        ('x = column.name == "created_at"', []),
    ],
)
def test_the_scan_finds_comparisons_with_a_dialect_name(source, found):
    assert dialect_comparisons(source) == found


def test_no_module_outside_the_dialect_layer_compares_a_dialect_name():
    found = Counter()
    where = {}
    for name, path in _modules():
        if name in HOME:
            continue
        lines = dialect_comparisons(path.read_text(encoding="utf-8"))
        if lines:
            found[name] = len(lines)
            where[name] = lines
    new = {name: where[name] for name, count in found.items() if count > KNOWN_DEBTS.get(name, 0)}
    assert not new, (
        "Compare with a dialect's name only in catalog/schema/dialects.py; give DialectProfile a flag, "
        f"template or hook instead. Found at: {new}"
    )


def test_the_schema_package_asks_its_profile_instead_of_naming_a_dialect():
    schema_modules = [name for name, _path in _modules() if name.startswith("catalog/schema/")]
    assert "catalog/schema/ddl.py" in schema_modules
    offenders = {
        name: dialect_comparisons((ROOT / name).read_text(encoding="utf-8"))
        for name in schema_modules
        if name not in HOME and name not in KNOWN_DEBTS
    }
    assert not {name: lines for name, lines in offenders.items() if lines}


def test_every_profile_is_found_by_its_name_and_says_who_it_is():
    for name, profile in PROFILES.items():
        assert profile_for(name) is profile and profile.name == name and profile.label


@pytest.mark.parametrize(
    ("profile", "templates"),
    [
        (POSTGRESQL, {"touch_function", "touch_trigger", "drop_trigger", "apply_lock"}),
        (SQLITE, {"touch_trigger", "drop_trigger"}),
        (MYSQL, set()),
        (SQLSERVER, set()),
    ],
)
def test_a_dialect_has_the_audit_trigger_and_lock_templates_it_can_run(profile, templates):
    optional = {"touch_function", "touch_trigger", "drop_trigger", "apply_lock"}
    assert {t for t in optional if profile.has_template(t)} == templates


def test_every_template_renders_with_the_parts_its_callers_give():
    parts = dict.fromkeys(
        [
            "schema",
            "schema_plain",
            "schema_prefix",
            "schema_quoted",
            "table",
            "table_plain",
            "table_quoted",
            "new_name",
            "new_plain",
            "column",
            "column_plain",
            "definition",
            "index",
            "name",
            "type",
            "default",
            "comment",
            "trigger",
            "function",
            "partition",
            # key generation (migrate._GenerationChange)
            "mode",
            "options",
            "changes",
            "sequence",
            "sequence_text",
            "option",
        ],
        "x",
    )
    for profile in PROFILES.values():
        for template in profile.templates:
            assert profile.render(template, **parts)

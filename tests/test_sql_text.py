"""No SQL text is built from strings anywhere in the project (DESIGN.md, "Trust boundary").

Names reach SQL through `core.quoting` and values travel as parameters; a statement is composed with
`psycopg.sql` or built by SQLAlchemy. This test walks the syntax tree of every Python file of the project
(apps, commands, migrations, bench/, tools/, tests/) and fails on

- a call that runs or wraps SQL (`execute`, `executemany`, `copy`, `sql.SQL`, `text`, `exec_driver_sql`,
  `RunSQL`) whose SQL argument is an f-string, a `%` or `+` on strings or a `str.format`, directly or
  through a local variable assigned that way;
- a string that starts with an SQL verb (SELECT, INSERT, ... GRANT, REVOKE, COMMENT ON, WITH) built as
  an f-string, with `%`, `+` or `.format`, wherever it is.

The checker is a plain function, so the tests at the bottom feed it planted snippets and prove it fails.
"""

import ast
import re
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIPPED_DIRS = {".venv", "node_modules", ".git", "static", "media", "__pycache__"}

SQL_CALLS = {"execute", "executemany", "copy", "SQL", "text", "exec_driver_sql", "RunSQL"}
# Upper case as written in this project; lower case only where words of a message would not match.
SQL_VERB = re.compile(
    r"\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|COPY|SET|TRUNCATE|GRANT|REVOKE|COMMENT ON|WITH|MERGE"
    r"|VACUUM)\b"
    r"|\s*(select|insert into|update|delete from|create|alter|drop|copy|truncate|grant|with)\s"
)

# (path, enclosing function, start of the text) -> why building that text is sound. Messages that name a
# statement belong here and, should a template not do, the dialect layer's DDL over names it has already
# quoted; nothing else. An entry that no longer matches anything fails below, so none outlives its code.
ALLOWED: dict[tuple[str, str, str], str] = {
    ("catalog/schema/lint.py", "_finding", "SET NOT NULL on"): (
        "a lint finding's message for a person, naming the statement it warns about; never run"
    ),
    ("catalog/schema/lint.py", "_finding", "CREATE INDEX"): (
        "a lint finding's message for a person, naming the statement it warns about; never run"
    ),
}


class Problem(NamedTuple):
    line: int
    function: str
    leading: str  # the literal text the SQL starts with, when it starts with a verb
    message: str


def _is_text(node: ast.expr) -> bool:
    """Whether an expression is plainly a string: a literal, an f-string or a string built from them."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        return _is_text(node.left) or (isinstance(node.op, ast.Add) and _is_text(node.right))
    return _is_format_call(node)


def _is_format_call(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
        and _is_text(node.func.value)
    )


def _is_built(node: ast.expr) -> bool:
    """Whether an expression builds text from parts: an f-string with a placeholder, `%`, `+`, `.format`."""
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(part, ast.FormattedValue) for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        return _is_text(node)
    return _is_format_call(node)


def _leading_text(node: ast.expr) -> str:
    """The literal text an expression starts with, as far as the tree shows it."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values:
        return _leading_text(node.values[0])
    if isinstance(node, ast.BinOp):
        return _leading_text(node.left)
    if _is_format_call(node):
        return _leading_text(node.func.value)
    return ""


def _call_name(node: ast.Call) -> str:
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    if isinstance(node.func, ast.Name):
        return node.func.id
    return ""


def _sql_argument(node: ast.Call) -> ast.expr | None:
    if node.args:
        return node.args[0]
    for keyword in node.keywords:
        if keyword.arg in {"sql", "query", "statement"}:
            return keyword.value
    return None


class _Checker(ast.NodeVisitor):
    """Collects `Problem`s, knowing the enclosing function and what each local name was assigned."""

    def __init__(self):
        self.scopes: list[tuple[str, dict[str, list[ast.expr]]]] = []
        self.problems: list[Problem] = []

    def _enter(self, name: str, node: ast.AST):
        assigned: dict[str, list[ast.expr]] = {}
        for child in ast.walk(node):
            if isinstance(child, ast.Assign):
                for target in child.targets:
                    if isinstance(target, ast.Name):
                        assigned.setdefault(target.id, []).append(child.value)
            elif isinstance(child, ast.AnnAssign) and isinstance(child.target, ast.Name) and child.value:
                assigned.setdefault(child.target.id, []).append(child.value)
            elif isinstance(child, ast.AugAssign) and isinstance(child.target, ast.Name):
                # `statement += f"..."` builds the statement as `statement + f"..."` would
                built = ast.BinOp(left=ast.Constant(""), op=child.op, right=child.value)
                assigned.setdefault(child.target.id, []).append(built)
        self.scopes.append((name, assigned))
        self.generic_visit(node)
        self.scopes.pop()

    def visit_Module(self, node):
        self._enter("<module>", node)

    def _function(self, node):
        outer = self.scopes[-1][0]
        self._enter(node.name if outer == "<module>" else f"{outer}.{node.name}", node)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _function

    def _report(self, node: ast.AST, leading: str, message: str) -> None:
        self.problems.append(Problem(node.lineno, self.scopes[-1][0], leading.strip()[:40], message))

    def _values_of(self, name: str) -> list[ast.expr]:
        for _scope, assigned in reversed(self.scopes):
            if name in assigned:
                return assigned[name]
        return []

    def visit_Call(self, node):
        name = _call_name(node)
        argument = _sql_argument(node) if name in SQL_CALLS else None
        if argument is not None:
            candidates = [argument]
            if isinstance(argument, ast.Name):
                candidates += self._values_of(argument.id)
            # Text that starts with a verb is reported where it is built (below), once.
            if any(_is_built(c) and not SQL_VERB.match(_leading_text(c)) for c in candidates):
                self._report(node, "", f"{name}() gets SQL built from strings")
        if _is_format_call(node) and SQL_VERB.match(_leading_text(node)):
            self._report(node, _leading_text(node), "SQL text built with str.format")
        self.generic_visit(node)

    def _check_text(self, node):
        if _is_built(node) and SQL_VERB.match(_leading_text(node)):
            self._report(node, _leading_text(node), "SQL text built from strings")
            return  # its parts are not statements of their own
        self.generic_visit(node)

    visit_JoinedStr = visit_BinOp = _check_text


def sql_text_problems(source: str) -> list[Problem]:
    """Each place the source builds SQL text from strings, in line order."""
    checker = _Checker()
    checker.visit(ast.parse(source))
    return sorted(set(checker.problems))


def _allowed(path: str, problem: Problem) -> bool:
    return any(
        path == allowed_path and problem.function == function and problem.leading.startswith(leading)
        for allowed_path, function, leading in ALLOWED
    )


def project_files() -> list[Path]:
    return sorted(
        path for path in ROOT.rglob("*.py") if not SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts)
    )


def test_the_walk_covers_every_app_commands_bench_and_tests():
    walked = {path.relative_to(ROOT).parts[0] for path in project_files()}
    assert {"core", "catalog", "pipelines", "quality", "compliance", "dashboard", "bench", "tests"} <= walked
    assert any("commands" in path.parts for path in project_files())


@pytest.mark.parametrize("path", project_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_no_sql_built_from_strings(path):
    relative = path.relative_to(ROOT).as_posix()
    problems = [
        f"{relative}:{problem.line} in {problem.function}: {problem.message} {problem.leading!r}"
        for problem in sql_text_problems(path.read_text())
        if not _allowed(relative, problem)
    ]
    assert problems == []


@pytest.mark.parametrize("entry", sorted(ALLOWED), ids=" ".join)
def test_every_allowed_entry_still_matches_a_place(entry):
    """An entry left behind after its code changed would silently allow the next statement built there."""
    path = entry[0]
    assert any(_allowed(path, problem) for problem in sql_text_problems((ROOT / path).read_text()))


# The checker on planted snippets: each of these must be caught ...
PLANTED = {
    "f-string to execute": 'cursor.execute(f"SELECT * FROM {table}")',
    "concatenation to execute": 'cursor.execute("SELECT * FROM " + table)',
    "percent to execute": 'cursor.execute("SELECT * FROM %s" % table)',
    "format to executemany": 'cursor.executemany("INSERT INTO {} VALUES (%s)".format(table), rows)',
    "through a local name": 'def load(c, t):\n    statement = f"DELETE FROM {t}"\n    c.execute(statement)',
    "non-verb f-string through a name": 'def f(c, w):\n    where = f"id = {w}"\n    c.exec_driver_sql(where)',
    "grown with +=": 'def f(c, w):\n    q = "x"\n    q += f" AND {w}"\n    c.execute(q)',
    "f-string to sql.SQL": 'sql.SQL(f"WHERE {column} > 0")',
    "f-string to text()": 'sa.text(f"{column} > :watermark")',
    "hand-quoted COPY": """cursor.copy(f'COPY "{table}" (a, b) FROM STDIN')""",
    "RunSQL in a migration": 'migrations.RunSQL(f"DROP TABLE {name}")',
    "verb f-string kept for later": 'STATEMENT = f"UPDATE {table} SET a = 1"',
    "verb concatenated for later": 'grant = "GRANT SELECT ON " + table',
    "verb formatted for later": 'truncate = "TRUNCATE {}".format(table)',
    "keyword argument": 'connection.execute(statement=f"SET search_path = {schema}")',
    "a comment statement": 'emit(f"COMMENT ON TABLE {table} IS NULL")',
    "lower case": 'statement = "select * from " + table',
    "a CTE": 'query = f"WITH failing AS (SELECT * FROM {table}) SELECT count(*) FROM failing"',
}
# ... and none of these.
CLEAN = {
    "constant": 'cursor.execute("SELECT 1")',
    "values as parameters": 'cursor.execute("SELECT * FROM t WHERE id = %s", [key])',
    "composed": 'cursor.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, table)))',
    "a message in words": 'message = f"Select a column for {name} before you delete {other}"',
    "a note": 'note = f"{table}: updated_at follows ON UPDATE CURRENT_TIMESTAMP"',
    "a dialect template": 'profile.render("drop_column", table=table, column=profile.quote(name))',
    "a SQLAlchemy construct": "connection.execute(sa.select(sa.literal_column('*')).select_from(t))",
}


@pytest.mark.parametrize("snippet", PLANTED.values(), ids=PLANTED.keys())
def test_the_checker_catches_a_planted_statement_built_from_strings(snippet):
    assert len(sql_text_problems(snippet)) == 1


@pytest.mark.parametrize("snippet", CLEAN.values(), ids=CLEAN.keys())
def test_the_checker_lets_composed_sql_and_words_through(snippet):
    assert sql_text_problems(snippet) == []


def test_a_planted_file_fails_the_project_test(tmp_path, monkeypatch):
    planted = tmp_path / "pipelines" / "planted.py"
    planted.parent.mkdir()
    planted.write_text('def drop(cursor, table):\n    cursor.execute(f"DROP TABLE {table}")\n')
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert project_files() == [planted]
    with pytest.raises(AssertionError, match="pipelines/planted.py:2 in drop: SQL text built from strings"):
        test_no_sql_built_from_strings(planted)

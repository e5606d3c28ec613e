"""The one way a name reaches SQL (DESIGN.md, "Trust boundary").

Catalog and user names (schemas, tables, columns, roles) are validated at the model and quoted here, at
SQL time, and nowhere else:

- `quote(name, dialect)` is the quoted name as SQL text in any dialect Custodian writes: always quoted,
  the dialect's closing quote doubled (`ba"z` -> `"ba""z"` on PostgreSQL, `` `ba"z` `` on MySQL, `[ba"z]`
  on SQL Server). SQLAlchemy's preparer knows each dialect's quote characters; called for its
  `quote_identifier`, it quotes every name, not only those it thinks need it. `qualified` joins parts.
- `identifier(schema, name)` is the same name for SQL composed with `psycopg.sql`, which escapes it itself;
  `schema` may be empty (the connection's search path decides).
- `forced(name)` marks a name for SQLAlchemy constructs (`sa.table`, `sa.column`) so that they quote it
  too, whatever its case or spelling.
- `needs_quoting(name, dialect)` says whether the dialect would read the bare name differently, for code
  that writes names into other languages (JPA annotations) and quotes only where SQL needs it.

Django's `connection.ops.quote_name` passes an already-quoted name through and does not escape an embedded
quote: it is for Django's own tables, and Custodian does not use it. Values never come here; they travel as
parameters (`%s`, `:name`) or `psycopg.sql.Literal`.
"""

from functools import cache

from psycopg import sql
from sqlalchemy.dialects import mssql, mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import quoted_name

__all__ = ["quote", "qualified", "identifier", "forced", "needs_quoting"]

_DIALECTS = {
    "postgresql": postgresql.dialect,
    "mysql": mysql.dialect,
    "sqlserver": mssql.dialect,
    "mssql": mssql.dialect,
    "sqlite": sqlite.dialect,
}


@cache
def _named_dialect(name: str) -> Dialect:
    if name not in _DIALECTS:
        raise ValueError(f"No SQL dialect named {name!r}; known: {', '.join(sorted(_DIALECTS))}.")
    return _DIALECTS[name]()


def _dialect(dialect: Dialect | str) -> Dialect:
    return _named_dialect(dialect) if isinstance(dialect, str) else dialect


def quote(name: str, dialect: Dialect | str = "postgresql") -> str:
    """`name` as a quoted identifier of `dialect` (a SQLAlchemy dialect or its name): always quoted, embedded
    quote characters escaped."""
    if not isinstance(name, str):
        raise TypeError(f"An SQL name is a string, not {name!r}.")
    return _dialect(dialect).identifier_preparer.quote_identifier(name)


def qualified(*parts: str | None, dialect: Dialect | str = "postgresql") -> str:
    """The dotted name of the parts that are given (`schema.table`, or `table` without a schema), each
    quoted."""
    return ".".join(quote(part, dialect) for part in parts if part)


def identifier(*parts: str | None) -> sql.Identifier:
    """The dotted name of the parts that are given, for `psycopg.sql` composition (psycopg escapes)."""
    names = [part for part in parts if part]
    if not names:
        raise ValueError("An SQL name needs at least one non-empty part.")
    return sql.Identifier(*names)


def forced(name: str) -> quoted_name:
    """`name` for a SQLAlchemy construct, quoted when compiled whatever its spelling."""
    return quoted_name(name, quote=True)


def needs_quoting(name: str, dialect: Dialect | str = "postgresql") -> bool:
    """Whether `dialect` reads the bare `name` as something else (upper case, a keyword, a space ...)."""
    return _dialect(dialect).identifier_preparer.quote(name) != name

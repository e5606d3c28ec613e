"""Regular expressions as PostgreSQL reads them: patterns are run by PostgreSQL (`col ~ pattern` in quality
rules and CHECK constraints), so PostgreSQL is the one asked whether a pattern is valid.

The engine that runs the pattern answers first (the rule's data store, when it is PostgreSQL and reachable),
then Custodian's own database when it is PostgreSQL. Only when neither can be asked does a Python check stand
in, after translating PostgreSQL's own escapes (`\\m`, `\\M`, `\\y`, `\\Y`) and refusing Python-only syntax
(`(?P<name>...)`) that PostgreSQL would reject at run time.
"""

import logging
import re
from functools import lru_cache

import psycopg
from django.db import DatabaseError, connection, transaction
from psycopg import sql

__all__ = ["pattern_problem", "patterns_rejected", "PATTERN_CHECK_TIMEOUT_MS"]

logger = logging.getLogger(__name__)

# Compiling a pattern is quick; a pattern whose compilation is not is refused rather than waited for.
PATTERN_CHECK_TIMEOUT_MS = 2000
# PostgreSQL's word-boundary escapes and their Python equivalents, for the offline check only.
_PG_ESCAPES = {"m": r"\b", "M": r"\b", "y": r"\b", "Y": r"\B"}
_PYTHON_ONLY = [
    (re.compile(r"\(\?P[<=>]"), "named groups (?P<name>...) are Python syntax"),
    (re.compile(r"\(\?<[A-Za-z_]"), "named groups (?<name>...) are not PostgreSQL syntax"),
]


def _rejection(exc: Exception) -> str:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return message.removeprefix("invalid regular expression: ")


def patterns_rejected(cursor, patterns: list[str]) -> dict[str, str]:
    """The patterns PostgreSQL rejects, with its reason, asked on `cursor` inside the caller's transaction.

    All patterns are tried in one statement; only when that fails is each asked alone (in a savepoint), so
    the common case costs one round trip and no table is read."""
    distinct = list(dict.fromkeys(patterns))
    if not distinct:
        return {}
    checks = sql.SQL(", ").join(sql.SQL("'' ~ {}").format(sql.Literal(p)) for p in distinct)
    try:
        with cursor.connection.transaction():
            cursor.execute(sql.SQL("SELECT {}").format(checks))
        return {}
    except psycopg.errors.QueryCanceled:
        raise
    except psycopg.Error:
        pass
    rejected = {}
    for pattern in distinct:
        try:
            with cursor.connection.transaction():
                cursor.execute(sql.SQL("SELECT '' ~ {}").format(sql.Literal(pattern)))
        except psycopg.errors.QueryCanceled:
            rejected[pattern] = "PostgreSQL took too long to compile it"
        except psycopg.Error as exc:
            rejected[pattern] = _rejection(exc)
    return rejected


def _ask_datastore(datastore, pattern: str) -> str | None:
    """PostgreSQL's verdict from the data store; raises OSError-like errors when it cannot be reached."""
    from core.connections import datastore_pg_connect
    from core.sql_gate import guard_transaction

    with datastore_pg_connect(datastore, application_name="custodian-pattern-check") as conn:
        with conn.transaction(), conn.cursor() as cursor:
            guard_transaction(cursor, timeout_ms=PATTERN_CHECK_TIMEOUT_MS)
            return patterns_rejected(cursor, [pattern]).get(pattern)


@lru_cache(maxsize=4096)
def _ask_own_database(pattern: str) -> str | None:
    """PostgreSQL's verdict from Custodian's own database (same engine): one cheap SELECT in a savepoint."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            # SET LOCAL outlives a released savepoint: the caller's own timeout is put back afterwards.
            cursor.execute("SELECT current_setting('statement_timeout')")
            (previous,) = cursor.fetchone()
            cursor.execute("SET LOCAL statement_timeout = %s", [PATTERN_CHECK_TIMEOUT_MS])
            cursor.execute("SELECT '' ~ %s", [pattern])
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
    except DatabaseError as exc:
        cause = exc.__cause__ or exc
        if isinstance(cause, psycopg.errors.QueryCanceled):
            return "PostgreSQL took too long to compile it"
        return _rejection(cause)
    return None


@lru_cache(maxsize=4096)
def _offline_problem(pattern: str) -> str | None:
    for found, reason in _PYTHON_ONLY:
        if found.search(pattern):
            return reason
    translated = re.sub(r"\\(.)", lambda m: _PG_ESCAPES.get(m.group(1), m.group(0)), pattern)
    try:
        re.compile(translated)
    except re.error as exc:
        return str(exc)
    return None


def pattern_problem(pattern: str, *, datastore=None) -> str | None:
    """Why PostgreSQL would reject the regular expression (its own words), or None when it accepts it.

    Asked of the data store when it is PostgreSQL and answers, else of Custodian's own PostgreSQL, else
    checked offline."""
    if datastore is not None and getattr(datastore, "engine", "") == "postgresql":
        try:
            return _ask_datastore(datastore, pattern)
        except Exception as exc:  # unreachable, misconfigured: the next judge answers
            logger.info("Pattern checked without data store %s: %s", datastore, exc)
    if connection.vendor == "postgresql":
        return _ask_own_database(pattern)
    return _offline_problem(pattern)

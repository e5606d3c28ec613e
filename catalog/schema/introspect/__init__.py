"""Reverse engineering: a data store's live database read back into the catalog, in three steps.

- `reflection`: SQLAlchemy's inspector -> a neutral, typed description of the tables (`LiveTable`), one
  query per kind of object whatever the table count; drift.py reads the database through it too.
- `expressions`: the SQL the database wrote for defaults, checks and index conditions, parsed with sqlglot
  into the catalog's words (or refused with the reason).
- `writer`: the description -> entities, columns and indexes through the catalog services, saving only what
  differs and reporting what the catalog cannot express (a type, a default, a check, a composite foreign
  key, an expression index) instead of guessing it; with anything to report it writes nothing
  (IntrospectionIncomplete) unless the caller allows a partial import.
"""

from catalog.schema.introspect.expressions import (
    CheckRule,
    catalog_condition,
    catalog_default,
    check_rules,
    default_normalize,
)
from catalog.schema.introspect.reflection import (
    LiveCheck,
    LiveColumn,
    LiveForeignKey,
    LiveIndex,
    LiveTable,
    LiveUniqueConstraint,
    catalog_type,
    live_tables_read,
    type_sql,
)
from catalog.schema.introspect.writer import (
    IntrospectionIncomplete,
    IntrospectionReport,
    SkippedItem,
    schema_introspect,
)

__all__ = [
    "LiveColumn",
    "LiveForeignKey",
    "LiveUniqueConstraint",
    "LiveCheck",
    "LiveIndex",
    "LiveTable",
    "live_tables_read",
    "type_sql",
    "catalog_type",
    "catalog_default",
    "default_normalize",
    "CheckRule",
    "check_rules",
    "catalog_condition",
    "SkippedItem",
    "IntrospectionReport",
    "IntrospectionIncomplete",
    "schema_introspect",
]

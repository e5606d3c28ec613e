"""The audit trail is append-only, enforced by the database as well as by the admin.

On PostgreSQL every history table (including the tables simple-history keeps for many-to-many fields, such
as a user's groups) and every model declaring `append_only = True` (sign-in events) gets a trigger that
refuses DELETE and UPDATE. The updates allowed change nothing: one that writes a row as it is (as loading
a serialized database does), and the one Django makes when a user account is deleted: history_user_id set
to NULL, nothing else changed. The function reads rows as JSON so it works on tables
with or without a history_user_id column.
"""

from django.apps import apps as global_apps
from django.db import connections
from psycopg import sql

__all__ = ["history_models", "append_only_models", "history_protect"]

PROTECT_FUNCTION = """
CREATE OR REPLACE FUNCTION custodian_history_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND to_jsonb(NEW) = to_jsonb(OLD) THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE'
       AND to_jsonb(NEW) ? 'history_user_id'
       AND to_jsonb(NEW) -> 'history_user_id' = 'null'::jsonb
       AND (to_jsonb(NEW) - 'history_user_id') = (to_jsonb(OLD) - 'history_user_id') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'The audit trail is append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""


def history_models():
    """Every model simple-history created to hold a history table (many-to-many history included)."""
    return [model for model in global_apps.get_models() if hasattr(model, "instance_type")]


def append_only_models():
    """Every model whose table the database keeps append-only: history tables and declared records."""
    declared = [model for model in global_apps.get_models() if getattr(model, "append_only", False)]
    return history_models() + declared


def history_protect(*, using: str = "default", **_signal_kwargs) -> None:
    """Install the append-only trigger on every append-only table (idempotent; PostgreSQL only)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    existing = set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        cursor.execute(PROTECT_FUNCTION)
        for model in append_only_models():
            table = model._meta.db_table
            if table not in existing:
                continue
            cursor.execute(
                sql.SQL(
                    "CREATE OR REPLACE TRIGGER custodian_append_only BEFORE UPDATE OR DELETE ON {} "
                    "FOR EACH ROW EXECUTE FUNCTION custodian_history_append_only()"
                )
                .format(sql.Identifier(table))
                .as_string(cursor.connection)
            )

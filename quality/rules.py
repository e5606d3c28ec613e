"""Rule definitions: what each kind needs, and the rules the catalog implies without anyone writing them.

The catalog already says which columns are NOT NULL, which keys are unique, what a foreign key points at,
and each column's range, pattern and allowed values. Those become rules of origin "catalog", kept in step
with the catalog before every check: their definition follows the catalog, while a steward's tuning
(threshold, severity, enabled) is kept.
"""

from dataclasses import dataclass, field

from catalog.models import Entity
from catalog.patterns import pattern_problem
from core.sql_gate import query_problem
from quality.limits import max_timeout_seconds

__all__ = [
    "rule_definition_errors",
    "custom_sql_problem",
    "ImpliedRule",
    "rules_implied",
    "rules_implied_pending",
    "rules_implied_sync",
]

ONE_COLUMN = {"not_null", "pattern", "range", "allowed_values", "freshness"}
ORDERABLE = {
    "smallint",
    "integer",
    "bigint",
    "numeric",
    "real",
    "double",
    "date",
    "time",
    "timestamp",
    "timestamptz",
    "varchar",
    "char",
    "text",
}


def rule_definition_errors(rule) -> dict[str, str]:
    """Errors keyed by field when a rule's definition cannot be evaluated as written."""
    errors: dict[str, str] = {}
    kind, columns, params = rule.kind, rule.columns, rule.params or {}
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        return {"columns": 'Columns are a list of column names, e.g. ["email"].'}
    if not isinstance(params, dict):
        return {"params": 'Parameters are a mapping, e.g. {"pattern": "@"}.'}
    if kind in ONE_COLUMN and len(columns) != 1:
        errors["columns"] = f"A {kind} rule checks exactly one column."
    if kind in ("unique", "referential") and not columns:
        errors["columns"] = f"A {kind} rule needs one or more columns."
    if kind in ("volume", "custom_sql") and columns:
        errors["columns"] = f"A {kind} rule has no columns."
    if rule.entity_id:
        known = {c.name: c for c in rule.entity.columns.all()}
        missing = [c for c in columns if c not in known]
        if missing:
            errors["columns"] = f"{rule.entity.name} has no column {', '.join(missing)}."
        elif (
            kind == "freshness"
            and columns
            and known[columns[0]].data_type not in ("date", "timestamp", "timestamptz")
        ):
            errors["columns"] = "Freshness needs a date or timestamp column."
    errors.update(_param_errors(rule, kind, params))
    return errors


def _param_errors(rule, kind: str, params: dict) -> dict[str, str]:
    allowed = {
        "not_null": set(),
        "unique": set(),
        "pattern": {"pattern"},
        "range": {"min", "max"},
        "allowed_values": {"values"},
        "referential": {"ref_entity", "ref_columns"},
        "freshness": {"max_age_hours"},
        "volume": {"min_rows", "max_rows", "max_change_percent", "history"},
        "custom_sql": {"sql", "timeout_seconds"},
    }.get(kind)
    if allowed is None:
        return {"kind": f"Unknown rule kind '{kind}'."}
    unknown = sorted(set(params) - allowed)
    if unknown:
        takes = ", ".join(sorted(allowed)) or "no parameters"
        return {"params": f"A {kind} rule does not take {', '.join(unknown)} (it takes {takes})."}
    if kind == "pattern":
        pattern = params.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            return {"params": "A pattern rule needs a pattern (a regular expression)."}
        # PostgreSQL runs the pattern, so PostgreSQL (the rule's data store when it answers) judges it.
        reason = pattern_problem(pattern, datastore=rule.entity.datastore if rule.entity_id else None)
        if reason:
            return {"params": f"PostgreSQL rejects the pattern: {reason}."}
    if kind == "range":
        if params.get("min") in (None, "") and params.get("max") in (None, ""):
            return {"params": "A range rule needs min, max or both."}
        if any(isinstance(params.get(k), (list, dict, bool)) for k in ("min", "max")):
            return {"params": "min and max are single values (a number, a date or a text)."}
    if kind == "allowed_values" and not (isinstance(params.get("values"), list) and params["values"]):
        return {"params": "An allowed-values rule needs values: a non-empty list."}
    if kind == "freshness":
        age = params.get("max_age_hours")
        if not isinstance(age, (int, float)) or age <= 0:
            return {"params": "A freshness rule needs max_age_hours, a positive number."}
    if kind == "volume":
        if not ({"min_rows", "max_rows", "max_change_percent"} & set(params)):
            return {"params": "A volume rule needs min_rows, max_rows or max_change_percent."}
        for name in ("min_rows", "max_rows", "history"):
            if name in params and not (
                _is_number(params[name]) and float(params[name]).is_integer() and params[name] >= 0
            ):
                return {"params": f"{name} is a whole number of rows, not {params[name]!r}."}
        if "max_change_percent" in params and not (
            _is_number(params["max_change_percent"]) and params["max_change_percent"] >= 0
        ):
            return {"params": f"max_change_percent is a number, not {params['max_change_percent']!r}."}
    if kind == "allowed_values" and not all(
        isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in params["values"]
    ):
        return {"params": "Allowed values are single values (texts or numbers)."}
    if kind == "custom_sql" and "timeout_seconds" in params:
        timeout, most = params["timeout_seconds"], max_timeout_seconds()
        if not (_is_number(timeout) and timeout > 0):
            return {"params": "timeout_seconds is a positive number of seconds."}
        if timeout > most:
            return {"params": f"timeout_seconds is at most {most:g} seconds (the platform's limit)."}
    if kind == "referential":
        return _referential_errors(rule, params)
    if kind == "custom_sql":
        sql_text = params.get("sql")
        problem = (
            custom_sql_problem(rule, sql_text)
            if isinstance(sql_text, str) and sql_text.strip()
            else "Write the SQL: one SELECT returning the failing rows."
        )
        if problem:
            return {"params": problem}
    return {}


def custom_sql_problem(rule, sql_text: str) -> str | None:
    """Why the SQL gate refuses a custom rule's SQL (one read-only SELECT over the data store's own schema,
    allow-listed functions), or None. Checked when the rule is saved and again before every run."""
    schema = (rule.entity.datastore.schema_name or None) if rule.entity_id else None
    return query_problem(sql_text, schema=schema, what="Custom SQL")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _referential_errors(rule, params: dict) -> dict[str, str]:
    ref_columns = params.get("ref_columns")
    if not params.get("ref_entity") or not isinstance(ref_columns, list) or not ref_columns:
        return {"params": "A referential rule needs ref_entity and ref_columns (the referenced key)."}
    if len(ref_columns) != len(rule.columns):
        return {"params": "ref_columns must pair up with the rule's columns."}
    if rule.entity_id:
        ref = Entity.objects.filter(datastore_id=rule.entity.datastore_id, name=params["ref_entity"]).first()
        if ref is None:
            return {
                "params": f"No entity '{params['ref_entity']}' in data store {rule.entity.datastore.name}."
            }
        missing = [c for c in ref_columns if not ref.columns.filter(name=c).exists()]
        if missing:
            return {"params": f"{ref.name} has no column {', '.join(missing)}."}
    return {}


@dataclass
class ImpliedRule:
    implied_key: str
    name: str
    kind: str
    columns: list[str]
    params: dict = field(default_factory=dict)
    description: str = ""


def _unique_keys_implied(entity: Entity, primary: list[str]) -> list[ImpliedRule]:
    """A uniqueness rule per unique index or UNIQUE constraint of two or more columns that covers every row
    (a partial index is unique only where its condition holds; one-column keys are the columns' own rule)."""
    implied = []
    for index in entity.indexes.filter(is_unique=True, condition="").prefetch_related(
        "index_columns__column"
    ):
        keys = [u for u in index.index_columns.all() if not u.included]
        names = [u.column.name for u in sorted(keys, key=lambda u: u.position)]
        if len(names) < 2 or names == primary:
            continue
        implied.append(
            ImpliedRule(
                f"unique:index:{index.name}",
                f"{index.name}_unique"[:150],
                "unique",
                names,
                description=f"({', '.join(names)}) is unique in the catalog ({index.name}).",
            )
        )
    return implied


def rules_implied(entity: Entity) -> list[ImpliedRule]:
    """The rules the catalog states for an entity's columns and keys."""
    columns = list(entity.columns.select_related("references__entity").order_by("position", "id"))
    implied: list[ImpliedRule] = []
    primary = [
        c.name
        for c in sorted((c for c in columns if c.primary_key_position), key=lambda c: c.primary_key_position)
    ]
    if primary:
        implied.append(
            ImpliedRule(
                "unique:pk",
                "primary_key_unique",
                "unique",
                primary,
                description="The primary key identifies one row.",
            )
        )
    implied += _unique_keys_implied(entity, primary)
    for column in columns:
        name = column.name
        if not column.nullable or column.primary_key_position:
            implied.append(
                ImpliedRule(
                    f"not_null:{name}",
                    f"{name}_not_null",
                    "not_null",
                    [name],
                    description=f"{name} is NOT NULL in the catalog.",
                )
            )
        if column.is_unique and not (primary == [name]):
            implied.append(
                ImpliedRule(
                    f"unique:{name}",
                    f"{name}_unique",
                    "unique",
                    [name],
                    description=f"{name} is unique in the catalog.",
                )
            )
        if column.references_id:
            ref = column.references
            implied.append(
                ImpliedRule(
                    f"references:{name}",
                    f"{name}_references_{ref.entity.name}"[:150],
                    "referential",
                    [name],
                    {"ref_entity": ref.entity.name, "ref_columns": [ref.name]},
                    description=f"{name} refers to {ref.entity.name}.{ref.name}.",
                )
            )
        if (column.min_value or column.max_value) and column.data_type in ORDERABLE:
            params = {k: v for k, v in (("min", column.min_value), ("max", column.max_value)) if v}
            implied.append(
                ImpliedRule(
                    f"range:{name}",
                    f"{name}_range",
                    "range",
                    [name],
                    params,
                    description=f"{name} is within the catalog's bounds.",
                )
            )
        if column.pattern:
            implied.append(
                ImpliedRule(
                    f"pattern:{name}",
                    f"{name}_pattern",
                    "pattern",
                    [name],
                    {"pattern": column.pattern},
                    description=f"{name} matches the catalog's pattern.",
                )
            )
        if column.allowed_values:
            implied.append(
                ImpliedRule(
                    f"allowed:{name}",
                    f"{name}_allowed_values",
                    "allowed_values",
                    [name],
                    {"values": [str(v) for v in column.allowed_values]},
                    description=f"{name} takes one of the catalog's values.",
                )
            )
    return implied


def _implied_plan(entity: Entity) -> list[tuple[str, object, ImpliedRule | None, str]]:
    """What syncing would do, without doing it: (create|update|delete, stored rule or None, spec, name)."""
    from quality.models import Rule

    wanted = {rule.implied_key: rule for rule in rules_implied(entity)}
    existing = {rule.implied_key: rule for rule in Rule.objects.filter(entity=entity, origin="catalog")}
    taken = set(Rule.objects.filter(entity=entity).exclude(origin="catalog").values_list("name", flat=True))
    # Deletions first, so a rule taking over a deleted one's name does not collide with it.
    plan = [("deleted", rule, None, rule.name) for key, rule in existing.items() if key not in wanted]
    for key, spec in wanted.items():
        rule = existing.get(key)
        name = spec.name
        suffix = 1
        while name in taken:  # a steward's rule already has the name: the implied one steps aside
            name = f"{spec.name}_catalog" + (str(suffix) if suffix > 1 else "")
            suffix += 1
        if rule is None:
            plan.append(("created", None, spec, name))
        elif (rule.kind, rule.columns, rule.params, rule.name) != (
            spec.kind,
            spec.columns,
            spec.params,
            name,
        ):
            plan.append(("updated", rule, spec, name))
    return plan


def rules_implied_pending(entity: Entity) -> dict[str, int]:
    """How many implied rules a sync would create, update and delete; reads only (for pages shown on GET)."""
    counts = {"created": 0, "updated": 0, "deleted": 0}
    for action, *_ in _implied_plan(entity):
        counts[action] += 1
    return counts


def rules_implied_sync(entity: Entity, *, user=None) -> dict[str, int]:
    """Create, update and delete the entity's catalog-origin rules to match the catalog; counts of each.

    A steward's tuning of an implied rule (threshold, severity, enabled) survives; its definition does not.
    Called before every check and by the explicit "Refresh implied rules" POST, never by a page view.
    """
    from catalog.services import catalog_object_save
    from quality.models import Rule

    counts = {"created": 0, "updated": 0, "deleted": 0}
    for action, rule, spec, name in _implied_plan(entity):
        counts[action] += 1
        if action == "deleted":
            rule._history_user = user
            rule.delete()
            continue
        if rule is None:
            rule = Rule(entity=entity, origin="catalog", implied_key=spec.implied_key)
        rule.kind, rule.columns, rule.params, rule.name = spec.kind, spec.columns, spec.params, name
        rule.description = spec.description
        catalog_object_save(obj=rule, user=user)
    return counts

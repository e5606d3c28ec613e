"""The rules the catalog implies without anyone writing them (what each kind needs is quality/kinds.py's).

The catalog already says which columns are NOT NULL, which keys are unique, what a foreign key points at,
and each column's range, pattern and allowed values. Those become rules of origin "catalog", kept in step
with the catalog before every check: their definition follows the catalog, while a steward's tuning
(threshold, severity, enabled) is kept.
"""

from dataclasses import dataclass, field

from catalog.models import Entity
from catalog.services import catalog_object_save
from quality.kinds import ORDERABLE
from quality.models import Rule

__all__ = [
    "ImpliedRule",
    "rules_implied",
    "rules_implied_pending",
    "rules_implied_preview",
    "rules_implied_sync",
]


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


def _implied_defined(rule, entity: Entity, spec: ImpliedRule, name: str):
    """The rule (a new one when None) given the definition the catalog implies; not saved."""
    if rule is None:
        rule = Rule(entity=entity, origin="catalog", implied_key=spec.implied_key)
    rule.kind, rule.columns, rule.params, rule.name = spec.kind, spec.columns, spec.params, name
    rule.description = spec.description
    return rule


def rules_implied_preview(entity: Entity) -> tuple[dict[str, int], list, list]:
    """What a sync would do, without writing: (counts of created, updated and deleted; the entity's implied
    rules as the sync would leave them, new ones unsaved; those of them it would save). Reads only."""
    counts = {"created": 0, "updated": 0, "deleted": 0}
    changed, gone = [], set()
    for action, rule, spec, name in _implied_plan(entity):
        counts[action] += 1
        if action == "deleted":
            gone.add(rule.pk)
        else:
            changed.append(_implied_defined(rule, entity, spec, name))
    touched = {rule.pk for rule in changed if rule.pk} | gone
    kept = [r for r in Rule.objects.filter(entity=entity, origin="catalog") if r.pk not in touched]
    for rule in kept:
        rule.entity = entity  # the definition checks read it: one object, not a query per rule
    return counts, kept + changed, changed


def rules_implied_sync(entity: Entity, *, user=None) -> dict[str, int]:
    """Create, update and delete the entity's catalog-origin rules to match the catalog; counts of each.

    A steward's tuning of an implied rule (threshold, severity, enabled) survives; its definition does not.
    Called before every check and by the explicit "Refresh implied rules" POST, never by a page view.
    """
    counts = {"created": 0, "updated": 0, "deleted": 0}
    for action, rule, spec, name in _implied_plan(entity):
        counts[action] += 1
        if action == "deleted":
            rule._history_user = user
            rule.delete()
            continue
        catalog_object_save(obj=_implied_defined(rule, entity, spec, name), user=user)
    return counts

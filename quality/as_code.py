"""Quality as code: the YAML form of a data store's rules, schedules and alert settings, written and applied.

`quality_export` gives a data store's configuration as a dict in the file's layout (`quality_yaml_dump` as
the YAML the `quality_export` command writes). Applying a file is three steps (quality/spec.py holds the
typed spec):
1. `quality_spec_from_yaml`: the file read into a spec, with its problems of shape and type (reads nothing);
2. `quality_plan`: the spec checked against the catalog and compared with what is stored: every problem with
   where it is (`entities.customer.rules[2].pattern: ...`) and every change in words. Reads, never writes;
3. `quality_spec_save`: the one service the command, the dry run and the tests call: plan, then (unless a
   dry run) save the plan all or nothing in one transaction through `catalog_object_save`, so the history
   names the applying user. A wrong file changes nothing. Custom SQL rules are created or rewritten only by
   a user with `quality.write_custom_sql`.

What a file states is the whole truth; what it leaves out is left as it is:
- `entities.<name>.rules` lists all the steward-written rules of that entity: a rule missing from the list is
  deleted. Rules are matched by name, so renaming one deletes it and creates another. A key left out of a
  rule takes its default (severity error, threshold 0, the kind's dimension, enabled).
- `entities.<name>.implied` holds the tuning (severity, threshold_percent, enabled) of the rules the catalog
  implies, by rule name; an implied rule it does not list goes back to the defaults. Their definitions
  follow the catalog and cannot be written here. They are brought in step with the catalog first.
- `schedules` lists all the data store's schedules (matched by entity and cron); `alerting` is its alert
  settings, `alerting: null` removes them.
- An entity, `schedules` or `alerting` the file leaves out is not touched.
The export writes every entity with both keys, the schedules and the alerting, so it is the whole truth of the
data store; implied rules appear only when their tuning differs from the defaults.
"""

import json
from dataclasses import dataclass, field
from typing import NamedTuple

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction

from catalog.models import DataStore, Entity
from catalog.services import catalog_object_save
from core.config_files import ConfigFileError, suggestion, validation_problems, yaml_dump, yaml_mapping_load
from core.config_files import FlowList as _Flow
from core.config_files import FlowMap as _FlowMap
from core.config_files import described as _described
from quality.choices import RuleOrigin
from quality.kinds import kind_runs_user_sql, rule_definition_problems
from quality.models import QualityAlerting, QualitySchedule, Rule
from quality.rules import rules_implied_preview, rules_implied_sync
from quality.spec import (
    ALERTING_REMOVED,
    RULE_FIELDS,
    TUNING_DEFAULTS,
    TUNING_KEYS,
    EntitySpec,
    QualitySpec,
    RuleSpec,
    ScheduleSpec,
    alerting_item,
    alerting_values,
    quality_spec_config,
    quality_spec_from_db,
    quality_spec_from_yaml,
    rule_item,
    rule_values,
    schedule_order,
    tuning_item,
    tuning_values,
)

__all__ = [
    "QualityConfigError",
    "QualityApplied",
    "QualityPlan",
    "quality_export",
    "quality_yaml_dump",
    "quality_yaml_load",
    "quality_plan",
    "quality_spec_errors",
    "quality_spec_save",
    "quality_apply_config",
]


class QualityConfigError(ConfigFileError):
    """A quality file that cannot be applied; `problems` lists each one as "location: what is wrong"."""

    what = "quality"


class QualityApplied(NamedTuple):
    """What applying a file did (or would do): objects created, updated, deleted, and the changes in words."""

    created: int
    updated: int
    deleted: int
    changes: list[str]


def quality_export(datastore: DataStore) -> dict:
    """The data store's quality configuration as plain data, in the file's layout and a stable order.

    The implied rules are those a check would bring in step with the catalog first; exporting writes nothing.
    """
    return quality_spec_config(quality_spec_from_db(datastore))


# YAML text ------------------------------------------------------------------------------------------------

HEADER = (
    "# Custodian quality rules of data store '{name}'. "
    "Apply with: python manage.py quality_apply FILE --user USERNAME\n"
)


def _rule_for_yaml(item: dict) -> dict:
    shown = dict(item)
    for key in ("columns", "values", "ref_columns"):
        if isinstance(shown.get(key), list):
            shown[key] = _Flow(shown[key])
    return shown


def _config_for_yaml(config: dict) -> dict:
    shown = dict(config)
    if shown.get("alerting") and "emails" in shown["alerting"]:
        shown["alerting"] = {**shown["alerting"], "emails": _Flow(shown["alerting"]["emails"])}
    shown["schedules"] = [_FlowMap(item) for item in shown["schedules"]]
    entities = {}
    for name, section in shown["entities"].items():
        rules = [_rule_for_yaml(item) for item in section["rules"]]
        implied = {rule: _FlowMap(tuning) for rule, tuning in section["implied"].items()}
        if not rules and not implied:
            entities[name] = _FlowMap(rules=_Flow(), implied=_FlowMap())
        else:
            entities[name] = {"rules": rules or _Flow(), "implied": implied or _FlowMap()}
    shown["entities"] = entities
    return shown


def quality_yaml_dump(datastore: DataStore) -> str:
    """The data store's quality configuration as a YAML file that `quality_apply` reads back unchanged."""
    return yaml_dump(_config_for_yaml(quality_export(datastore)), header=HEADER.format(name=datastore.name))


def quality_yaml_load(text: str) -> dict:
    """The dict of a quality YAML file; QualityConfigError saying where the YAML is broken."""
    return yaml_mapping_load(
        text,
        error=QualityConfigError,
        shape="a quality file is a mapping (datastore: ..., entities: ...)",
        one_per_file="give one data store per file",
    )


# Planning: the spec against the catalog and what is stored (reads only) -----------------------------------

# Where a model field's errors are reported in the file.
RULE_LOCATIONS = {name: name for name in RULE_FIELDS if name != "params"} | {"name": "name"}
SCHEDULE_LOCATIONS = {"cron": "cron", "entity": "entity", "enabled": "enabled"}
ALERTING_LOCATIONS = {"emails": "emails", "webhook_url": "webhook", "score_drop_points": "score_drop_points"}


def _located(exc: ValidationError, where: str, locations: dict, rule: Rule | None = None) -> list[str]:
    """A model's ValidationError as problems at their places in the file."""

    def locate(name: str, message: str) -> str:
        if name == "params" and rule is not None:
            # The kind's check says which parameter the problem is about (None: the rule as a whole).
            param = rule_definition_problems(rule).get("params", (None, ""))[0]
            return f"{where}.{param}" if param else where
        if name in locations and name != NON_FIELD_ERRORS:
            return f"{where}.{locations[name]}"
        return where

    return validation_problems(exc, locate)


def _shown(value) -> str:
    if value is None:
        return "none"
    return json.dumps(value, ensure_ascii=False, default=str)


def _differences(where: str, before: dict, after: dict) -> list[str]:
    return [
        f"{where}.{key}: {_shown(before.get(key))} → {_shown(after.get(key))}"
        for key in dict.fromkeys([*before, *after])
        if before.get(key) != after.get(key)
    ]


def _rule_words(rule: Rule) -> str:
    words = str(rule.kind) + (f" on {', '.join(rule.columns)}" if rule.columns else "")
    return f"{words}, severity {rule.severity}"


def _schedule_words(entity_name: str, cron: str) -> str:
    return f"{entity_name or 'every entity'} at {_shown(cron)}"


@dataclass
class _EntityWork:
    """What saving does to one entity: sync its implied rules, delete and save manual rules, tune."""

    entity: Entity
    synced: bool = False
    deleted: list[Rule] = field(default_factory=list)
    saved: list[tuple[Rule, str]] = field(default_factory=list)  # (rule, where)
    tunings: dict[str, tuple[dict, str]] = field(default_factory=dict)  # implied name -> (tuning, where)


@dataclass
class QualityPlan:
    """A spec checked and compared: its problems, and what saving it would write (created, updated and
    deleted objects, the changes in words). Nothing of it is saved yet."""

    store: DataStore | None = None
    problems: list[str] = field(default_factory=list)
    entities: list[_EntityWork] = field(default_factory=list)
    schedules_deleted: list[QualitySchedule] = field(default_factory=list)
    schedules_saved: list[tuple[QualitySchedule, str]] = field(default_factory=list)
    alerting_deleted: QualityAlerting | None = None
    alerting_saved: QualityAlerting | None = None
    created: int = 0
    updated: int = 0
    deleted: int = 0
    changes: list[str] = field(default_factory=list)

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    @property
    def applied(self) -> QualityApplied:
        return QualityApplied(self.created, self.updated, self.deleted, self.changes)


def quality_plan(spec: QualitySpec, *, user, lock: bool = False) -> QualityPlan:
    """The spec checked against the catalog and compared with what is stored: its problems (with where
    they are) and the changes saving it would make. Reads only; `lock` (inside a transaction) holds the data
    store, so two applies of one data store run one after the other."""
    plan = QualityPlan(problems=list(spec.problems))
    if not spec.datastore:
        return plan
    stores = DataStore.objects.select_for_update() if lock else DataStore.objects
    plan.store = stores.filter(name=spec.datastore).first()
    if plan.store is None:
        known = list(DataStore.objects.order_by("name").values_list("name", flat=True))
        plan.problem(
            "datastore",
            f"no data store '{spec.datastore}'{suggestion(spec.datastore, known)} "
            f"(known: {', '.join(known) or 'none'})",
        )
        return plan
    known = {e.name: e for e in Entity.objects.filter(datastore=plan.store)}
    for entity_spec in spec.entities:
        if entity_spec.name not in known:
            plan.problem(
                entity_spec.where,
                f"no entity '{entity_spec.name}' in data store '{plan.store.name}'"
                + suggestion(entity_spec.name, known),
            )
    for schedule in spec.schedules or []:
        if schedule.entity_name and schedule.entity_name not in known:
            plan.problem(
                f"{schedule.where}.entity",
                f"no entity '{schedule.entity_name}' in data store '{plan.store.name}'"
                + suggestion(schedule.entity_name, known),
            )
    for entity_spec in spec.entities:
        if entity_spec.name in known:
            _plan_entity(plan, entity_spec, known[entity_spec.name], user)
    if spec.schedules is not None:
        _plan_schedules(plan, spec.schedules, known)
    if spec.alerting is not None:
        _plan_alerting(plan, spec.alerting)
    return plan


def _plan_entity(plan: QualityPlan, spec: EntitySpec, entity: Entity, user) -> None:
    counts, implied_rules, changed = rules_implied_preview(entity)
    for rule in changed:
        # Names are unique by construction (a steward's rule keeps its name; the implied one steps aside)
        try:
            rule.full_clean(validate_unique=False, validate_constraints=False)
        except ValidationError as exc:  # the catalog states something no rule can check as written
            plan.problems += [
                f"{spec.where}.implied: the catalog implies a rule that cannot be saved ({message}); "
                "fix the catalog"
                for message in exc.messages
            ]
            return
    work = _EntityWork(entity, synced=any(counts.values()))
    plan.entities.append(work)
    if work.synced:
        plan.changes.append(
            f"{spec.where}.implied: first brought in step with the catalog ({counts['created']} created, "
            f"{counts['updated']} updated, {counts['deleted']} deleted)"
        )
    implied = {rule.name: rule for rule in implied_rules}
    if spec.rules is not None:
        manual = Rule.objects.filter(entity=entity, origin=RuleOrigin.MANUAL).select_related(
            "entity__datastore"
        )
        _plan_rules(plan, work, spec, {r.name: r for r in manual}, implied, user)
    if spec.implied is not None:
        _plan_tuning(plan, work, spec, implied)


def _may_write_sql(user) -> bool:
    return user is not None and user.has_perm("quality.write_custom_sql")


def _sql_refusal(spec: RuleSpec, user) -> str:
    if user is None:
        return (
            f"{spec.where}: custom SQL rule '{spec.name}' can only be written by a user with the permission "
            "quality.write_custom_sql; no user was given"
        )
    return (
        f"{spec.where}: custom SQL rule '{spec.name}' needs the permission quality.write_custom_sql, which "
        f"user '{user.get_username()}' does not have"
    )


def _rule_differs(rule: Rule, values: dict) -> bool:
    return any(getattr(rule, name) != values[name] for name in RULE_FIELDS)


def _plan_rules(plan: QualityPlan, work: _EntityWork, spec: EntitySpec, manual: dict, implied: dict, user):
    """Delete the manual rules the file lacks, then create or update the rest."""
    wanted = {rule_spec.name for rule_spec in spec.rules}
    for name, rule in manual.items():
        if name not in wanted:
            work.deleted.append(rule)
            plan.deleted += 1
            plan.changes.append(f"{spec.where}.rules.{name}: deleted (not in the file)")
    for rule_spec in spec.rules:
        if rule_spec.broken:
            continue
        values = rule_spec.values
        if rule_spec.name in implied:
            plan.problem(
                f"{rule_spec.where}.name",
                f"'{rule_spec.name}' is the name of a rule the catalog implies; give this rule another name "
                f"(tune the implied one under {spec.where}.implied)",
            )
            continue
        rule = manual.get(rule_spec.name)
        if rule is not None and not _rule_differs(rule, values):
            continue
        writes_sql = kind_runs_user_sql(values["kind"]) and (
            rule is None or rule.kind != values["kind"] or rule.params != values["params"]
        )
        if writes_sql and not _may_write_sql(user):
            plan.problems.append(_sql_refusal(rule_spec, user))
            continue
        before = rule_item(rule_values(rule), full=True) if rule is not None else None
        rule = rule or Rule(entity=work.entity, name=rule_spec.name)
        for name in RULE_FIELDS:
            setattr(rule, name, values[name])
        try:
            rule.full_clean()
        except ValidationError as exc:
            plan.problems += _located(exc, rule_spec.where, RULE_LOCATIONS, rule)
            continue
        work.saved.append((rule, rule_spec.where))
        where = f"{spec.where}.rules.{rule.name}"
        if before is None:
            plan.created += 1
            plan.changes.append(f"{where}: created ({_rule_words(rule)})")
        else:
            plan.updated += 1
            plan.changes += _differences(where, before, rule_item(rule_values(rule), full=True))


def _plan_tuning(plan: QualityPlan, work: _EntityWork, spec: EntitySpec, implied: dict) -> None:
    """Set each implied rule's tuning to the file's, or to the defaults when the file does not list it."""
    for name, tuning in spec.implied.items():
        if name not in implied:
            listed = ", ".join(sorted(implied)) or "none"
            plan.problem(
                tuning.where,
                f"no rule the catalog implies is named '{name}'{suggestion(name, implied)} "
                f"(implied rules of {work.entity.name}: {listed})",
            )
    for name, rule in sorted(implied.items()):
        listed = spec.implied.get(name)
        tuning = listed.values if listed else TUNING_DEFAULTS
        if all(getattr(rule, key) == tuning[key] for key in TUNING_KEYS):
            continue
        before = tuning_item(tuning_values(rule), full=True)
        for key in TUNING_KEYS:
            setattr(rule, key, tuning[key])
        location = listed.where if listed else f"{spec.where}.implied.{name}"
        try:
            rule.full_clean(validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            plan.problems += _located(exc, location, RULE_LOCATIONS)
            continue
        work.tunings[name] = (tuning, location)
        plan.updated += 1
        plan.changes += _differences(
            f"{spec.where}.implied.{name}", before, tuning_item(tuning_values(rule), full=True)
        )


def _plan_schedules(plan: QualityPlan, specs: list[ScheduleSpec], known: dict) -> None:
    """Delete the schedules the file lacks (matched by entity and cron), then add or switch the rest."""
    existing: dict[tuple, QualitySchedule] = {}
    wanted = {spec.key for spec in specs}
    stored = plan.store.quality_schedules.select_related("entity")
    for schedule in sorted(stored, key=schedule_order):
        key = (schedule.entity.name if schedule.entity_id else "", " ".join(schedule.cron.split()))
        if key in wanted and key not in existing:
            existing[key] = schedule
            continue
        plan.schedules_deleted.append(schedule)
        plan.deleted += 1
        plan.changes.append(f"schedules: removed {_schedule_words(*key)}")
    for spec in specs:
        if spec.entity_name and spec.entity_name not in known:
            continue  # reported with the other names
        schedule = existing.get(spec.key)
        if schedule is not None and schedule.enabled == spec.enabled:
            continue
        created = schedule is None
        if created:
            schedule = QualitySchedule(
                datastore=plan.store, entity=known.get(spec.entity_name), cron=spec.cron
            )
        schedule.enabled = spec.enabled
        try:
            schedule.full_clean()
        except ValidationError as exc:
            plan.problems += _located(exc, spec.where, SCHEDULE_LOCATIONS)
            continue
        plan.schedules_saved.append((schedule, spec.where))
        words = _schedule_words(spec.entity_name, spec.cron)
        if created:
            plan.created += 1
            plan.changes.append(f"schedules: added {words}" + ("" if spec.enabled else " (disabled)"))
        else:
            plan.updated += 1
            plan.changes.append(f"schedules: {words} {'enabled' if spec.enabled else 'disabled'}")


def _plan_alerting(plan: QualityPlan, values) -> None:
    alerting = QualityAlerting.objects.filter(datastore=plan.store).first()
    if values == ALERTING_REMOVED:
        if alerting is not None:
            plan.alerting_deleted = alerting
            plan.deleted += 1
            plan.changes.append("alerting: removed")
        return
    if alerting is not None and (
        alerting.email_list == [a.strip() for a in values["emails"].split(",") if a.strip()]
        and alerting.webhook_url == values["webhook_url"]
        and alerting.score_drop_points == values["score_drop_points"]
    ):
        return
    before = alerting_item(alerting_values(alerting)) if alerting is not None else None
    alerting = alerting or QualityAlerting(datastore=plan.store)
    for name, value in values.items():
        setattr(alerting, name, value)
    try:
        alerting.full_clean()
    except ValidationError as exc:
        plan.problems += _located(exc, "alerting", ALERTING_LOCATIONS)
        return
    plan.alerting_saved = alerting
    after = alerting_item(alerting_values(alerting))
    if before is None:
        plan.created += 1
        plan.changes.append(f"alerting: created ({_shown(after)})")
    else:
        plan.updated += 1
        plan.changes += _differences("alerting", before, after)


# Saving ---------------------------------------------------------------------------------------------------


def _saved(obj, user, where: str, locations: dict) -> list[str]:
    """Save one planned object; its problems (someone changed it meanwhile, say) instead of raising."""
    try:
        catalog_object_save(obj=obj, user=user)
    except ValidationError as exc:
        return _located(exc, where, locations)
    return []


def _deleted(obj, user) -> None:
    obj._history_user = user
    obj.delete()


def _plan_save(plan: QualityPlan, user) -> list[str]:
    """Write what the plan says, in its order; the problems met (none unless something changed meanwhile)."""
    problems: list[str] = []
    for work in plan.entities:
        if work.synced:
            try:
                rules_implied_sync(work.entity, user=user)
            except ValidationError as exc:  # checked by the plan; only a change meanwhile gets here
                problems += _located(exc, f"entities.{work.entity.name}.implied", {})
                continue
        for rule in work.deleted:
            _deleted(rule, user)
        for rule, where in work.saved:
            problems += _saved(rule, user, where, RULE_LOCATIONS)
        if work.tunings:
            implied = {r.name: r for r in Rule.objects.filter(entity=work.entity, origin=RuleOrigin.CATALOG)}
            for name, (tuning, where) in work.tunings.items():
                rule = implied[name]
                for key in TUNING_KEYS:
                    setattr(rule, key, tuning[key])
                problems += _saved(rule, user, where, RULE_LOCATIONS)
    for schedule in plan.schedules_deleted:
        _deleted(schedule, user)
    for schedule, where in plan.schedules_saved:
        problems += _saved(schedule, user, where, SCHEDULE_LOCATIONS)
    if plan.alerting_deleted is not None:
        _deleted(plan.alerting_deleted, user)
    if plan.alerting_saved is not None:
        problems += _saved(plan.alerting_saved, user, "alerting", ALERTING_LOCATIONS)
    return problems


class _Rollback(Exception):
    pass


def quality_spec_errors(spec: QualitySpec, *, user) -> list[str]:
    """Every problem of the spec, each with its location in the file; reads the catalog, writes nothing."""
    return quality_plan(spec, user=user).problems


def quality_spec_save(*, spec: QualitySpec, user, dry_run: bool = False) -> QualityApplied:
    """Make the data store's quality configuration match the spec; what was created, updated and deleted.

    Planned first (checked, compared, nothing written); QualityConfigError lists every problem with its
    location. A dry run stops there. Otherwise the plan is made again under a lock on the data store (the
    second of two applies waits, then sees the first one's rules) and saved all or nothing, through
    `catalog_object_save` with `user`, so the history names them; what already matches is not saved, so
    saving the same spec twice writes no history. Custom SQL rules can only be created or have their SQL
    changed by a user with `quality.write_custom_sql`.
    """
    plan = quality_plan(spec, user=user)
    if plan.problems:
        raise QualityConfigError(plan.problems)
    if dry_run or not (plan.changes or any(work.synced for work in plan.entities)):
        return plan.applied
    try:
        with transaction.atomic():
            plan = quality_plan(spec, user=user, lock=True)
            problems = plan.problems or _plan_save(plan, user)
            if problems:
                raise _Rollback(problems)
    except _Rollback as rollback:
        raise QualityConfigError(rollback.args[0]) from None
    return plan.applied


def quality_apply_config(config: dict, *, user, dry_run: bool = False) -> QualityApplied:
    """Read a quality file's mapping and save it (`quality_spec_save`); QualityConfigError lists every
    problem with its location, and nothing is changed."""
    if not isinstance(config, dict):
        raise QualityConfigError([f"file: it holds {_described(config)}; a quality file is a mapping."])
    return quality_spec_save(spec=quality_spec_from_yaml(config), user=user, dry_run=dry_run)

"""Quality as code: the YAML form of a data store's rules, schedules and alert settings, written and applied.

`quality_export` gives a data store's configuration as a dict in the file's layout (`quality_yaml_dump` as
the YAML the `quality_export` command writes); `quality_apply_config` makes the configuration match such a
dict, all or nothing in one transaction, saving through `catalog_object_save` so the history names the
applying user. A wrong file changes nothing and every problem is listed with where it is
(`entities.customer.rules[2].pattern: ...`). Custom SQL rules are created or rewritten only by a user with
`quality.write_custom_sql`.

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
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

import yaml
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction

from catalog.models import DataStore, Entity
from catalog.services import catalog_object_save
from core.config_files import ConfigFileError, ProblemReader, yaml_mapping_load
from core.config_files import FlowList as _Flow
from core.config_files import FlowMap as _FlowMap
from core.config_files import YamlDumper as _Dumper
from core.config_files import described as _described
from core.config_files import suggestion as _suggestion
from quality.choices import KIND_DIMENSIONS, Dimension, RuleKind, RuleOrigin, Severity
from quality.models import QualityAlerting, QualitySchedule, Rule
from quality.rules import rules_implied_sync

__all__ = [
    "QualityConfigError",
    "QualityApplied",
    "quality_export",
    "quality_yaml_dump",
    "quality_yaml_load",
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


# The file's vocabulary ------------------------------------------------------------------------------------

TOP_KEYS = ["datastore", "alerting", "schedules", "entities"]
ENTITY_KEYS = ["rules", "implied"]
RULE_KEYS = [
    "name",
    "kind",
    "columns",
    "severity",
    "threshold_percent",
    "dimension",
    "enabled",
    "description",
]
# Each kind's parameters, written flat in the rule's mapping, in the order the export writes them.
PARAM_KEYS = {
    RuleKind.NOT_NULL: [],
    RuleKind.UNIQUE: [],
    RuleKind.PATTERN: ["pattern"],
    RuleKind.RANGE: ["min", "max"],
    RuleKind.ALLOWED_VALUES: ["values"],
    RuleKind.REFERENTIAL: ["ref_entity", "ref_columns"],
    RuleKind.FRESHNESS: ["max_age_hours"],
    RuleKind.VOLUME: ["min_rows", "max_rows", "max_change_percent", "history"],
    RuleKind.CUSTOM_SQL: ["sql", "timeout_seconds"],
}
ALL_PARAMS = [key for keys in PARAM_KEYS.values() for key in keys]
PARAM_TYPES = {
    "pattern": "text",
    "min": "bound",
    "max": "bound",
    "values": "values",
    "ref_entity": "text",
    "ref_columns": "names",
    "max_age_hours": "number",
    "min_rows": "whole",
    "max_rows": "whole",
    "max_change_percent": "number",
    "history": "whole",
    "sql": "text",
    "timeout_seconds": "number",
}
TUNING_KEYS = ["severity", "threshold_percent", "enabled"]
TUNING_DEFAULTS = {"severity": Severity.ERROR, "threshold_percent": Decimal(0), "enabled": True}
SCHEDULE_KEYS = ["entity", "cron", "enabled"]
ALERTING_KEYS = ["emails", "webhook", "score_drop_points"]
ALERTING_DEFAULT_POINTS = 10
YAML_WORDS_HINT = " (quote words such as NULL, yes, no, on and off: YAML reads them as null or booleans)"


def _default_dimension(kind: str) -> str:
    return KIND_DIMENSIONS.get(kind, Dimension.VALIDITY)


def _number(value):
    """A Decimal or float as YAML shows it best: 1 rather than 1.000, 0.5 rather than Decimal('0.500')."""
    if isinstance(value, Decimal | float) and value == int(value):
        return int(value)
    return float(value) if isinstance(value, Decimal) else value


# Export ---------------------------------------------------------------------------------------------------


def _rule_config(rule: Rule, *, full: bool = False) -> dict:
    """A manual rule in the file's layout; without `full`, keys holding their default are left out."""
    item: dict = {"name": rule.name, "kind": str(rule.kind)}
    if rule.columns or full:
        item["columns"] = list(rule.columns)
    params = rule.params or {}
    for key in PARAM_KEYS.get(rule.kind, []) + sorted(set(params) - set(PARAM_KEYS.get(rule.kind, []))):
        if key in params:
            item[key] = params[key]
    item["severity"] = str(rule.severity)
    if rule.threshold_percent or full:
        item["threshold_percent"] = _number(rule.threshold_percent)
    if (rule.dimension and rule.dimension != _default_dimension(rule.kind)) or full:
        item["dimension"] = str(rule.dimension or _default_dimension(rule.kind))
    if not rule.enabled or full:
        item["enabled"] = rule.enabled
    if rule.description or full:
        item["description"] = rule.description
    return item


def _tuning_config(rule: Rule, *, full: bool = False) -> dict:
    """An implied rule's tuning; without `full`, only what differs from the defaults."""
    tuning = {"severity": str(rule.severity), "threshold_percent": _number(rule.threshold_percent)}
    tuning["enabled"] = rule.enabled
    if full:
        return tuning
    return {key: value for key, value in tuning.items() if value != TUNING_DEFAULTS[key]}


def _schedule_config(schedule: QualitySchedule) -> dict:
    item: dict = {"entity": schedule.entity.name} if schedule.entity_id else {}
    item["cron"] = schedule.cron
    if not schedule.enabled:
        item["enabled"] = False
    return item


def _alerting_config(alerting: QualityAlerting) -> dict:
    item: dict = {}
    if alerting.email_list:
        item["emails"] = alerting.email_list
    if alerting.webhook_url:
        item["webhook"] = alerting.webhook_url
    item["score_drop_points"] = _number(alerting.score_drop_points)
    return item


def _schedule_order(schedule: QualitySchedule) -> tuple:
    return (schedule.entity.name if schedule.entity_id else "", schedule.cron, schedule.pk)


def quality_export(datastore: DataStore) -> dict:
    """The data store's quality configuration as plain data, in the file's layout and a stable order.

    The implied rules are brought in step with the catalog first, as a check would, inside a transaction
    that is rolled back: exporting writes nothing.
    """
    with transaction.atomic():
        entities = list(Entity.objects.filter(datastore=datastore).order_by("name"))
        for entity in entities:
            rules_implied_sync(entity)
        config = _export(datastore, entities)
        transaction.set_rollback(True)
    return config


def _export(datastore: DataStore, entities: list[Entity]) -> dict:
    alerting = QualityAlerting.objects.filter(datastore=datastore).first()
    schedules = sorted(
        QualitySchedule.objects.filter(datastore=datastore).select_related("entity"), key=_schedule_order
    )
    rules = Rule.objects.filter(entity__datastore=datastore).order_by("name")
    by_entity: dict[int, list[Rule]] = {}
    for rule in rules:
        by_entity.setdefault(rule.entity_id, []).append(rule)
    sections = {}
    for entity in entities:
        own = by_entity.get(entity.pk, [])
        implied = {r.name: _tuning_config(r) for r in own if r.origin == RuleOrigin.CATALOG}
        sections[entity.name] = {
            "rules": [_rule_config(r) for r in own if r.origin == RuleOrigin.MANUAL],
            "implied": {name: tuning for name, tuning in implied.items() if tuning},
        }
    return {
        "datastore": datastore.name,
        "alerting": _alerting_config(alerting) if alerting else None,
        "schedules": [_schedule_config(s) for s in schedules],
        "entities": sections,
    }


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
    body = yaml.dump(
        _config_for_yaml(quality_export(datastore)),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=110,
    )
    return HEADER.format(name=datastore.name) + body


def quality_yaml_load(text: str) -> dict:
    """The dict of a quality YAML file; QualityConfigError saying where the YAML is broken."""
    return yaml_mapping_load(
        text,
        error=QualityConfigError,
        shape="a quality file is a mapping (datastore: ..., entities: ...)",
        one_per_file="give one data store per file",
    )


# Reading a config -----------------------------------------------------------------------------------------


_REMOVE = object()  # `alerting: null`


@dataclass
class RuleSpec:
    """One manual rule as read from the file: its model field values; `broken` when reading found problems."""

    where: str
    values: dict
    broken: bool = False

    @property
    def name(self) -> str:
        return self.values["name"]


@dataclass
class EntitySpec:
    """What the file says about one entity; None for a key it leaves out (left as it is)."""

    where: str
    entity: Entity | None
    rules: list[RuleSpec] | None = None
    implied: dict[str, tuple[str, dict]] | None = None


@dataclass
class ScheduleSpec:
    """One schedule as read from the file; it is matched to a stored one by entity and cron."""

    where: str
    entity: Entity | None
    entity_name: str
    cron: str
    enabled: bool

    @property
    def key(self) -> tuple[str, str]:
        return self.entity_name, " ".join(self.cron.split())


@dataclass
class _Reader(ProblemReader):
    """Reads a config dict into specs, collecting every problem with its location."""

    config: dict
    problems: list[str] = field(default_factory=list)
    store: DataStore | None = None
    entities: list[EntitySpec] = field(default_factory=list)
    schedules: list[ScheduleSpec] | None = None
    alerting: object = None  # None: left out; _REMOVE; or a dict of model field values

    # -- typed access ------------------------------------------------------------------------------------

    def unknown_keys(self, section: dict, allowed, prefix: str) -> None:
        for key in section:
            if key not in allowed:
                where = f"{prefix}.{key}" if prefix else str(key)
                known = ", ".join(allowed)
                self.problem(where, f"unknown key{_suggestion(key, allowed)}; known keys: {known}")

    def mapping(self, value, where: str, shape: str) -> dict | None:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(where, f"must be a mapping ({shape}), not {_described(value)}")
            return None
        return value

    def number(self, section: dict, key: str, where: str, default, *, whole=False):
        value = section.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int if whole else int | float):
            kind = "a whole number" if whole else "a number"
            self.problem(where, f"must be {kind}, not {_described(value)}")
            return default
        return value

    def percent(self, section: dict, key: str, where: str) -> Decimal:
        value = self.number(section, key, where, 0)
        try:
            percent = Decimal(str(value))
        except InvalidOperation:
            percent = Decimal("NaN")
        if not percent.is_finite():  # YAML's .inf and .nan
            self.problem(where, f"must be a number from 0 to 100, not {value}")
            return Decimal(0)
        return percent

    def text_list(self, section: dict, key: str, where: str, *, scalars=False) -> list:
        value = section.get(key, [])
        if value is None:
            return []
        accepted = str | int | float if scalars else str
        what = "text or numbers" if scalars else "text"
        if not isinstance(value, list):
            self.problem(where, f"must be a list of {what}, not {_described(value)}")
            return []
        for item in value:
            if isinstance(item, bool) or not isinstance(item, accepted):
                hint = YAML_WORDS_HINT if item is None or isinstance(item, bool) else ""
                self.problem(where, f"must be a list of {what}; it holds {_described(item)}{hint}")
                return []
        return value

    def choice(self, section: dict, key: str, where: str, choices, default: str | None) -> str | None:
        value = section.get(key, default)
        if value is None and default is None:
            self.problem(where, f"missing; one of {', '.join(choices.values)}")
            return None
        if value not in choices.values:
            self.problem(
                where,
                f"{value!r} is not one of {', '.join(choices.values)}{_suggestion(value, choices.values)}",
            )
            return default
        return value

    # -- the file ----------------------------------------------------------------------------------------

    def read(self) -> None:
        config = self.config
        self.unknown_keys(config, TOP_KEYS, "")
        self.store = self._datastore(config)
        if self.store is None:
            return
        if "alerting" in config:
            self.alerting = self._alerting(config["alerting"])
        if "schedules" in config:
            self.schedules = self._schedules(config["schedules"])
        self._entities(config.get("entities"))

    def _datastore(self, config: dict) -> DataStore | None:
        name = self.text(config, "datastore", "datastore", required=True)
        if not name:
            return None
        store = DataStore.objects.filter(name=name).first()
        if store is None:
            known = list(DataStore.objects.order_by("name").values_list("name", flat=True))
            self.problem(
                "datastore",
                f"no data store '{name}'{_suggestion(name, known)} (known: {', '.join(known) or 'none'})",
            )
        return store

    def _alerting(self, value):
        if value is None:
            return _REMOVE
        section = self.mapping(value, "alerting", "emails, webhook, score_drop_points")
        if section is None:
            return None
        self.unknown_keys(section, ALERTING_KEYS, "alerting")
        emails = section.get("emails")
        if isinstance(emails, str):  # one address, or several separated by commas
            emails = [address.strip() for address in emails.split(",") if address.strip()]
        emails = self.text_list({"emails": emails}, "emails", "alerting.emails")
        return {
            "emails": ", ".join(emails),
            "webhook_url": self.text(section, "webhook", "alerting.webhook").strip(),
            "score_drop_points": float(
                self.number(
                    section, "score_drop_points", "alerting.score_drop_points", ALERTING_DEFAULT_POINTS
                )
            ),
        }

    def _schedules(self, value) -> list[ScheduleSpec]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem("schedules", f"must be a list of schedules ({{cron: ...}}), not {_described(value)}")
            return []
        known = {e.name: e for e in Entity.objects.filter(datastore=self.store)}
        specs: list[ScheduleSpec] = []
        seen: dict[tuple, int] = {}
        for index, item in enumerate(value):
            where = f"schedules[{index}]"
            if not isinstance(item, dict):
                self.problem(where, f"must be a mapping (entity: ..., cron: ...), not {_described(item)}")
                continue
            self.unknown_keys(item, SCHEDULE_KEYS, where)
            entity_name = self.text(item, "entity", f"{where}.entity")
            entity = known.get(entity_name) if entity_name else None
            if entity_name and entity is None:
                self.problem(
                    f"{where}.entity",
                    f"no entity '{entity_name}' in data store '{self.store.name}'"
                    + _suggestion(entity_name, known),
                )
            cron = self.text(item, "cron", f"{where}.cron", required=True).strip()
            spec = ScheduleSpec(
                where, entity, entity_name, cron, self.flag(item, "enabled", f"{where}.enabled", True)
            )
            if not cron:
                continue
            if spec.key in seen:
                self.problem(where, f"the same schedule as schedules[{seen[spec.key]}]")
                continue
            seen[spec.key] = index
            specs.append(spec)
        return specs

    def _entities(self, value) -> None:
        section = self.mapping(value, "entities", "entity names, each with rules and implied")
        if not section:
            return
        known = {e.name: e for e in Entity.objects.filter(datastore=self.store)}
        for name, body in section.items():
            where = f"entities.{name}"
            entity = known.get(name)
            if entity is None:
                self.problem(
                    where, f"no entity '{name}' in data store '{self.store.name}'{_suggestion(name, known)}"
                )
            body = self.mapping(body, where, "rules, implied")
            if body is None:
                continue
            self.unknown_keys(body, ENTITY_KEYS, where)
            spec = EntitySpec(where, entity)
            if "rules" in body:
                spec.rules = self._rules(body["rules"], f"{where}.rules")
            if "implied" in body:
                spec.implied = self._implied(body["implied"], f"{where}.implied")
            if entity is not None:
                self.entities.append(spec)

    def _rules(self, value, where: str) -> list[RuleSpec]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(where, f"must be a list of rules (- name: ..., kind: ...), not {_described(value)}")
            return []
        specs: list[RuleSpec] = []
        seen: dict[str, int] = {}
        for index, item in enumerate(value):
            location = f"{where}[{index}]"
            if not isinstance(item, dict):
                self.problem(location, f"must be a mapping (name: ..., kind: ...), not {_described(item)}")
                continue
            before = len(self.problems)
            spec = RuleSpec(location, self._rule(item, location))
            spec.broken = len(self.problems) > before
            if spec.name in seen:
                self.problem(
                    f"{location}.name", f"'{spec.name}' appears twice (also {where}[{seen[spec.name]}])"
                )
                continue
            if spec.name:
                seen[spec.name] = index
            specs.append(spec)
        return specs

    def _rule(self, item: dict, where: str) -> dict:
        kind = self.choice(item, "kind", f"{where}.kind", RuleKind, None)
        takes = PARAM_KEYS[kind] if kind else ALL_PARAMS
        for key in item:
            if key in RULE_KEYS or key in takes:
                continue
            if key in ALL_PARAMS:
                listed = ", ".join(takes) or "no parameters"
                self.problem(f"{where}.{key}", f"a {kind} rule does not take {key} (it takes {listed})")
            else:
                self.unknown_keys({key: None}, RULE_KEYS + takes, where)
        params = {}
        for key in takes:
            if item.get(key) is not None:
                params[key] = self._param(item[key], key, f"{where}.{key}")
        return {
            "name": self.text(item, "name", f"{where}.name", required=True).strip(),
            "kind": kind or "",
            "columns": self.text_list(item, "columns", f"{where}.columns"),
            "params": params,
            "severity": self.choice(item, "severity", f"{where}.severity", Severity, Severity.ERROR),
            "threshold_percent": self.percent(item, "threshold_percent", f"{where}.threshold_percent"),
            "dimension": self.choice(
                item, "dimension", f"{where}.dimension", Dimension, _default_dimension(kind or "")
            ),
            "enabled": self.flag(item, "enabled", f"{where}.enabled", True),
            "description": self.text(item, "description", f"{where}.description"),
        }

    def _param(self, value, key: str, where: str):
        kind = PARAM_TYPES[key]
        if kind == "text":
            return self.text({key: value}, key, where)
        if kind == "bound":
            if isinstance(value, datetime | date | time):
                return value.isoformat()  # YAML reads 2024-01-01 as a date; the rule keeps its text
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                self.problem(where, f"must be a number, a date or text, not {_described(value)}")
            return value
        if kind in ("values", "names"):
            return self.text_list({key: value}, key, where, scalars=kind == "values")
        number = self.number({key: value}, key, where, None, whole=kind == "whole")
        if kind == "whole" and number is not None and number < 0:
            self.problem(where, f"must be 0 or more, not {number}")
        return number

    def _implied(self, value, where: str) -> dict[str, tuple[str, dict]]:
        section = self.mapping(value, where, "implied rule names, each with its tuning")
        tunings: dict[str, tuple[str, dict]] = {}
        for name, body in (section or {}).items():
            location = f"{where}.{name}"
            body = self.mapping(body, location, "severity, threshold_percent, enabled")
            if body is None:
                continue
            for key in body:
                if key in TUNING_KEYS:
                    continue
                if key in RULE_KEYS or key in ALL_PARAMS:
                    self.problem(
                        f"{location}.{key}",
                        "the catalog defines the rules it implies; only severity, threshold_percent and "
                        "enabled can be tuned here (change the catalog, or write a rule of your own)",
                    )
                else:
                    self.unknown_keys({key: None}, TUNING_KEYS, location)
            tunings[str(name)] = (
                location,
                {
                    "severity": self.choice(
                        body, "severity", f"{location}.severity", Severity, Severity.ERROR
                    ),
                    "threshold_percent": self.percent(
                        body, "threshold_percent", f"{location}.threshold_percent"
                    ),
                    "enabled": self.flag(body, "enabled", f"{location}.enabled", True),
                },
            )
        return tunings


# Applying -------------------------------------------------------------------------------------------------

RULE_FIELDS = [
    "kind",
    "columns",
    "params",
    "severity",
    "threshold_percent",
    "dimension",
    "enabled",
    "description",
]
# Where a model field's errors are reported in the file.
RULE_LOCATIONS = {name: name for name in RULE_FIELDS if name != "params"} | {"name": "name"}
SCHEDULE_LOCATIONS = {"cron": "cron", "entity": "entity", "enabled": "enabled"}
ALERTING_LOCATIONS = {"emails": "emails", "webhook_url": "webhook", "score_drop_points": "score_drop_points"}
# The parameter a kind's parameter errors are about (range and volume: the rule as a whole).
PARAM_LOCATIONS = {
    RuleKind.PATTERN: "pattern",
    RuleKind.ALLOWED_VALUES: "values",
    RuleKind.FRESHNESS: "max_age_hours",
    RuleKind.CUSTOM_SQL: "sql",
}


def _params_location(where: str, kind: str, message: str) -> str:
    if kind == RuleKind.REFERENTIAL:
        if message.startswith("No entity"):
            return f"{where}.ref_entity"
        if "ref_columns must" in message or "has no column" in message:
            return f"{where}.ref_columns"
        return where
    return f"{where}.{PARAM_LOCATIONS[kind]}" if kind in PARAM_LOCATIONS else where


def _validation_problems(exc: ValidationError, where: str, locations: dict, kind: str = "") -> list[str]:
    if not hasattr(exc, "error_dict"):
        return [f"{where}: {message}" for message in exc.messages]
    problems = []
    for name, messages in exc.message_dict.items():
        for message in messages:
            if name == "params":
                location = _params_location(where, kind, message)
            elif name in locations and name != NON_FIELD_ERRORS:
                location = f"{where}.{locations[name]}"
            else:
                location = where
            problems.append(f"{location}: {message}")
    return problems


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


@dataclass
class _Tally:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    changes: list[str] = field(default_factory=list)


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


def _apply_rules(spec: EntitySpec, manual: dict, implied: dict, user, reader: _Reader, tally: _Tally) -> None:
    """Delete the manual rules the file lacks, then create or update the rest."""
    wanted = {rule_spec.name for rule_spec in spec.rules}
    for name, rule in manual.items():
        if name not in wanted:
            rule._history_user = user
            rule.delete()
            tally.deleted += 1
            tally.changes.append(f"{spec.where}.rules.{name}: deleted (not in the file)")
    for rule_spec in spec.rules:
        if rule_spec.broken:
            continue
        values = rule_spec.values
        if rule_spec.name in implied:
            reader.problem(
                f"{rule_spec.where}.name",
                f"'{rule_spec.name}' is the name of a rule the catalog implies; give this rule another name "
                f"(tune the implied one under {spec.where}.implied)",
            )
            continue
        rule = manual.get(rule_spec.name)
        if rule is not None and not _rule_differs(rule, values):
            continue
        writes_sql = values["kind"] == RuleKind.CUSTOM_SQL and (
            rule is None or rule.kind != values["kind"] or rule.params != values["params"]
        )
        if writes_sql and not _may_write_sql(user):
            reader.problems.append(_sql_refusal(rule_spec, user))
            continue
        before = _rule_config(rule, full=True) if rule is not None else None
        rule = rule or Rule(entity=spec.entity, name=rule_spec.name)
        for name in RULE_FIELDS:
            setattr(rule, name, values[name])
        try:
            catalog_object_save(obj=rule, user=user)
        except ValidationError as exc:
            reader.problems += _validation_problems(exc, rule_spec.where, RULE_LOCATIONS, values["kind"])
            continue
        where = f"{spec.where}.rules.{rule.name}"
        if before is None:
            tally.created += 1
            tally.changes.append(f"{where}: created ({_rule_words(rule)})")
        else:
            tally.updated += 1
            tally.changes += _differences(where, before, _rule_config(rule, full=True))


def _apply_tuning(spec: EntitySpec, implied: dict, user, reader: _Reader, tally: _Tally) -> None:
    """Set each implied rule's tuning to the file's, or to the defaults when the file does not list it."""
    for name, (location, _tuning) in spec.implied.items():
        if name not in implied:
            listed = ", ".join(sorted(implied)) or "none"
            reader.problem(
                location,
                f"no rule the catalog implies is named '{name}'{_suggestion(name, implied)} "
                f"(implied rules of {spec.entity.name}: {listed})",
            )
    for name, rule in sorted(implied.items()):
        tuning = spec.implied.get(name, ("", TUNING_DEFAULTS))[1]
        if all(getattr(rule, key) == tuning[key] for key in TUNING_KEYS):
            continue
        before = _tuning_config(rule, full=True)
        for key in TUNING_KEYS:
            setattr(rule, key, tuning[key])
        location = spec.implied[name][0] if name in spec.implied else f"{spec.where}.implied.{name}"
        try:
            catalog_object_save(obj=rule, user=user)
        except ValidationError as exc:
            reader.problems += _validation_problems(exc, location, RULE_LOCATIONS)
            continue
        tally.updated += 1
        tally.changes += _differences(f"{spec.where}.implied.{name}", before, _tuning_config(rule, full=True))


def _apply_entity(spec: EntitySpec, user, reader: _Reader, tally: _Tally) -> None:
    try:
        synced = rules_implied_sync(spec.entity)
    except ValidationError as exc:  # the catalog states something no rule can check as written
        reader.problems += [
            f"{spec.where}.implied: the catalog implies a rule that cannot be saved ({message}); "
            "fix the catalog"
            for message in exc.messages
        ]
        return
    if any(synced.values()):
        tally.changes.append(
            f"{spec.where}.implied: first brought in step with the catalog ({synced['created']} created, "
            f"{synced['updated']} updated, {synced['deleted']} deleted)"
        )
    rules = Rule.objects.filter(entity=spec.entity).select_related("entity__datastore")
    manual = {r.name: r for r in rules if r.origin == RuleOrigin.MANUAL}
    implied = {r.name: r for r in rules if r.origin == RuleOrigin.CATALOG}
    if spec.rules is not None:
        _apply_rules(spec, manual, implied, user, reader, tally)
    if spec.implied is not None:
        _apply_tuning(spec, implied, user, reader, tally)


def _schedule_words(entity_name: str, cron: str) -> str:
    return f"{entity_name or 'every entity'} at {_shown(cron)}"


def _apply_schedules(
    store: DataStore, specs: list[ScheduleSpec], user, reader: _Reader, tally: _Tally
) -> None:
    """Delete the schedules the file lacks (matched by entity and cron), then add or switch the rest."""
    existing: dict[tuple, QualitySchedule] = {}
    wanted = {spec.key for spec in specs}
    for schedule in sorted(store.quality_schedules.select_related("entity"), key=_schedule_order):
        key = (schedule.entity.name if schedule.entity_id else "", " ".join(schedule.cron.split()))
        if key in wanted and key not in existing:
            existing[key] = schedule
            continue
        schedule._history_user = user
        schedule.delete()
        tally.deleted += 1
        tally.changes.append(f"schedules: removed {_schedule_words(*key)}")
    for spec in specs:
        if spec.entity_name and spec.entity is None:
            continue  # reported while reading
        schedule = existing.get(spec.key)
        if schedule is not None and schedule.enabled == spec.enabled:
            continue
        created = schedule is None
        schedule = schedule or QualitySchedule(datastore=store, entity=spec.entity, cron=spec.cron)
        schedule.enabled = spec.enabled
        try:
            catalog_object_save(obj=schedule, user=user)
        except ValidationError as exc:
            reader.problems += _validation_problems(exc, spec.where, SCHEDULE_LOCATIONS)
            continue
        words = _schedule_words(spec.entity_name, spec.cron)
        if created:
            tally.created += 1
            tally.changes.append(f"schedules: added {words}" + ("" if spec.enabled else " (disabled)"))
        else:
            tally.updated += 1
            tally.changes.append(f"schedules: {words} {'enabled' if spec.enabled else 'disabled'}")


def _apply_alerting(store: DataStore, values, user, reader: _Reader, tally: _Tally) -> None:
    alerting = QualityAlerting.objects.filter(datastore=store).first()
    if values is _REMOVE:
        if alerting is not None:
            alerting._history_user = user
            alerting.delete()
            tally.deleted += 1
            tally.changes.append("alerting: removed")
        return
    if alerting is not None and (
        alerting.email_list == [a.strip() for a in values["emails"].split(",") if a.strip()]
        and alerting.webhook_url == values["webhook_url"]
        and alerting.score_drop_points == values["score_drop_points"]
    ):
        return
    before = _alerting_config(alerting) if alerting is not None else None
    alerting = alerting or QualityAlerting(datastore=store)
    for name, value in values.items():
        setattr(alerting, name, value)
    try:
        catalog_object_save(obj=alerting, user=user)
    except ValidationError as exc:
        reader.problems += _validation_problems(exc, "alerting", ALERTING_LOCATIONS)
        return
    if before is None:
        tally.created += 1
        tally.changes.append(f"alerting: created ({_shown(_alerting_config(alerting))})")
    else:
        tally.updated += 1
        tally.changes += _differences("alerting", before, _alerting_config(alerting))


class _Rollback(Exception):
    pass


def quality_apply_config(config: dict, *, user, dry_run: bool = False) -> QualityApplied:
    """Make the data store's quality configuration match a config; what was created, updated and deleted.

    All or nothing in one transaction; QualityConfigError lists every problem with its location. Saves go
    through `catalog_object_save` with `user`, so the history names them; what already matches is not saved,
    so applying the same config twice writes no history. Custom SQL rules can only be created or have their
    SQL changed by a user with `quality.write_custom_sql`. With `dry_run` everything is checked and the
    changes are reported, then rolled back.
    """
    if not isinstance(config, dict):
        raise QualityConfigError([f"file: it holds {_described(config)}; a quality file is a mapping."])
    reader = _Reader(config)
    tally = _Tally()
    try:
        with transaction.atomic():
            reader.read()
            if reader.store is None:
                raise _Rollback()
            # One apply at a time per data store: the second waits, then sees the first one's rules.
            store = DataStore.objects.select_for_update().get(pk=reader.store.pk)
            for spec in reader.entities:
                _apply_entity(spec, user, reader, tally)
            if reader.schedules is not None:
                _apply_schedules(store, reader.schedules, user, reader, tally)
            if reader.alerting is not None:
                _apply_alerting(store, reader.alerting, user, reader, tally)
            if reader.problems or dry_run:
                raise _Rollback()
    except _Rollback:
        if reader.problems:
            raise QualityConfigError(reader.problems) from None
    return QualityApplied(tally.created, tally.updated, tally.deleted, tally.changes)

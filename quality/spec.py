"""The typed form of a quality file: what it says about one data store's rules, implied-rule tuning,
schedules and alerting, each part with its location in the file (`entities.customer.rules[2]`).

Three ways in and one out:
- `quality_spec_from_yaml(config)`: the file's mapping read into a spec, with every problem of shape and type
  (unknown keys, wrong types, a parameter the kind does not take). Pure: it reads no database.
- `quality_spec_from_db(datastore)`: what the data store has now, with the implied rules as a sync would leave
  them (computed, not written). The export.
- `quality_spec_config(spec)`: a spec in the file's layout, defaults left out; what `quality_export` gives.
Checking a spec against the catalog, and saving it, is quality/as_code.py's.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal

from catalog.models import DataStore, Entity
from core.config_files import ProblemReader, described
from quality.choices import KIND_DIMENSIONS, Dimension, RuleKind, RuleOrigin, Severity
from quality.kinds import KINDS, ParamType
from quality.models import QualityAlerting, QualitySchedule, Rule
from quality.rules import rules_implied_preview

__all__ = [
    "QualitySpec",
    "EntitySpec",
    "RuleSpec",
    "TuningSpec",
    "ScheduleSpec",
    "ALERTING_REMOVED",
    "quality_spec_from_yaml",
    "quality_spec_from_db",
    "quality_spec_config",
    "rule_values",
    "schedule_order",
    "rule_item",
    "tuning_values",
    "tuning_item",
    "alerting_item",
    "alerting_values",
    "PARAM_KEYS",
    "PARAM_TYPES",
    "RULE_FIELDS",
    "TUNING_KEYS",
    "TUNING_DEFAULTS",
]

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
# Each kind's parameters, written flat in the rule's mapping, in the order the export writes them, and the
# type the reader checks each one against (quality/kinds.py declares both).
PARAM_KEYS = {kind.value: list(kind.param_names) for kind in KINDS.values()}
ALL_PARAMS = list(dict.fromkeys(key for keys in PARAM_KEYS.values() for key in keys))
PARAM_TYPES = {param.name: param.type for kind in KINDS.values() for param in kind.params}
# The model fields a rule of the file sets (besides its name).
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
TUNING_KEYS = ["severity", "threshold_percent", "enabled"]
TUNING_DEFAULTS = {"severity": Severity.ERROR, "threshold_percent": Decimal(0), "enabled": True}
SCHEDULE_KEYS = ["entity", "cron", "enabled"]
ALERTING_KEYS = ["emails", "webhook", "score_drop_points"]
ALERTING_DEFAULT_POINTS = 10

ALERTING_REMOVED = "removed"  # `alerting: null`


# The spec -------------------------------------------------------------------------------------------------


@dataclass
class RuleSpec:
    """One manual rule: its model field values (name and RULE_FIELDS); `broken` when reading found any."""

    where: str
    values: dict
    broken: bool = False

    @property
    def name(self) -> str:
        return self.values["name"]


@dataclass
class TuningSpec:
    """An implied rule's tuning (severity, threshold_percent, enabled)."""

    where: str
    values: dict


@dataclass
class EntitySpec:
    """What the file says about one entity; None for a key it leaves out (left as it is)."""

    where: str
    name: str
    rules: list[RuleSpec] | None = None
    implied: dict[str, TuningSpec] | None = None


@dataclass
class ScheduleSpec:
    """One schedule; it is matched to a stored one by entity and cron."""

    where: str
    entity_name: str
    cron: str
    enabled: bool

    @property
    def key(self) -> tuple[str, str]:
        return self.entity_name, " ".join(self.cron.split())


@dataclass
class QualitySpec:
    """A data store's quality configuration. `alerting`: None when left out, ALERTING_REMOVED, or the
    model's field values; `schedules`: None when left out. `problems` are those found while reading."""

    datastore: str
    alerting: dict | str | None = None
    schedules: list[ScheduleSpec] | None = None
    entities: list[EntitySpec] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _default_dimension(kind: str) -> str:
    return KIND_DIMENSIONS.get(kind, Dimension.VALIDITY)


# From YAML (pure) -----------------------------------------------------------------------------------------


def quality_spec_from_yaml(config: dict) -> QualitySpec:
    """The spec a quality file's mapping states, with every problem of shape and type in `problems`.

    Reads no database: whether the data store, its entities and columns exist is checked later, against
    the catalog."""
    reader = _Reader()
    return reader.read(config)


@dataclass
class _Reader(ProblemReader):
    problems: list[str] = field(default_factory=list)

    def read(self, config: dict) -> QualitySpec:
        self.unknown_keys(config, TOP_KEYS, "")
        spec = QualitySpec(self.text(config, "datastore", "datastore", required=True), problems=self.problems)
        if "alerting" in config:
            spec.alerting = self._alerting(config["alerting"])
        if "schedules" in config:
            spec.schedules = self._schedules(config["schedules"])
        spec.entities = self._entities(config.get("entities"))
        return spec

    def _alerting(self, value):
        if value is None:
            return ALERTING_REMOVED
        section = self.mapping(value, "alerting", "emails, webhook, score_drop_points")
        if section is None:
            return None
        self.unknown_keys(section, ALERTING_KEYS, "alerting")
        emails = section.get("emails")
        if isinstance(emails, str):  # one address, or several separated by commas
            emails = [address.strip() for address in emails.split(",") if address.strip()]
        emails = self.text_list({"emails": emails}, "emails", "alerting.emails")
        points = self.number(
            section, "score_drop_points", "alerting.score_drop_points", ALERTING_DEFAULT_POINTS
        )
        return {
            "emails": ", ".join(emails),
            "webhook_url": self.text(section, "webhook", "alerting.webhook").strip(),
            "score_drop_points": float(points),
        }

    def _schedules(self, value) -> list[ScheduleSpec]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem("schedules", f"must be a list of schedules ({{cron: ...}}), not {described(value)}")
            return []
        specs: list[ScheduleSpec] = []
        seen: dict[tuple, int] = {}
        for index, item in enumerate(value):
            where = f"schedules[{index}]"
            if not isinstance(item, dict):
                self.problem(where, f"must be a mapping (entity: ..., cron: ...), not {described(item)}")
                continue
            self.unknown_keys(item, SCHEDULE_KEYS, where)
            entity_name = self.text(item, "entity", f"{where}.entity")
            cron = self.text(item, "cron", f"{where}.cron", required=True).strip()
            spec = ScheduleSpec(
                where, entity_name, cron, self.flag(item, "enabled", f"{where}.enabled", True)
            )
            if not cron:
                continue
            if spec.key in seen:
                self.problem(where, f"the same schedule as schedules[{seen[spec.key]}]")
                continue
            seen[spec.key] = index
            specs.append(spec)
        return specs

    def _entities(self, value) -> list[EntitySpec]:
        section = self.mapping(value, "entities", "entity names, each with rules and implied")
        specs = []
        for name, body in (section or {}).items():
            where = f"entities.{name}"
            body = self.mapping(body, where, "rules, implied")
            if body is None:
                specs.append(EntitySpec(where, str(name)))
                continue
            self.unknown_keys(body, ENTITY_KEYS, where)
            spec = EntitySpec(where, str(name))
            if "rules" in body:
                spec.rules = self._rules(body["rules"], f"{where}.rules")
            if "implied" in body:
                spec.implied = self._implied(body["implied"], f"{where}.implied")
            specs.append(spec)
        return specs

    def _rules(self, value, where: str) -> list[RuleSpec]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(where, f"must be a list of rules (- name: ..., kind: ...), not {described(value)}")
            return []
        specs: list[RuleSpec] = []
        seen: dict[str, int] = {}
        for index, item in enumerate(value):
            location = f"{where}[{index}]"
            if not isinstance(item, dict):
                self.problem(location, f"must be a mapping (name: ..., kind: ...), not {described(item)}")
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
        if kind in (ParamType.TEXT, ParamType.REGEX):
            return self.text({key: value}, key, where)
        if kind == ParamType.BOUND:
            if isinstance(value, datetime | date | time):
                return value.isoformat()  # YAML reads 2024-01-01 as a date; the rule keeps its text
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                self.problem(where, f"must be a number, a date or text, not {described(value)}")
            return value
        if kind in (ParamType.VALUES, ParamType.NAMES):
            return self.text_list({key: value}, key, where, scalars=kind == ParamType.VALUES)
        number = self.number({key: value}, key, where, None, whole=kind == ParamType.WHOLE)
        if kind == ParamType.WHOLE and number is not None and number < 0:
            self.problem(where, f"must be 0 or more, not {number}")
        return number

    def _implied(self, value, where: str) -> dict[str, TuningSpec]:
        section = self.mapping(value, where, "implied rule names, each with its tuning")
        tunings: dict[str, TuningSpec] = {}
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
            severity = self.choice(body, "severity", f"{location}.severity", Severity, Severity.ERROR)
            tunings[str(name)] = TuningSpec(
                location,
                {
                    "severity": severity,
                    "threshold_percent": self.percent(
                        body, "threshold_percent", f"{location}.threshold_percent"
                    ),
                    "enabled": self.flag(body, "enabled", f"{location}.enabled", True),
                },
            )
        return tunings


# From the database ----------------------------------------------------------------------------------------


def rule_values(rule: Rule) -> dict:
    """A stored rule's values as a RuleSpec holds them."""
    return {"name": rule.name} | {name: getattr(rule, name) for name in RULE_FIELDS}


def tuning_values(rule: Rule) -> dict:
    return {key: getattr(rule, key) for key in TUNING_KEYS}


def schedule_order(schedule: QualitySchedule) -> tuple:
    """Schedules in the file's order: by entity name (the data store's own first), then cron."""
    return (schedule.entity.name if schedule.entity_id else "", schedule.cron, schedule.pk)


def quality_spec_from_db(datastore: DataStore) -> QualitySpec:
    """The data store's configuration as it stands, every entity with its rules and tuning; the implied rules
    are those a sync would leave (computed as a check would, written nowhere)."""
    alerting = QualityAlerting.objects.filter(datastore=datastore).first()
    schedules = sorted(
        QualitySchedule.objects.filter(datastore=datastore).select_related("entity"), key=schedule_order
    )
    manual: dict[int, list[Rule]] = {}
    for rule in Rule.objects.filter(entity__datastore=datastore, origin=RuleOrigin.MANUAL).order_by("name"):
        manual.setdefault(rule.entity_id, []).append(rule)
    spec = QualitySpec(datastore.name, alerting=alerting_values(alerting) if alerting else None)
    spec.schedules = [
        ScheduleSpec(f"schedules[{i}]", s.entity.name if s.entity_id else "", s.cron, s.enabled)
        for i, s in enumerate(schedules)
    ]
    for entity in Entity.objects.filter(datastore=datastore).order_by("name"):
        where = f"entities.{entity.name}"
        _counts, implied, _changed = rules_implied_preview(entity)
        spec.entities.append(
            EntitySpec(
                where,
                entity.name,
                rules=[
                    RuleSpec(f"{where}.rules[{i}]", rule_values(r))
                    for i, r in enumerate(manual.get(entity.pk, []))
                ],
                implied={
                    r.name: TuningSpec(f"{where}.implied.{r.name}", tuning_values(r))
                    for r in sorted(implied, key=lambda r: r.name)
                },
            )
        )
    return spec


def alerting_values(alerting: QualityAlerting) -> dict:
    """Stored alert settings' values as a spec holds them."""
    return {
        "emails": alerting.emails,
        "webhook_url": alerting.webhook_url,
        "score_drop_points": alerting.score_drop_points,
    }


# To the file's layout -------------------------------------------------------------------------------------


def _number(value):
    """A Decimal or float as YAML shows it best: 1 rather than 1.000, 0.5 rather than Decimal('0.500')."""
    if isinstance(value, Decimal | float) and value == int(value):
        return int(value)
    return float(value) if isinstance(value, Decimal) else value


def rule_item(values: dict, *, full: bool = False) -> dict:
    """A manual rule in the file's layout; without `full`, keys holding their default are left out."""
    kind = values["kind"]
    item: dict = {"name": values["name"], "kind": str(kind)}
    if values["columns"] or full:
        item["columns"] = list(values["columns"])
    params = values["params"] or {}
    for key in PARAM_KEYS.get(kind, []) + sorted(set(params) - set(PARAM_KEYS.get(kind, []))):
        if key in params:
            item[key] = params[key]
    item["severity"] = str(values["severity"])
    if values["threshold_percent"] or full:
        item["threshold_percent"] = _number(values["threshold_percent"])
    dimension = values["dimension"]
    if (dimension and dimension != _default_dimension(kind)) or full:
        item["dimension"] = str(dimension or _default_dimension(kind))
    if not values["enabled"] or full:
        item["enabled"] = values["enabled"]
    if values["description"] or full:
        item["description"] = values["description"]
    return item


def tuning_item(values: dict, *, full: bool = False) -> dict:
    """An implied rule's tuning; without `full`, only what differs from the defaults."""
    tuning = {
        "severity": str(values["severity"]),
        "threshold_percent": _number(values["threshold_percent"]),
        "enabled": values["enabled"],
    }
    if full:
        return tuning
    return {key: value for key, value in tuning.items() if value != TUNING_DEFAULTS[key]}


def schedule_item(spec: ScheduleSpec) -> dict:
    item: dict = {"entity": spec.entity_name} if spec.entity_name else {}
    item["cron"] = spec.cron
    if not spec.enabled:
        item["enabled"] = False
    return item


def alerting_item(values: dict) -> dict:
    item: dict = {}
    emails = [address.strip() for address in values["emails"].split(",") if address.strip()]
    if emails:
        item["emails"] = emails
    if values["webhook_url"]:
        item["webhook"] = values["webhook_url"]
    item["score_drop_points"] = _number(values["score_drop_points"])
    return item


def quality_spec_config(spec: QualitySpec) -> dict:
    """The spec in the file's layout and a stable order; implied rules only with tuning off the defaults."""
    sections = {}
    for entity in spec.entities:
        implied = {name: tuning_item(t.values) for name, t in (entity.implied or {}).items()}
        sections[entity.name] = {
            "rules": [rule_item(r.values) for r in entity.rules or []],
            "implied": {name: tuning for name, tuning in implied.items() if tuning},
        }
    alerting = spec.alerting if isinstance(spec.alerting, dict) else None
    return {
        "datastore": spec.datastore,
        "alerting": alerting_item(alerting) if alerting else None,
        "schedules": [schedule_item(s) for s in spec.schedules or []],
        "entities": sections,
    }

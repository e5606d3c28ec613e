"""The writer: a reflected database (reflection.py) brought into the catalog through its services.

`schema_introspect` reads the live tables, `_TablePlanner` turns each into catalog fields and reports what
the catalog cannot hold (reading nothing, writing nothing), and `_CatalogWriter` saves only what differs:
new objects in bulk with their history rows, changed ones through `catalog_object_save` with its lock, in
one transaction, so a second run changes nothing and a failure leaves the catalog as it was.
"""

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch
from simple_history.utils import bulk_create_with_history

from catalog.choices import (
    TYPE_FAMILIES,
    DataType,
    Deferrability,
    IndexMethod,
    KeyGeneration,
    OnDelete,
    OnUpdate,
    SortOrder,
)
from catalog.literals import ALLOWED_DEFAULT_FUNCTIONS, is_orderable, is_string_type, parse_literal
from catalog.models import Column, DataStore, Entity, Index, IndexColumn
from catalog.schema.dialects import DialectProfile, profile_for
from catalog.schema.introspect.expressions import (
    CheckRule,
    catalog_condition,
    catalog_default,
    check_rules,
    default_read,
)
from catalog.schema.introspect.reflection import (
    LiveColumn,
    LiveIndex,
    LiveTable,
    catalog_type,
    live_tables_read,
)
from catalog.schema.metadata import AUDIT_COLUMNS
from catalog.services import catalog_object_save, index_columns_set
from catalog.validators import validate_identifier, validate_regex
from core.connections import datastore_connect
from core.errors import SchemaError

__all__ = [
    "SkippedItem",
    "IntrospectionReport",
    "IntrospectionIncomplete",
    "schema_introspect",
    "generation_of_live",
]


@dataclass(frozen=True)
class SkippedItem:
    """Something the database has that the catalog does not hold, with why."""

    table: str
    item: str
    reason: str


@dataclass
class IntrospectionReport:
    """What an introspection created, updated and skipped; `lines()` says it for a terminal."""

    datastore: str
    schema: str | None
    tables_read: int = 0
    created: dict = field(default_factory=lambda: {"entities": 0, "columns": 0, "indexes": 0})
    updated: dict = field(default_factory=lambda: {"entities": 0, "columns": 0, "indexes": 0})
    skipped: list[SkippedItem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(self.created.values()) or any(self.updated.values())

    def table_label(self, table: str) -> str:
        return f"{self.schema}.{table}" if self.schema else table

    def lines(self) -> list[str]:
        where = f" (schema {self.schema})" if self.schema else ""
        lines = [f"Data store '{self.datastore}'{where}: {self.tables_read} table(s) read."]
        lines += [
            f"{kind.capitalize()}: {self.created[kind]} created, {self.updated[kind]} updated."
            for kind in ("entities", "columns", "indexes")
        ]
        if self.skipped:
            lines.append(f"Skipped ({len(self.skipped)}), not in the catalog:")
            lines += [f"  table {self.table_label(s.table)}: {s.item}: {s.reason}" for s in self.skipped]
        if self.notes:
            lines.append("Notes:")
            lines += [f"  {note}" for note in self.notes]
        return lines


class IntrospectionIncomplete(SchemaError):
    """The database holds what the catalog cannot: nothing was written; `report` lists what and why."""

    def __init__(self, report: IntrospectionReport):
        super().__init__(
            f"Data store '{report.datastore}': {len(report.skipped)} item(s) of the database cannot be held "
            "by the catalog (listed below), so nothing was imported; rerun with --allow-partial to import "
            "the rest without them."
        )
        self.report = report


@dataclass(frozen=True)
class _ForeignKey:
    table: str
    column: str
    on_delete: str
    on_update: str = OnUpdate.NO_ACTION
    deferrable: str = Deferrability.NOT_DEFERRABLE

    @property
    def actions(self) -> dict:
        """The column fields that say what the key does besides pointing: ON DELETE, ON UPDATE, DEFERRABLE."""
        return {"on_delete": self.on_delete, "on_update": self.on_update, "deferrable": self.deferrable}


# A column without a foreign key: every action field at its default.
_NO_ACTIONS = {
    "on_delete": OnDelete.NO_ACTION,
    "on_update": OnUpdate.NO_ACTION,
    "deferrable": Deferrability.NOT_DEFERRABLE,
}


def _set_reference(column: Column, referenced: Column | None, actions: dict) -> None:
    column.references = referenced
    for name, value in actions.items():
        setattr(column, name, value)


def _actions_of(column: Column) -> dict:
    return {name: getattr(column, name) for name in _NO_ACTIONS}


@dataclass
class _TablePlan:
    """What the catalog should say about one table: column fields by name and foreign-key targets."""

    table: LiveTable
    columns: dict[str, dict]
    foreign_keys: dict[str, _ForeignKey]


@dataclass(frozen=True)
class _IndexSpec:
    name: str
    is_unique: bool
    method: str
    condition: str
    key_columns: list
    included_columns: list
    is_constraint: bool = False


ON_DELETE_CHOICES = {
    None: OnDelete.NO_ACTION,
    "NO ACTION": OnDelete.NO_ACTION,
    "RESTRICT": OnDelete.RESTRICT,
    "CASCADE": OnDelete.CASCADE,
    "SET NULL": OnDelete.SET_NULL,
    "SET DEFAULT": OnDelete.SET_DEFAULT,
}
FOREIGN_KEY_DEFAULT_OPTIONS = (None, False, "NO ACTION", "SIMPLE")
# What the catalog reads of a foreign key's options; anything else not at its default is reported.
FOREIGN_KEY_READ_OPTIONS = {"ondelete", "onupdate", "deferrable", "initially"}
CHECK_FIELD_DEFAULTS = {
    "min_value": "",
    "max_value": "",
    "min_length": None,
    "pattern": "",
    "allowed_values": [],
}
PARTITION_KEY = re.compile(r"^RANGE \((\w+)\)\Z")
BULK_BATCH_SIZE = 500


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)


def _rule_problem(rule: CheckRule, column: dict | None) -> str | None:
    """Why the catalog cannot hold the rule on this column; None if it can."""
    if column is None:
        return f"column {rule.column} is not imported"
    data_type = column["data_type"]
    try:
        if rule.field in ("min_value", "max_value"):
            if not is_orderable(data_type):
                return f"a minimum or maximum does not apply to {data_type} column {rule.column}"
            parse_literal(data_type, rule.value)
        elif rule.field == "allowed_values":
            for value in rule.value:
                parse_literal(data_type, value)
        elif not is_string_type(data_type):
            return f"a pattern or length applies to text columns; {rule.column} is {data_type}"
        elif rule.field == "pattern":
            validate_regex(rule.value)
    except (ValueError, ValidationError) as exc:
        return _reason(exc)
    return None


class _TablePlanner:
    """Turns what was read from one table into catalog fields, reporting what the catalog cannot hold.
    Reads nothing and writes nothing."""

    def __init__(
        self,
        *,
        profile: DialectProfile,
        report: IntrospectionReport,
        audited: set[str],
        shared_sequences: frozenset | set = frozenset(),
    ):
        self.profile, self.report = profile, report
        self.audited = audited  # entities whose audit columns the catalog adds itself (has_audit_columns)
        self.shared_sequences = shared_sequences  # sequences the defaults of several columns draw from

    def skip(self, table: str, item: str, reason: str) -> None:
        self.report.skipped.append(SkippedItem(table, item, reason))

    def plan(self, table: LiveTable) -> _TablePlan | None:
        try:
            validate_identifier(table.name)
        except ValidationError as exc:
            self.skip(table.name, "table", _reason(exc))
            return None
        columns = self._columns(table)
        self._primary_and_unique(table, columns)
        self._checks(table, columns)
        self._unmodelled(table)
        return _TablePlan(table, columns, self._foreign_keys(table, columns))

    def _columns(self, table: LiveTable) -> dict[str, dict]:
        """Desired catalog fields of every column the catalog can hold, by name; the rest reported."""
        columns = {}
        reflected_columns = table.columns
        if table.name in self.audited:
            reflected_columns = [c for c in table.columns if c.name not in AUDIT_COLUMNS]
        for position, reflected in enumerate(reflected_columns, 1):
            name = reflected.name
            try:
                validate_identifier(name)
                column = {"position": position, **catalog_type(reflected.type, dialect=self.profile.sqla)}
            except (ValidationError, ValueError) as exc:
                self.skip(table.name, f"column {name}", _reason(exc))
                continue
            # SQLite reports an INTEGER PRIMARY KEY (a rowid alias) as nullable; a key never holds NULL.
            column["nullable"] = reflected.nullable and name not in table.primary_key
            column["description"] = reflected.comment or ""
            column.update(self._generation(table, reflected, column["data_type"]))
            if column["generation"] == KeyGeneration.SERIAL:
                column["default_value"] = ""  # the serial's own nextval()
            else:
                column["default_value"] = self._default(table, reflected, column["data_type"])
            if reflected.generated:
                self.skip(
                    table.name,
                    f"generation of column {name} (GENERATED ALWAYS AS ({reflected.generated}))",
                    "the catalog has no generated columns; imported as a plain column",
                )
            columns[name] = column
        return columns

    def _default(self, table: LiveTable, reflected: LiveColumn, data_type: str) -> str:
        name = reflected.name
        if reflected.sequence is not None and not reflected.owns_sequence:
            self.skip(
                table.name,
                f"default of column {name}",
                f"{reflected.default} draws from sequence {reflected.sequence}, which the column does not "
                "own (it is no serial); imported without a default",
            )
            return ""
        try:
            return catalog_default(reflected.default, data_type=data_type, profile=self.profile)
        except ValueError as exc:
            self.skip(table.name, f"default of column {name}", f"{exc}; imported without a default")
            return ""

    def _generation(self, table: LiveTable, reflected: LiveColumn, data_type: str) -> dict:
        """The catalog's key generation of a reflected column: serial, or an identity with its options."""
        none = {"generation": KeyGeneration.NONE, "identity_options": {}}
        name = reflected.name
        if not reflected.generation and self._serial_by_name(table, reflected):
            self.report.notes.append(
                f"{table.name}.{name}: its default draws from sequence {reflected.sequence}, which the "
                "column does not own; read as a serial, whose sequence (of that name) the catalog's DDL "
                "creates owned by the column."
            )
            return {"generation": KeyGeneration.SERIAL, "identity_options": {}}
        if not reflected.generation:
            return none
        if TYPE_FAMILIES[DataType(data_type)] != "integer":
            self.skip(table.name, f"key generation of column {name}", "the catalog generates integers only")
            return none
        kind = generation_of_live(self.profile, reflected.generation)
        if kind == KeyGeneration.SERIAL and reflected.sequence != f"{table.name}_{name}_seq":
            self.report.notes.append(
                f"{table.name}.{name}: its serial sequence is named {reflected.sequence}; DDL from the "
                f"catalog names it {table.name}_{name}_seq."
            )
        return {"generation": kind, "identity_options": dict(reflected.identity_options)}

    def _serial_by_name(self, table: LiveTable, reflected: LiveColumn) -> bool:
        """A serial in all but ownership (as pg_dump of older schemas writes them): an integer column whose
        default draws from a sequence of the name serial would give it, used by no other column."""
        sequence = reflected.sequence
        return (
            sequence is not None
            and sequence == f"{table.name}_{reflected.name}_seq"
            and sequence not in self.shared_sequences
            and _is_integer_type(reflected, self.profile)
        )

    def _primary_and_unique(self, table: LiveTable, columns: dict[str, dict]) -> None:
        key = table.primary_key
        if any(name not in columns for name in key):
            self.skip(table.name, f"primary key ({', '.join(key)})", "not all of its columns are imported")
            key = []
        single_unique = set()
        for constraint in table.unique_constraints:
            names = constraint.columns
            if len(names) == 1 and names[0] in columns:
                single_unique.add(names[0])
                # A one-column UNIQUE is the column's is_unique, which says neither of these
                options = [f"INCLUDE ({', '.join(constraint.include)})"] if constraint.include else []
                options += ["NULLS NOT DISTINCT"] if constraint.nulls_not_distinct else []
                if options:
                    self.skip(
                        table.name,
                        f"{' '.join(options)} of unique ({names[0]})",
                        "the catalog's unique column has no such option; imported as a plain unique",
                    )
            elif len(names) == 1:
                self.skip(table.name, f"unique ({names[0]})", "its column is not imported")
        for name, column in columns.items():
            column["primary_key_position"] = key.index(name) + 1 if name in key else None
            column["is_unique"] = name in single_unique

    def _checks(self, table: LiveTable, columns: dict[str, dict]) -> None:
        for column in columns.values():
            column.update(
                {k: (list(v) if isinstance(v, list) else v) for k, v in CHECK_FIELD_DEFAULTS.items()}
            )
        taken = set()
        for check in table.check_constraints:
            item = f"check {check.name} ({check.sqltext})" if check.name else f"check ({check.sqltext})"
            try:
                rules = check_rules(check.sqltext, dialect=self.profile.sqlglot)
            except ValueError as exc:
                self.skip(table.name, item, str(exc))
                continue
            problems = [p for p in (_rule_problem(r, columns.get(r.column)) for r in rules) if p]
            problems += [
                f"{r.column} already has a {r.field.replace('_', ' ')} from another check"
                for r in rules
                if (r.column, r.field) in taken
            ]
            if problems:
                self.skip(table.name, item, "; ".join(problems))
                continue
            for rule in rules:
                taken.add((rule.column, rule.field))
                columns[rule.column][rule.field] = rule.value

    def _unmodelled(self, table: LiveTable) -> None:
        """Objects the catalog has no place for at all, said so they are not lost without a word."""
        for name, bound in table.partitions:
            self.skip(
                table.name,
                f"partition {name} {bound}",
                "the catalog does not model partitions (bounds, and a partition's own keys, foreign keys and "
                "indexes); a release creates one DEFAULT partition",
            )
        for index in table.indexes:
            # A constraint's index that is not a UNIQUE one: an EXCLUDE constraint
            if index.backs_constraint and not index.unique:
                self.skip(table.name, f"constraint {index.name}", "the catalog has no exclusion constraints")

    def _foreign_keys(self, table: LiveTable, columns: dict[str, dict]) -> dict[str, _ForeignKey]:
        """Single-column foreign keys inside this schema, by constrained column; the others reported."""
        targets = {}
        for fk in table.foreign_keys:
            constrained, referred = fk.columns, fk.referred_columns
            item = f"foreign key ({', '.join(constrained)}) -> {fk.referred_table}({', '.join(referred)})"
            options, on_delete, on_update = fk.options or {}, fk.on_delete, fk.on_update
            extra = {
                k: v
                for k, v in options.items()
                if k not in FOREIGN_KEY_READ_OPTIONS and v not in FOREIGN_KEY_DEFAULT_OPTIONS
            }
            if len(constrained) != 1:
                self.skip(table.name, item, "the catalog has single-column foreign keys only")
            elif fk.referred_schema not in (None, self.report.schema):
                self.skip(table.name, item, f"it points into schema {fk.referred_schema}, another data store")
            elif on_delete not in ON_DELETE_CHOICES or on_update not in ON_DELETE_CHOICES or extra:
                self.skip(table.name, item, f"the catalog has no equivalent of {options}")
            elif constrained[0] in columns:
                targets[constrained[0]] = _ForeignKey(
                    fk.referred_table,
                    referred[0],
                    ON_DELETE_CHOICES[on_delete],
                    ON_DELETE_CHOICES[on_update],
                    _deferrability(fk),
                )
            else:
                self.skip(table.name, item, f"column {constrained[0]} is not imported")
        return targets


def _deferrability(fk) -> str:
    """DEFERRABLE / INITIALLY as reflected, as the catalog's one choice."""
    options = fk.options or {}
    if not options.get("deferrable"):
        return Deferrability.NOT_DEFERRABLE
    if (options.get("initially") or "").upper() == "DEFERRED":
        return Deferrability.INITIALLY_DEFERRED
    return Deferrability.INITIALLY_IMMEDIATE


class _CatalogWriter:
    """Brings one data store's catalog in line with the plans, saving only what differs.

    New objects are validated in memory (their names and keys come from the database, so they cannot
    clash) and created in bulk with their history rows, as the catalog import does; changed objects go
    through `catalog_object_save`, one by one, with its optimistic lock.
    """

    def __init__(self, *, datastore: DataStore, user, profile: DialectProfile, report: IntrospectionReport):
        self.datastore, self.user, self.profile, self.report = datastore, user, profile, report
        self.entities = {e.name: e for e in Entity.objects.filter(datastore=datastore)}
        self.columns = {
            (c.entity.name, c.name): c
            for c in Column.objects.filter(entity__datastore=datastore).select_related(
                "entity", "references__entity"
            )
        }
        self.indexes = {
            (i.entity.name, i.name): i
            for i in Index.objects.filter(entity__datastore=datastore)
            .select_related("entity")
            .prefetch_related(
                Prefetch("index_columns", queryset=IndexColumn.objects.select_related("column"))
            )
        }
        self.catalog_only = {"entities": set(self.entities), "columns": set(self.columns)}
        self.key_sizes: dict[str, int] = {}
        self.refused_references: set = set()
        self.counted: set = set()

    def skip(self, table: str, item: str, reason: str) -> None:
        self.report.skipped.append(SkippedItem(table, item, reason))

    def count(self, kind: str, pk, *, created: bool) -> None:
        """Count each object once: created wins over updated (a new column given its foreign key later is
        one creation), two updates are one."""
        if (kind, pk) not in self.counted:
            self.counted.add((kind, pk))
            (self.report.created if created else self.report.updated)[kind] += 1

    def save(self, obj, *, kind: str, created: bool = False) -> None:
        """Save through the catalog service (validation, history with the user), and count it."""
        catalog_object_save(obj=obj, user=self.user)
        self.count(kind, obj.pk, created=created)

    def save_or_fail(self, obj, *, kind: str, table: str) -> None:
        """Save a changed entity or column; a refusal the planner did not foresee ends the whole import."""
        try:
            self.save(obj, kind=kind)
        except ValidationError as exc:
            raise self.refusal(obj, table, exc) from None

    def refusal(self, obj, table: str, exc: ValidationError) -> SchemaError:
        what = f", column {obj.name}" if isinstance(obj, Column) else ""
        return SchemaError(
            f"Data store '{self.datastore.name}', table {self.report.table_label(table)}{what}: the catalog "
            f"refuses it: {_reason(exc)} Nothing was imported."
        )

    def create(self, model, objects: list, *, kind: str) -> None:
        """Insert new, already validated objects in bulk, each with its history row (the user as author)."""
        if not objects:
            return
        bulk_create_with_history(objects, model, batch_size=BULK_BATCH_SIZE, default_user=self.user)
        for obj in objects:
            self.count(kind, obj.pk, created=True)

    def validate_new(self, obj, table: str, *, exclude: list[str]) -> None:
        """Validate a new object without queries for uniqueness and for foreign keys known to exist."""
        try:
            obj.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            raise self.refusal(obj, table, exc) from None

    # Entities

    def write_entities(self, plans: list[_TablePlan]) -> None:
        new = []
        for plan in plans:
            name, desired = plan.table.name, {"description": plan.table.comment or ""}
            entity = self.entities.get(name)
            if entity is None:
                entity = Entity(datastore=self.datastore, name=name, **desired)
                self.validate_new(entity, name, exclude=["datastore"])
                new.append(entity)
                self.entities[name] = entity
            elif _assign(entity, desired, self.profile):
                self.save_or_fail(entity, kind="entities", table=name)
            self.key_sizes[name] = len([c for c in plan.columns.values() if c["primary_key_position"]])
        self.create(Entity, new, kind="entities")

    # Columns

    def write_columns(self, plans: list[_TablePlan]) -> None:
        """Changed columns first (one by one), then new ones in bulk, each with its foreign key when the
        target can be given now; the other foreign keys follow in write_references."""
        new = []
        for plan in plans:
            existing = [(n, self.columns[(plan.table.name, n)], d) for n, d in plan.columns.items()
                        if (plan.table.name, n) in self.columns]  # fmt: skip
            self._update_columns(plan, existing)
            for name, desired in plan.columns.items():
                if (plan.table.name, name) not in self.columns:
                    column = Column(entity=self.entities[plan.table.name], name=name, **desired)
                    self.columns[(plan.table.name, name)] = column
                    new.append((plan, column))
        for plan, column in new:
            self._validate_new_column(plan, column)
        self._insert_columns([column for _plan, column in new])

    def _update_columns(self, plan: _TablePlan, existing: list) -> None:
        table = plan.table.name
        plans = [
            (column, {**desired, **self._kept_reference(column, plan.foreign_keys.get(name))})
            for name, column, desired in existing
        ]
        # A primary key that moved between columns would briefly hold one position twice: free them first
        for column, desired in plans:
            if column.primary_key_position not in (None, desired["primary_key_position"]):
                column.primary_key_position = None
                self.save_or_fail(column, kind="columns", table=table)
        for column, desired in plans:
            if _assign(column, desired, self.profile):
                self.save_or_fail(column, kind="columns", table=table)

    def _kept_reference(self, column: Column, target: _ForeignKey | None) -> dict:
        """Reference fields of a changed column: kept if the database agrees, cleared if not; new
        references are given in write_references, once every column exists."""
        if column.references_id is None:
            return {}
        current = column.references
        if target and (current.entity.name, current.name) == (target.table, target.column):
            return target.actions
        return {"references_id": None, **_NO_ACTIONS}

    def _validate_new_column(self, plan: _TablePlan, column: Column) -> None:
        """Validate a new column as the catalog would, with its foreign key if the target is known now; a
        refused foreign key is reported and the column created without it, anything else ends the import."""
        target = plan.foreign_keys.get(column.name)
        referenced = self.columns.get((target.table, target.column)) if target else None
        if referenced is not None:
            if target.table in self.key_sizes:
                referenced.known_primary_key_size = self.key_sizes[target.table]
            _set_reference(column, referenced, target.actions)
        try:
            column.full_clean(
                exclude=["entity", "references"], validate_unique=False, validate_constraints=False
            )
        except ValidationError as exc:
            if referenced is None or not set(exc.error_dict) <= {"references", *_NO_ACTIONS}:
                raise self.refusal(column, plan.table.name, exc) from None
            self.skip(
                plan.table.name,
                f"foreign key ({column.name}) -> {target.table}({target.column})",
                _reason(exc),
            )
            self.refused_references.add((plan.table.name, column.name))
            _set_reference(column, None, _NO_ACTIONS)

    def _insert_columns(self, pending: list[Column]) -> None:
        """Insert new columns in rounds: those whose foreign-key target has an id first."""
        while pending:
            ready = [c for c in pending if c.references is None or c.references.pk is not None]
            if not ready:
                # New columns pointing at each other in a cycle: their references follow in write_references
                for column in pending:
                    _set_reference(column, None, _NO_ACTIONS)
                ready = pending
            self.create(Column, ready, kind="columns")
            inserted = {id(c) for c in ready}
            pending = [c for c in pending if id(c) not in inserted]

    def write_references(self, plans: list[_TablePlan]) -> None:
        """Foreign keys not given when the columns were written: changed ones, and targets created later."""
        for plan in plans:
            for name, target in plan.foreign_keys.items():
                if (plan.table.name, name) in self.refused_references:
                    continue
                column = self.columns[(plan.table.name, name)]
                referenced = self.columns.get((target.table, target.column))
                item = f"foreign key ({name}) -> {target.table}({target.column})"
                if referenced is None:
                    self.skip(plan.table.name, item, f"{target.table}.{target.column} is not in the catalog")
                elif (column.references_id, _actions_of(column)) != (referenced.pk, target.actions):
                    self._give_reference(plan.table.name, item, column, referenced, target.actions)

    def _give_reference(
        self, table: str, item: str, column: Column, referenced: Column, actions: dict
    ) -> None:
        previous = (column.references_id, _actions_of(column))
        _set_reference(column, referenced, actions)
        try:
            self.save(column, kind="columns")
        except ValidationError as exc:
            column.references_id = previous[0]
            for name, value in previous[1].items():
                setattr(column, name, value)
            self.skip(table, item, _reason(exc))

    def write_partitions(self, plans: list[_TablePlan]) -> None:
        for plan in plans:
            table, entity = plan.table, self.entities[plan.table.name]
            match = PARTITION_KEY.match(table.partition_key or "")
            if table.partition_key and not (match and match.group(1) in plan.columns):
                self.skip(table.name, f"partitioning {table.partition_key}",
                          "the catalog has range partitioning on one imported column only")  # fmt: skip
            column = self.columns.get((table.name, match.group(1))) if match else None
            if entity.partition_column_id != (column.pk if column else None):
                entity.partition_column = column
                self.save_or_fail(entity, kind="entities", table=table.name)

    # Indexes

    def write_indexes(self, plans: list[_TablePlan]) -> None:
        new = []
        names_by_table = defaultdict(set)  # what a partial index's condition may name
        for table, name in self.columns:
            names_by_table[table].add(name)
        for plan in plans:
            candidates = [index for index in plan.table.indexes if not index.backs_constraint]
            candidates += [
                constraint.as_index()
                for constraint in plan.table.unique_constraints
                if len(constraint.columns) > 1
            ]
            names = names_by_table[plan.table.name]
            for live in sorted(candidates, key=lambda index: index.name):
                spec = self._index_spec(plan, live, names)
                if spec is None:
                    continue
                if (plan.table.name, spec.name) in self.indexes:
                    self._update_index(plan.table.name, spec)
                else:
                    new += self._new_index(plan.table.name, spec, names)
        self._insert_indexes(new)

    def _index_spec(self, plan: _TablePlan, live: LiveIndex, names: set[str]) -> _IndexSpec | None:
        """What the catalog keeps of an index; None (reported) when it cannot keep all of it."""
        problems = list(live.unsupported)
        if None in live.columns:
            problems.append("it indexes expressions; the catalog indexes columns")
        if live.method not in IndexMethod.values:
            problems.append(f"method {live.method} is not one of {', '.join(IndexMethod.values)}")
        missing = [name for name in (*live.columns, *live.include) if name and name not in plan.columns]
        if missing:
            problems.append(f"column(s) {', '.join(missing)} are not imported")
        condition = ""
        if live.condition and not problems:
            try:
                condition = catalog_condition(
                    live.condition,
                    column_names=names,
                    text_columns={n for n, c in plan.columns.items() if is_string_type(c["data_type"])},
                    dialect=self.profile.sqlglot,
                )
            except ValidationError as exc:
                problems.append(f"condition {live.condition}: {_reason(exc)}")
        if problems:
            self.skip(plan.table.name, f"index {live.name}", "; ".join(problems))
            return None
        if live.descending is None:
            self.report.notes.append(
                f"table {self.report.table_label(plan.table.name)}: index {live.name}: {self.profile.label} "
                "does not report DESC keys; all are taken as ascending"
            )
        descending = live.descending or frozenset()
        keys = [(name, SortOrder.DESC if name in descending else SortOrder.ASC) for name in live.columns]
        return _IndexSpec(
            live.name, live.unique, live.method, condition, keys, list(live.include), live.is_constraint
        )

    def _update_index(self, table: str, spec: _IndexSpec) -> None:
        index = self.indexes[(table, spec.name)]
        desired = {
            "is_unique": spec.is_unique,
            "is_constraint": spec.is_constraint,
            "method": spec.method,
            "condition": spec.condition,
        }
        if _assign(index, desired, self.profile):
            try:
                self.save(index, kind="indexes")
            except ValidationError as exc:
                self.skip(table, f"index {spec.name}", _reason(exc))
                return
        if _index_columns(index) != (spec.key_columns, spec.included_columns):
            index_columns_set(
                index=index,
                key_columns=spec.key_columns,
                included_columns=spec.included_columns,
                user=self.user,
            )
            self.count("indexes", index.pk, created=False)

    def _new_index(self, table: str, spec: _IndexSpec, names: set[str]) -> list[tuple[Index, list]]:
        """A new index and its columns, validated; [] (reported) when the catalog refuses it."""
        index = Index(
            entity=self.entities[table], name=spec.name, is_unique=spec.is_unique, method=spec.method,
            condition=spec.condition, is_constraint=spec.is_constraint,
        )  # fmt: skip
        index.pending_column_names = names
        try:
            index.full_clean(exclude=["entity"], validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            self.skip(table, f"index {spec.name}", _reason(exc))
            return []
        usages = [
            IndexColumn(index=index, column=self.columns[(table, name)], position=position, order=order)
            for position, (name, order) in enumerate(spec.key_columns, 1)
        ]
        usages += [
            IndexColumn(index=index, column=self.columns[(table, name)], position=position, included=True)
            for position, name in enumerate(spec.included_columns, len(usages) + 1)
        ]
        for usage in usages:
            self.validate_new(usage, table, exclude=["index", "column"])
        return [(index, usages)]

    def _insert_indexes(self, new: list[tuple[Index, list]]) -> None:
        self.create(Index, [index for index, _usages in new], kind="indexes")
        usages = [usage for _index, index_usages in new for usage in index_usages]
        if usages:
            bulk_create_with_history(usages, IndexColumn, batch_size=BULK_BATCH_SIZE, default_user=self.user)

    def note_catalog_only(self, live: dict[str, LiveTable], tables: list[str] | None) -> None:
        """Catalog objects the database does not have: left as they are (never deleted), but said."""
        where = self.report.table_label
        if tables is None:
            for name in sorted(self.catalog_only["entities"] - set(live)):
                self.report.notes.append(f"table {where(name)} is in the catalog but not in the database")
        live_columns = {(t.name, c.name) for t in live.values() for c in t.columns}
        for entity_name, name in sorted(self.catalog_only["columns"] - live_columns):
            if entity_name in live:
                self.report.notes.append(f"table {where(entity_name)}: column {name} is only in the catalog")
        for entity_name, name in sorted(self.indexes):
            table = live.get(entity_name)
            if table and name not in {i.name for i in table.indexes} | {
                u.name for u in table.unique_constraints
            }:
                self.report.notes.append(f"table {where(entity_name)}: index {name} is only in the catalog")


def _index_columns(index: Index) -> tuple[list, list]:
    usages = sorted(index.index_columns.all(), key=lambda u: (u.included, u.position))
    keys = [(u.column.name, SortOrder(u.order)) for u in usages if not u.included]
    return keys, [u.column.name for u in usages if u.included]


def _is_integer_type(reflected: LiveColumn, profile: DialectProfile) -> bool:
    try:
        fields = catalog_type(reflected.type, dialect=profile.sqla)
    except ValueError:
        return False
    return TYPE_FAMILIES[DataType(fields["data_type"])] == "integer"


def generation_of_live(profile: DialectProfile, live: str) -> str:
    """The catalog's key generation of a reflected one (in the dialect's words): the one kind the dialect
    writes that way, else the identity mode the dialect enforces (MySQL's AUTO_INCREMENT is BY DEFAULT)."""
    kinds = [kind for kind, written in profile.live_generation.items() if written == live]
    if len(kinds) == 1:
        return kinds[0]
    return sorted(profile.identity_modes)[0]


def _same(field_name: str, current, desired, *, data_type: str | None, profile: DialectProfile) -> bool:
    """Whether a stored value already says what the database says, so it is kept as the steward wrote it:
    current_timestamp for now(), 1.50 for 1.5, [1, 2] for ["1", "2"]."""
    if current == desired:
        return True
    if field_name == "allowed_values":
        return isinstance(current, list) and [str(v) for v in current] == desired
    if field_name not in ("default_value", "min_value", "max_value") or not (
        current and desired and data_type
    ):
        return False
    function = current.strip().lower()
    if function in ALLOWED_DEFAULT_FUNCTIONS:
        # The same function if this dialect writes it as what the database has
        return default_read(profile.default_functions.get(function) or function, profile) == (
            "function",
            desired,
        )
    try:
        return parse_literal(data_type, current) == parse_literal(data_type, desired)
    except ValueError:
        return False


def _assign(obj, desired: dict, profile: DialectProfile) -> bool:
    """Set the fields whose stored value does not already say the desired one; whether any did."""
    data_type = desired.get("data_type", getattr(obj, "data_type", None))
    changed = False
    for name, value in desired.items():
        if not _same(name, getattr(obj, name), value, data_type=data_type, profile=profile):
            setattr(obj, name, value)
            changed = True
    return changed


def _read(datastore: DataStore, schema: str | None, tables: list[str] | None) -> dict[str, LiveTable]:
    with datastore_connect(datastore) as connection:
        try:
            if schema and not sa.inspect(connection).has_schema(schema):
                raise SchemaError(
                    f"Data store '{datastore.name}' has no schema '{schema}' in its database; check the data "
                    "store's schema name (or apply a release first)."
                )
            return live_tables_read(connection, schema=schema, tables=tables)
        except sa.exc.SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise SchemaError(f"Cannot read the schema of data store '{datastore.name}': {reason}") from None


def schema_introspect(
    *,
    datastore: DataStore,
    user: AbstractBaseUser | None,
    tables: list[str] | None = None,
    allow_partial: bool = False,
) -> IntrospectionReport:
    """Bring the catalog of `datastore` in line with its live database (or only `tables` of it): entities,
    columns, keys, checks, foreign keys and indexes, with `user` as the author of their history rows. Only
    what differs is written, so a second run changes nothing; one transaction, so a failure leaves the
    catalog as it was. What the catalog cannot express is listed in the report's `skipped`, never guessed:
    unless `allow_partial`, any such item rolls everything back with IntrospectionIncomplete (its report
    says what and why), so a column or a key is never dropped without the caller having agreed to it."""
    profile = profile_for(datastore.engine)
    schema = (datastore.schema_name or None) if profile.supports_schemas else None
    live = _read(datastore, schema, tables)
    report = IntrospectionReport(datastore=datastore.name, schema=schema, tables_read=len(live))
    for name in sorted(set(tables or []) - set(live)):
        report.skipped.append(SkippedItem(name, "table", "not found in the database"))
    audited = set(
        Entity.objects.filter(datastore=datastore, has_audit_columns=True).values_list("name", flat=True)
    )
    uses = Counter(c.sequence for table in live.values() for c in table.columns if c.sequence)
    planner = _TablePlanner(
        profile=profile,
        report=report,
        audited=audited,
        shared_sequences={s for s, n in uses.items() if n > 1},
    )
    plans = [plan for plan in (planner.plan(table) for table in live.values()) if plan is not None]
    with transaction.atomic():
        writer = _CatalogWriter(datastore=datastore, user=user, profile=profile, report=report)
        writer.write_entities(plans)
        writer.write_columns(plans)
        writer.write_references(plans)
        writer.write_partitions(plans)
        writer.write_indexes(plans)
        writer.note_catalog_only(live, tables)
        if report.skipped and not allow_partial:
            raise IntrospectionIncomplete(report)
    return report

"""Read-side queries of the catalog: the cross-model audit trail."""

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import CharField, F, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Cast

from catalog.choices import SignInKind
from catalog.history import history_models
from catalog.models import SignInEvent
from core.dates import days_in

__all__ = [
    "AuditEvent",
    "FieldChange",
    "audit_models",
    "audit_model_choices",
    "audit_event_rows",
    "audit_events",
    "audit_events_iter",
    "audit_event",
]

# Bookkeeping fields that say nothing a reader of the trail needs.
IGNORED_FIELDS = {"version", "created_at", "updated_at"}
CHANGE_TYPES = {"+": "created", "~": "changed", "-": "deleted"}
# Sign-in events share the trail with the history tables; their kinds are its other change types.
SIGN_IN_LABEL = SignInEvent._meta.label_lower
HISTORY_TYPES = {**CHANGE_TYPES, **{kind.value: str(kind.label) for kind in SignInKind}}
# Values longer than this are cut in the trail's list; the change's own page and the CSV keep them whole.
TRAIL_VALUE_LIMIT = 200


@dataclass
class FieldChange:
    """One field from `old` to `new`; a summary (group memberships added and removed) has only `new`."""

    field: str
    old: object
    new: object
    summary: bool = False

    @property
    def is_long(self) -> bool:
        return any(len(str(value)) > TRAIL_VALUE_LIMIT for value in (self.old, self.new) if value is not None)

    @property
    def old_short(self):
        return _shortened(self.old)

    @property
    def new_short(self):
        return _shortened(self.new)


def _shortened(value):
    if value is None or len(str(value)) <= TRAIL_VALUE_LIMIT:
        return value
    return str(value)[: TRAIL_VALUE_LIMIT - 1] + "…"


@dataclass
class AuditEvent:
    """One change to one object: who, when, what kind, and which fields went from what to what."""

    history_id: int
    model_label: str
    model_name: str
    object_id: int
    object_repr: str
    history_type: str
    history_date: datetime
    username: str
    changes: list[FieldChange] = field(default_factory=list)

    @property
    def change_type(self) -> str:
        return HISTORY_TYPES[self.history_type]

    @property
    def changes_text(self) -> str:
        def shown(value):
            return "∅" if value is None else str(value)

        return "; ".join(
            f"{c.field}: {shown(c.new)}" if c.summary else f"{c.field}: {shown(c.old)} → {shown(c.new)}"
            for c in self.changes
        )

    @property
    def has_long_values(self) -> bool:
        return any(change.is_long for change in self.changes)


def audit_models() -> dict[str, type]:
    """{"app_label.model": its history model} for every audited model of every app (the tables that
    simple-history keeps for many-to-many fields are read through their owner's history)."""
    return {
        model.instance_type._meta.label_lower: model
        for model in history_models()
        if not any(f.name == "m2m_history_id" for f in model._meta.fields)
    }


def audit_model_choices() -> list[tuple[str, str]]:
    """(label, name) of everything on the trail, sorted by name: audited models and sign-in events."""
    choices = [(label, str(m.instance_type._meta.verbose_name)) for label, m in audit_models().items()]
    choices.append((SIGN_IN_LABEL, str(SignInEvent._meta.verbose_name)))
    return sorted(((label, name.capitalize()) for label, name in choices), key=lambda choice: choice[1])


def _object_name(history_model):
    names = {f.name for f in history_model._meta.fields}
    for candidate in ("name", "code", "username"):
        if candidate in names:
            return Cast(candidate, CharField())
    return Value("", output_field=CharField())


def _sign_in_rows(*, object_id, username, date_from, date_to, change_type) -> QuerySet:
    """Sign-in events shaped as trail rows: the user is the object, the kind is the change type."""
    rows = days_in(SignInEvent.objects.order_by(), "at", date_from, date_to)
    if object_id is not None:
        rows = rows.filter(user_id=object_id)
    if username:
        rows = rows.filter(username=username)
    if change_type:
        rows = rows.filter(kind=change_type)
    return rows.annotate(
        history_id=F("id"),
        history_date=F("at"),
        history_type=F("kind"),
        history_user_id=Value(None, output_field=IntegerField()),
        model_label=Value(SIGN_IN_LABEL, output_field=CharField()),
        object_pk=F("user_id"),
        object_name=F("username"),
    ).values(*TRAIL_COLUMNS)


TRAIL_COLUMNS = (
    "history_id",
    "history_date",
    "history_type",
    "history_user_id",
    "model_label",
    "object_pk",
    "object_name",
)


def _as_trail_rows(rows: QuerySet, label: str) -> QuerySet:
    """A history model's rows shaped as trail rows."""
    return rows.annotate(
        model_label=Value(label, output_field=CharField()),
        object_pk=F("id"),
        object_name=_object_name(rows.model),
    ).values(*TRAIL_COLUMNS)


def audit_event_rows(
    *,
    model: str | None = None,
    object_id: int | None = None,
    username: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    change_type: str | None = None,
) -> QuerySet:
    """Rows (dicts) of every history table and of the sign-in events, filtered, newest first, as one
    UNION ALL query."""
    parts = []
    for label, history_model in sorted(audit_models().items()):
        if (model and label != model) or (change_type and change_type not in CHANGE_TYPES):
            continue
        # No ordering inside the UNION parts: SQLite refuses ORDER BY in compound subqueries.
        rows = days_in(history_model.objects.order_by(), "history_date", date_from, date_to)
        if object_id is not None:
            rows = rows.filter(id=object_id)
        if username:
            rows = rows.filter(history_user__username=username)
        if change_type:
            rows = rows.filter(history_type=change_type)
        parts.append(_as_trail_rows(rows, label))
    if (not model or model == SIGN_IN_LABEL) and (not change_type or change_type not in CHANGE_TYPES):
        filters = {"object_id": object_id, "username": username, "change_type": change_type}
        parts.append(_sign_in_rows(date_from=date_from, date_to=date_to, **filters))
    if not parts:
        return SignInEvent.objects.none().values("id")
    union = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    return union.order_by("-history_date", "-history_id")


def audit_events(rows: list[dict]) -> list[AuditEvent]:
    """Events with their field-level changes for a page of rows: two queries per model on the page (and
    two per many-to-many field of each changed user or group)."""
    models = audit_models()
    ids_by_model = defaultdict(list)
    for row in rows:
        ids_by_model[row["model_label"]].append(row["history_id"])
    records = {}
    for label, ids in ids_by_model.items():
        if label == SIGN_IN_LABEL:
            for event in SignInEvent.objects.filter(id__in=ids):
                records[(label, event.id)] = (event, None)
            continue
        history_model = models[label]
        previous = history_model.objects.filter(id=OuterRef("id"), history_id__lt=OuterRef("history_id"))
        current = list(
            history_model.objects.filter(history_id__in=ids).annotate(
                prev_id=Subquery(previous.order_by("-history_id").values("history_id")[:1])
            )
        )
        earlier = history_model.objects.in_bulk([record.prev_id for record in current if record.prev_id])
        for record in current:
            records[(label, record.history_id)] = (record, earlier.get(record.prev_id))
    users = get_user_model().objects.in_bulk(
        {row["history_user_id"] for row in rows if row["history_user_id"]}
    )
    events = []
    for row in rows:
        record, prev = records[(row["model_label"], row["history_id"])]
        if row["model_label"] == SIGN_IN_LABEL:
            events.append(_sign_in_event(row, record))
            continue
        user = users.get(row["history_user_id"])
        events.append(
            AuditEvent(
                history_id=row["history_id"],
                model_label=row["model_label"],
                model_name=str(models[row["model_label"]].instance_type._meta.verbose_name),
                object_id=row["object_pk"],
                object_repr=row["object_name"] or f"#{row['object_pk']}",
                history_type=row["history_type"],
                history_date=row["history_date"],
                username=user.get_username() if user else "",
                changes=_field_changes(record, prev),
            )
        )
    _humanize([event for event in events if event.model_label != SIGN_IN_LABEL], models)
    return events


def _sign_in_event(row: dict, event: SignInEvent) -> AuditEvent:
    """A sign-in event on the trail: the person (or the user name tried) is both who and what."""
    return AuditEvent(
        history_id=event.id,
        model_label=SIGN_IN_LABEL,
        model_name=str(SignInEvent._meta.verbose_name),
        object_id=event.user_id,
        object_repr=event.username,
        history_type=event.kind,
        history_date=event.at,
        username=event.username,
        changes=[FieldChange("IP address", None, event.ip_address)] if event.ip_address else [],
    )


def _model_field(opts, attname: str):
    for model_field in opts.concrete_fields:
        if attname in (model_field.attname, model_field.name):
            return model_field
    return None


def _humanize(events: list[AuditEvent], models: dict) -> None:
    """Foreign keys as the names of what they point at, choices as their labels (one query per model)."""
    ids_by_model = defaultdict(set)
    for event in events:
        opts = models[event.model_label].instance_type._meta
        for change in event.changes:
            model_field = _model_field(opts, change.field)
            if model_field is not None and model_field.many_to_one:
                ids_by_model[model_field.related_model].update(
                    v for v in (change.old, change.new) if v is not None
                )
    names = {}
    for related, ids in ids_by_model.items():
        queryset = related._base_manager.all()
        if any(f.name == "entity" for f in related._meta.concrete_fields):
            queryset = queryset.select_related("entity")
        names[related] = {pk: str(obj) for pk, obj in queryset.in_bulk(ids).items()}
    for event in events:
        opts = models[event.model_label].instance_type._meta
        for change in event.changes:
            model_field = _model_field(opts, change.field) or _many_to_many_field(opts, change.field)
            if model_field is None:
                continue
            change.field = _field_label(model_field)
            if model_field.many_to_many:
                continue  # already the names added and removed
            change.old, change.new = (
                _readable(model_field, names, value) for value in (change.old, change.new)
            )


def _many_to_many_field(opts, name: str):
    return next((f for f in opts.many_to_many if f.name == name), None)


def _field_label(model_field) -> str:
    """The field's name in the user's words: its verbose name ("legal hold"); a foreign key named after the
    model it points at takes that model's name ("datastore" is a "data store")."""
    related = model_field.related_model
    if model_field.many_to_one and related is not None and model_field.name == related._meta.model_name:
        return str(related._meta.verbose_name)
    return str(model_field.verbose_name)


def _readable(model_field, names: dict, value):
    if value is None:
        return None
    if model_field.many_to_one:
        return names.get(model_field.related_model, {}).get(value, f"#{value} (deleted)")
    if model_field.choices:
        return dict(model_field.flatchoices).get(value, value)
    if isinstance(value, (list, tuple, dict)):
        return _plain(value)
    return value


def _plain(value):
    """A JSON list or object in words: `sold_at, id` and `min_rows = 1`; an empty one as no value."""
    if not value:
        return None
    if isinstance(value, dict):
        return ", ".join(f"{key} = {_plain_item(item)}" for key, item in value.items())
    return ", ".join(_plain_item(item) for item in value)


def _plain_item(item) -> str:
    if isinstance(item, (list, tuple, dict)):
        return json.dumps(item, ensure_ascii=False, default=str)
    return str(item)


def _field_changes(record, prev) -> list[FieldChange]:
    if record.history_type == "~" and prev is not None:
        m2m_names = {f.name for f in getattr(record, "_history_m2m_fields", [])}
        delta = record.diff_against(prev, foreign_keys_are_objs=False)
        changes = [
            _membership_change(record, c) if c.field in m2m_names else FieldChange(c.field, c.old, c.new)
            for c in delta.changes
            if c.field not in IGNORED_FIELDS
        ]
    elif record.history_type == "+":
        changes = [
            FieldChange(f.attname, None, getattr(record, f.attname))
            for f in record.instance_type._meta.fields
            if f.attname not in IGNORED_FIELDS
            and f.attname != "id"
            and getattr(record, f.attname, None) not in (None, "", [], {})
        ]
    else:
        changes = []
    if getattr(record, "password_changed", False):
        # That the password changed, never the hash: the history does not keep it.
        what = "set" if record.history_type == "+" else "changed"
        changes.append(FieldChange("password", None, what, summary=True))
    return changes


def _membership_change(record, change) -> FieldChange:
    """A many-to-many change (groups, permissions) as the names added and removed."""
    model_field = record.instance_type._meta.get_field(change.field)
    other = model_field.m2m_reverse_field_name()
    before = {row[other] for row in change.old if row.get(other) is not None}
    after = {row[other] for row in change.new if row.get(other) is not None}
    related = model_field.related_model
    queryset = related._base_manager.all()
    if related is Permission:
        queryset = queryset.select_related("content_type")
    found = queryset.in_bulk(before ^ after)

    def name(pk):
        obj = found.get(pk)
        if obj is None:
            return f"#{pk} (deleted)"
        if related is Permission:
            return f"{obj.content_type.app_label}.{obj.codename}"
        return str(obj)

    parts = []
    if after - before:
        parts.append("added " + ", ".join(sorted(name(pk) for pk in after - before)))
    if before - after:
        parts.append("removed " + ", ".join(sorted(name(pk) for pk in before - after)))
    return FieldChange(change.field, None, "; ".join(parts), summary=True)


def audit_event(*, model_label: str, history_id: int) -> AuditEvent | None:
    """One change of the trail with its values whole (the list cuts long ones), or None."""
    if model_label == SIGN_IN_LABEL:
        row = _sign_in_rows(object_id=None, username=None, date_from=None, date_to=None, change_type=None)
        rows = list(row.filter(id=history_id))
    else:
        history_model = audit_models().get(model_label)
        if history_model is None:
            return None
        rows = list(_as_trail_rows(history_model.objects.filter(history_id=history_id), model_label))
    return audit_events(rows)[0] if rows else None


def audit_events_iter(rows: QuerySet, chunk_size: int = 1000) -> Iterator[AuditEvent]:
    """All events of a filtered trail, fetched a chunk at a time (for CSV export)."""
    offset = 0
    while True:
        chunk = list(rows[offset : offset + chunk_size])
        if not chunk:
            return
        yield from audit_events(chunk)
        offset += chunk_size

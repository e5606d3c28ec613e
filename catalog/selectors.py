"""Read-side queries of the catalog: the cross-model audit trail."""

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.db.models import CharField, F, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Cast
from django.utils import timezone

from catalog.history import history_models

__all__ = [
    "AuditEvent",
    "FieldChange",
    "audit_models",
    "audit_event_rows",
    "audit_events",
    "audit_events_iter",
]

# Bookkeeping fields that say nothing a reader of the trail needs.
IGNORED_FIELDS = {"version", "created_at", "updated_at"}
HISTORY_TYPES = {"+": "created", "~": "changed", "-": "deleted"}


@dataclass
class FieldChange:
    field: str
    old: object
    new: object


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

        return "; ".join(f"{c.field}: {shown(c.old)} → {shown(c.new)}" for c in self.changes)


def audit_models() -> dict[str, type]:
    """{"app_label.model": its history model} for every audited model of every app."""
    return {model.instance_type._meta.label_lower: model for model in history_models()}


def _object_name(history_model):
    names = {f.name for f in history_model._meta.fields}
    for candidate in ("name", "code"):
        if candidate in names:
            return Cast(candidate, CharField())
    return Value("", output_field=CharField())


def audit_event_rows(
    *,
    model: str | None = None,
    object_id: int | None = None,
    username: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    change_type: str | None = None,
) -> QuerySet:
    """Rows (dicts) of every history table, filtered, newest first, as one UNION ALL query."""
    parts = []
    for label, history_model in sorted(audit_models().items()):
        if model and label != model:
            continue
        # No ordering inside the UNION parts: SQLite refuses ORDER BY in compound subqueries.
        rows = history_model.objects.order_by()
        if object_id is not None:
            rows = rows.filter(id=object_id)
        if username:
            rows = rows.filter(history_user__username=username)
        if date_from:
            rows = rows.filter(history_date__gte=timezone.make_aware(datetime.combine(date_from, time.min)))
        if date_to:
            end = timezone.make_aware(datetime.combine(date_to + timedelta(days=1), time.min))
            rows = rows.filter(history_date__lt=end)
        if change_type:
            rows = rows.filter(history_type=change_type)
        parts.append(
            rows.annotate(
                model_label=Value(label, output_field=CharField()),
                object_pk=F("id"),
                object_name=_object_name(history_model),
            ).values(
                "history_id",
                "history_date",
                "history_type",
                "history_user_id",
                "model_label",
                "object_pk",
                "object_name",
            )
        )
    if not parts:
        return next(iter(audit_models().values())).objects.none().values("history_id")
    union = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    return union.order_by("-history_date", "-history_id")


def audit_events(rows: list[dict]) -> list[AuditEvent]:
    """Events with their field-level changes for a page of rows: two queries per model on the page."""
    models = audit_models()
    ids_by_model = defaultdict(list)
    for row in rows:
        ids_by_model[row["model_label"]].append(row["history_id"])
    records = {}
    for label, ids in ids_by_model.items():
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
    _humanize(events, models)
    return events


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
            model_field = _model_field(opts, change.field)
            if model_field is None:
                continue
            change.field = model_field.name
            change.old, change.new = (
                _readable(model_field, names, value) for value in (change.old, change.new)
            )


def _readable(model_field, names: dict, value):
    if value is None:
        return None
    if model_field.many_to_one:
        return names.get(model_field.related_model, {}).get(value, f"#{value} (deleted)")
    if model_field.choices:
        return dict(model_field.flatchoices).get(value, value)
    return value


def _field_changes(record, prev) -> list[FieldChange]:
    if record.history_type == "~" and prev is not None:
        delta = record.diff_against(prev, foreign_keys_are_objs=False)
        return [FieldChange(c.field, c.old, c.new) for c in delta.changes if c.field not in IGNORED_FIELDS]
    if record.history_type == "+":
        return [
            FieldChange(f.attname, None, getattr(record, f.attname))
            for f in record.instance_type._meta.fields
            if f.attname not in IGNORED_FIELDS
            and f.attname != "id"
            and getattr(record, f.attname, None) not in (None, "", [])
        ]
    return []


def audit_events_iter(rows: QuerySet, chunk_size: int = 1000) -> Iterator[AuditEvent]:
    """All events of a filtered trail, fetched a chunk at a time (for CSV export)."""
    offset = 0
    while True:
        chunk = list(rows[offset : offset + chunk_size])
        if not chunk:
            return
        yield from audit_events(chunk)
        offset += chunk_size

"""One declarative pipeline spec: what a pipeline is, whoever describes it.

A `PipelineSpec` (the pipeline's settings and its mappings, each with its steps) is built from a YAML file
(`pipelines.as_code`), from the admin's form and mapping formset (`pipelines.admin`) or from the database
(`pipeline_spec_from_pipeline`: the export and the configuration a run records). It is checked by one pure
function, `pipeline_spec_errors`, which writes nothing (it reads the catalog) and says where each problem is
(a model field, or a field of the n-th mapping); each caller words the location its own way (a YAML path, a
form field). It is saved by one service, `pipeline_spec_save`.
"""

import copy
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import NamedTuple

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction

from pipelines.choices import FILE_KINDS, ExtractMode, LoadMode, SourceKind

__all__ = [
    "MappingSpec",
    "PipelineSpec",
    "SpecProblem",
    "pipeline_spec_from_pipeline",
    "pipeline_spec_errors",
    "pipeline_spec_save",
    "SpecSaved",
]


@dataclass
class MappingSpec:
    """Where one target column's value comes from; `column` is None when it names no column of the target.

    `index` is its place in the file or the formset (where its problems are told); `position` its stored
    order (None: its place among the spec's mappings); `instance` the stored mapping it updates, if the
    describer knows it (the admin's row, carrying the version its editor loaded), else the stored mapping
    of its column is updated.
    """

    column_name: str
    column: object | None = None
    source_field: str = ""
    constant: str | None = None
    steps: list = field(default_factory=list)
    index: int = 0
    position: int | None = None
    instance: object | None = None


@dataclass
class PipelineSpec:
    """A pipeline's settings, named as the model's fields, and its mappings in order.

    `mappings` None means the describer said nothing about them (they are checked as stored).
    """

    name: str = ""
    description: str = ""
    enabled: bool = True
    owner: object | None = None
    target: object | None = None
    # Source: a file (path or upload, with its reading options) or a table or query of a data store
    source_kind: str = SourceKind.CSV
    source_path: str = ""
    source_file: object = ""  # the stored file's name, or a file (a FieldFile, a new upload)
    csv_delimiter: str = ","
    csv_quotechar: str = '"'
    encoding: str = "utf-8"
    has_header: bool = True
    null_markers: list = field(default_factory=list)
    sheet_name: str = ""
    source_datastore: object | None = None
    source_table: str = ""
    source_query: str = ""
    # Extract and load
    extract_mode: str = ExtractMode.FULL
    watermark_field: str = ""
    load_mode: str = LoadMode.APPEND
    key_columns: list = field(default_factory=list)
    reject_threshold_percent: Decimal = Decimal(5)
    batch_size: int = 50_000
    max_retries: int = 3
    run_quality: bool = False
    # When
    schedule: str = ""
    run_after: object | None = None
    mappings: list[MappingSpec] | None = None

    def values(self) -> dict:
        """The model field values of the pipeline itself."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "mappings"}

    def to_config(self) -> dict:
        """The spec as plain data, keyed by names (never database ids), in the YAML file's layout."""
        config = {
            "name": self.name,
            "description": self.description,
            "enabled": self.enabled,
            "target": {"datastore": self.target.datastore.name, "entity": self.target.name},
            "source": self._source_config(),
            "extract": {"mode": self.extract_mode},
            "load": {"mode": self.load_mode},
            "reject_threshold_percent": float(self.reject_threshold_percent),
            "batch_size": self.batch_size,
            "max_retries": self.max_retries,
            "mappings": [_mapping_config(m) for m in self.mappings or [] if m.column is not None],
        }
        if self.watermark_field:
            config["extract"]["watermark"] = self.watermark_field
        if self.key_columns:
            config["load"]["key"] = list(self.key_columns)
        if self.schedule:
            config["schedule"] = self.schedule
        if self.run_after is not None:
            config["run_after"] = self.run_after.name
        if self.owner is not None:
            config["owner"] = self.owner.get_username()
        if self.run_quality:
            config["run_quality"] = True
        return config

    def _source_config(self) -> dict:
        source: dict = {"kind": self.source_kind}
        if self.source_kind not in FILE_KINDS:
            source["datastore"] = self.source_datastore.name if self.source_datastore is not None else None
            if self.source_kind == SourceKind.SQL_TABLE:
                source["table"] = self.source_table
            else:
                source["query"] = self.source_query
            return source
        if self.source_path:
            source["path"] = self.source_path
        elif self.source_file:
            source["upload"] = _file_name(self.source_file)
        source["encoding"] = self.encoding
        if self.source_kind == SourceKind.CSV:
            source["delimiter"] = self.csv_delimiter
            source["quotechar"] = self.csv_quotechar
        source["header"] = self.has_header
        source["null_markers"] = list(self.null_markers or [])
        if self.sheet_name:
            source["sheet"] = self.sheet_name
        return source


def _file_name(value) -> str:
    return (getattr(value, "name", value) or "") if value else ""


def _mapping_config(mapping: MappingSpec) -> dict:
    item: dict = {"column": mapping.column_name}
    if mapping.source_field:
        item["field"] = mapping.source_field
    if mapping.constant is not None:
        item["constant"] = mapping.constant
    if mapping.steps:
        item["steps"] = mapping.steps
    return item


def pipeline_spec_from_pipeline(pipeline, *, with_mappings: bool = True) -> PipelineSpec:
    """The spec of a pipeline as its instance holds it, with its stored mappings in their order (or, without
    `with_mappings`, saying nothing about them)."""
    values = {f.name: getattr(pipeline, f.name) for f in fields(PipelineSpec) if f.name != "mappings"}
    values["source_file"] = pipeline.source_file  # a FieldFile: its name, or an upload not stored yet
    if not with_mappings:
        return PipelineSpec(**values)
    mappings = [
        MappingSpec(
            column_name=m.column.name,
            column=m.column,
            source_field=m.source_field,
            constant=m.constant,
            steps=m.steps or [],
            index=index,
            position=m.position,
            instance=m,
        )
        for index, m in enumerate(pipeline.mappings.select_related("column").order_by("position", "id"))
    ]
    return PipelineSpec(**values, mappings=mappings)


# Checking -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpecProblem:
    """One problem: the model field it is about (NON_FIELD_ERRORS for the whole), and for a mapping's own
    problem the mapping's `index`."""

    field: str
    message: str
    mapping: int | None = None


def _pipeline_in_memory(spec: PipelineSpec, instance=None):
    """The pipeline the spec describes, unsaved: a copy of `instance` (the stored one) or a new one."""
    from pipelines.models import Pipeline

    pipeline = copy.copy(instance) if instance is not None else Pipeline()
    for name, value in spec.values().items():
        setattr(pipeline, name, value)
    return pipeline


def _mappings_in_memory(spec: PipelineSpec, pipeline) -> tuple[list, list[SpecProblem]]:
    """Unsaved FieldMapping rows for the mappings naming a column, and their own problems."""
    from pipelines.models import FieldMapping

    rows, problems = [], []
    for position, mapping in enumerate(m for m in spec.mappings or [] if m.column is not None):
        row = FieldMapping(
            pipeline=pipeline,
            column=mapping.column,
            source_field=mapping.source_field,
            constant=mapping.constant,
            steps=mapping.steps,
            position=position,
        )
        try:
            # The pipeline may be new (no id yet): its link is what the save sets, not something to check.
            row.full_clean(exclude=["pipeline"], validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            problems += _problems(exc, mapping=mapping.index)
        rows.append(row)
    return rows, problems


def _problems(exc: ValidationError, mapping: int | None = None) -> list[SpecProblem]:
    if not hasattr(exc, "error_dict"):
        return [SpecProblem(NON_FIELD_ERRORS, message, mapping) for message in exc.messages]
    return [
        SpecProblem(name, message, mapping)
        for name, messages in exc.message_dict.items()
        for message in messages
    ]


def pipeline_spec_errors(
    spec: PipelineSpec, *, instance=None, mappings_only: bool = False, draft: bool = False
) -> list[SpecProblem]:
    """Every problem of the spec, the mappings' own first, then the pipeline's; writes nothing.

    `instance` is the pipeline the spec would update (None: a new one). With `mappings_only`, only what
    depends on the mappings is checked (the admin's form has checked the pipeline's own fields). A `draft`
    (a pipeline added in the admin, whose target's columns the page lists only once it is saved) is not
    held to what its mappings need to run: the admin saves it and says what it lacks.
    """
    from pipelines.config import pipeline_config_errors, pipeline_mapping_errors

    pipeline = _pipeline_in_memory(spec, instance)
    rows, problems = _mappings_in_memory(spec, pipeline) if spec.mappings is not None else (None, [])
    check_mappings = not draft and (rows is not None or pipeline.pk is not None)
    if mappings_only:
        found = pipeline_mapping_errors(pipeline, rows) if rows is not None and check_mappings else {}
        return problems + [SpecProblem(name, message) for name, message in found.items()]
    errors: dict = {}
    try:
        pipeline.clean_fields()
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    for name, message in pipeline_config_errors(
        pipeline, mappings=rows, with_mappings=check_mappings
    ).items():
        errors.setdefault(name, []).append(message)
    try:
        pipeline.validate_unique(exclude=[name for name in errors if name != NON_FIELD_ERRORS])
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    return problems + _problems(ValidationError(errors)) if errors else problems


# Saving ---------------------------------------------------------------------------------------------------


class SpecSaved(NamedTuple):
    """What `pipeline_spec_save` wrote: the pipeline, whether it was created, and the mappings added,
    changed (each with the names of its changed fields) and deleted."""

    pipeline: object
    created: bool
    added: list
    changed: list[tuple[object, list[str]]]
    deleted: list


MAPPING_FIELDS = ["column", "source_field", "constant", "steps", "position"]


def _changed_fields(stored, values: dict) -> list[str]:
    """Names of the fields whose value differs from the stored object's (a file compares by name)."""
    changed = []
    for name, value in values.items():
        current = getattr(stored, name)
        if name == "source_file":
            current, value = _file_name(current), _file_name(value)
        if current != value:
            changed.append(name)
    return changed


def _mapping_values(mapping: MappingSpec, position: int) -> dict:
    return {
        "column": mapping.column,
        "source_field": mapping.source_field,
        "constant": mapping.constant,
        "steps": mapping.steps,
        "position": position if mapping.position is None else mapping.position,
    }


def _mappings_save(pipeline, spec: PipelineSpec, user, saved: SpecSaved) -> None:
    """Delete the stored mappings the spec lacks, then update the changed ones and add the new ones.

    A mapping updates its own stored row when the describer knows it, else the row of its column; what it
    is compared with is the row as stored, and what is saved is the describer's instance (so the version
    its editor loaded is what the save compares and sets).
    """
    from pipelines.models import FieldMapping

    stored = {m.pk: m for m in FieldMapping.objects.filter(pipeline=pipeline).select_related("column")}
    wanted = [m for m in spec.mappings or [] if m.column is not None]
    known = {id(m): m.instance for m in wanted if m.instance is not None and m.instance.pk in stored}
    claimed = {instance.pk for instance in known.values()}
    by_column = {m.column.name: m for m in stored.values() if m.pk not in claimed}
    plan = []  # (the row as stored or None, the instance to save, the values)
    for position, mapping in enumerate(wanted):
        values = _mapping_values(mapping, position)
        if id(mapping) in known:
            plan.append((stored[known[id(mapping)].pk], known[id(mapping)], values))
        else:
            row = by_column.pop(mapping.column_name, None)
            plan.append((row, row or FieldMapping(), values))
    kept = {row.pk for row, _, _ in plan if row is not None}
    for row in stored.values():
        if row.pk not in kept:
            row._history_user = user
            row.delete()
            saved.deleted.append(row)
    for row, target, values in sorted(plan, key=lambda step: step[0] is None):  # updates before additions
        changed = _changed_fields(row, values) if row is not None else list(values)
        if row is not None and not changed:
            continue
        for name, value in {**values, "pipeline": pipeline}.items():
            setattr(target, name, value)
        target._history_user = user
        target.save()
        if row is None:
            saved.added.append(target)
        else:
            saved.changed.append((target, changed))


@transaction.atomic
def pipeline_spec_save(*, spec: PipelineSpec, user, instance=None, draft: bool = False) -> SpecSaved:
    """Make the catalog match the spec and say what was written.

    `instance` is the pipeline to save (stored, or new and unsaved from the admin's add page); None creates
    one. The caller locks a stored one if it must. ValidationError listing `pipeline_spec_errors` when the
    spec has problems, and nothing is written. The pipeline and each mapping are saved only if they differ
    from what is stored, so no empty history row is written; history names `user`.
    """
    from pipelines.models import Pipeline

    problems = pipeline_spec_errors(spec, instance=instance, draft=draft)
    if problems:
        raise ValidationError([f"{p.field}: {p.message}" for p in problems])
    pipeline = instance if instance is not None else Pipeline()
    created = pipeline.pk is None
    saved = SpecSaved(pipeline, created, [], [], [])
    values = spec.values()
    stored = None if created else Pipeline.objects.filter(pk=pipeline.pk).first()
    if stored is None or _changed_fields(stored, values):
        for name, value in values.items():
            setattr(pipeline, name, value)
        pipeline._history_user = user
        pipeline.save()
    if spec.mappings is not None:
        _mappings_save(pipeline, spec, user, saved)
    return saved

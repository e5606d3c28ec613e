"""Whether a pipeline's configuration can run: checked when it is saved, applied from YAML, and run.

Returns errors keyed by field, in words a platform admin can act on. Checks that need the source itself
(do the mapped fields exist?) are in `source_fields_check`, run before any row moves.
"""

import codecs

from croniter import croniter

from catalog.choices import KeyGeneration
from catalog.schema.metadata import AUDIT_COLUMNS
from core.masking import load_masking, masking_conflict
from core.sql_gate import SqlRefused
from pipelines.choices import FILE_KINDS, ExtractMode, LoadMode, SourceKind
from pipelines.transforms import MASKING_STEPS

__all__ = [
    "pipeline_config_errors",
    "pipeline_mapping_errors",
    "generated_always_error",
    "source_fields_check",
    "unique_keys",
]


class _Problems(dict):
    """Field → message, where a second problem with the same field is added to the first, not lost."""

    def __setitem__(self, key, value):
        if key in self and value not in self[key]:
            value = f"{self[key]} {value}"
        super().__setitem__(key, value)

    def update(self, other=(), **more):
        for key, value in dict(other, **more).items():
            self[key] = value


def unique_keys(entity, columns=None) -> list[set[str]]:
    """Column sets the table enforces as unique: the primary key, unique columns, unique indexes (without
    a condition). One query for the indexes, however many there are."""
    from catalog.models import IndexColumn

    columns = list(entity.columns.all()) if columns is None else list(columns)
    keys = []
    primary = {c.name for c in columns if c.primary_key_position}
    if primary:
        keys.append(primary)
    keys += [{c.name} for c in columns if c.is_unique]
    indexed: dict[int, set[str]] = {}
    for index_id, name in IndexColumn.objects.filter(
        index__entity=entity, index__is_unique=True, index__condition="", included=False
    ).values_list("index_id", "column__name"):
        indexed.setdefault(index_id, set()).add(name)
    return keys + list(indexed.values())


def _schedule_error(schedule: str) -> str | None:
    if schedule and not croniter.is_valid(schedule):
        return f"'{schedule}' is not a cron expression (five fields: minute hour day month weekday)."
    return None


def pipeline_config_errors(
    pipeline, *, check_source: bool = True, columns=None, mappings=None, keys=None, with_mappings: bool = True
) -> dict[str, str]:
    """Problems by field. `columns` (the target's), `mappings` (with their columns) and `keys` (the target's
    unique_keys) may be passed when the caller has read them already: a run reads each once, whatever the
    number of columns. The mappings are checked when given (held in memory, unsaved) or, for a saved
    pipeline, as stored; `with_mappings=False` checks the pipeline's own settings only (Pipeline.clean: the
    model cannot see mappings submitted with it, the spec can: pipelines.spec)."""
    errors: dict[str, str] = _Problems()
    kind = pipeline.source_kind
    if kind in FILE_KINDS:
        if not pipeline.source_file and not pipeline.source_path:
            errors["source_path"] = "A file source needs an uploaded file or a path under the import folder."
        elif pipeline.source_path and not pipeline.source_file and check_source:
            from pipelines.sources import PipelineDataError, import_path_resolve

            try:
                import_path_resolve(pipeline.source_path, must_exist=False)
            except PipelineDataError as exc:
                errors["source_path"] = exc.message
        if (
            kind == SourceKind.CSV
            and len(pipeline.csv_delimiter) != 1
            and pipeline.csv_delimiter not in ("\\t",)
        ):
            errors["csv_delimiter"] = "The delimiter is one character (or \\t for tab)."
        try:
            codecs.lookup(pipeline.encoding)
        except LookupError:
            errors["encoding"] = f"Unknown encoding '{pipeline.encoding}'."
        if pipeline.source_datastore_id:
            errors["source_datastore"] = "File sources have no source data store; clear it."
    else:
        if not pipeline.source_datastore_id:
            errors["source_datastore"] = "A SQL source needs a source data store."
        elif pipeline.source_datastore.engine not in ("postgresql", "sqlite"):
            errors["source_datastore"] = "SQL sources can be PostgreSQL or SQLite data stores."
        if kind == SourceKind.SQL_TABLE and not pipeline.source_table:
            errors["source_table"] = "Name the source table (table or schema.table)."
        elif kind == SourceKind.SQL_QUERY and not pipeline.source_query.strip():
            errors["source_query"] = "Write the query."
        elif pipeline.source_datastore_id and "source_datastore" not in errors:
            from pipelines.sources import source_sql_check

            try:
                source_sql_check(pipeline)
            except SqlRefused as refusal:
                errors["source_query" if kind == SourceKind.SQL_QUERY else "source_table"] = refusal.message
        if pipeline.source_path or pipeline.source_file:
            errors["source_path"] = "SQL sources read no file; clear the path and upload."

    if pipeline.extract_mode == ExtractMode.INCREMENTAL and not pipeline.watermark_field:
        errors["watermark_field"] = "Incremental extraction needs the watermark field (e.g. updated_at)."
    if pipeline.extract_mode == ExtractMode.FULL and pipeline.watermark_field:
        errors["watermark_field"] = "A watermark only applies to incremental extraction."

    problem = _schedule_error(pipeline.schedule)
    if problem:
        errors["schedule"] = problem
    if pipeline.run_after_id:
        seen, current = {pipeline.pk}, pipeline.run_after
        while current is not None:
            if current.pk in seen:
                errors["run_after"] = "Running after that pipeline would make a cycle."
                break
            seen.add(current.pk)
            current = current.run_after

    if not pipeline.target_id:
        return errors
    target = pipeline.target
    if target.datastore.engine != "postgresql":
        errors["target"] = (
            f"Pipelines load PostgreSQL tables (through COPY); '{target.datastore.name}' is "
            f"{target.datastore.get_engine_display()}."
        )
    columns = {c.name: c for c in (target.columns.all() if columns is None else columns)}
    key = list(pipeline.key_columns or [])
    if not isinstance(pipeline.key_columns, list) or not all(isinstance(k, str) for k in key):
        errors["key_columns"] = 'Key columns are a list of column names, e.g. ["customer_id"].'
        return errors
    unknown = [k for k in key if k not in columns]
    if unknown:
        errors["key_columns"] = f"{target.name} has no column {', '.join(unknown)}."
    mode = pipeline.load_mode
    # The key is what upsert merges on and what SCD2 versions share; append and replace need none, since
    # every primary key and unique constraint of the target is checked whatever the key (pipelines.plan).
    if key and mode in (LoadMode.APPEND, LoadMode.REPLACE):
        errors["key_columns"] = (
            f"Key columns apply to upsert and SCD type 2 loads only; {mode} already rejects rows that repeat "
            f"the primary key or a unique constraint of {target.name}. Clear them."
        )
    if mode == LoadMode.UPSERT and not unknown:
        effective = set(key) or {c.name for c in columns.values() if c.primary_key_position}
        if not effective:
            errors["key_columns"] = f"Upsert needs key columns: {target.name} has no primary key; name them."
        elif effective not in (unique_keys(target, columns.values()) if keys is None else keys):
            errors["key_columns"] = (
                f"Upsert on ({', '.join(sorted(effective))}) needs a primary key or unique constraint on "
                "exactly "
                "those columns."
            )
    if mode == LoadMode.SCD2:
        from pipelines.load import SCD2_COLUMNS

        missing = [name for name in SCD2_COLUMNS if name not in columns]
        if missing:
            errors["load_mode"] = (
                "SCD type 2 needs the columns valid_from (timestamptz), valid_to (timestamptz, nullable) "
                f"and "
                f"is_current (boolean) on {target.name}; it lacks {', '.join(missing)}."
            )
        if not key:
            errors["key_columns"] = "SCD type 2 needs the business key columns (versions share them)."
    if with_mappings and (mappings is not None or pipeline.pk):
        if mappings is None:
            mappings = pipeline.mappings.select_related("column")
        errors.update(_mapping_errors(pipeline, list(mappings), columns, key, mode))
    return errors


def pipeline_mapping_errors(pipeline, mappings) -> dict[str, str]:
    """Only the problems that come from the mappings given (held in memory, with their columns) under the
    pipeline's settings, by field: "mappings", "key_columns", "watermark_field". Nothing while the target or
    the key columns are themselves wrong (pipeline_config_errors says so)."""
    key = pipeline.key_columns
    if not pipeline.target_id or not isinstance(key, list) or not all(isinstance(k, str) for k in key):
        return {}
    columns = {c.name: c for c in pipeline.target.columns.all()}
    return dict(_mapping_errors(pipeline, list(mappings), columns, list(key), pipeline.load_mode))


def generated_always_error(column) -> str | None:
    """Why a load may not write a column: the database refuses a value for GENERATED ALWAYS."""
    if column.generation != KeyGeneration.ALWAYS:
        return None
    return (
        f"{column.name} is GENERATED ALWAYS AS IDENTITY: the database refuses a given value, so the load "
        "would fail. Leave it unmapped and the database generates it."
    )


def _mapping_errors(pipeline, mappings: list, columns: dict, key: list[str], mode: str) -> dict[str, str]:
    from pipelines.load import SCD2_COLUMNS

    errors = _Problems()
    mapped = {m.column.name for m in mappings}
    if not mapped:
        return {"mappings": "Map at least one target column."}
    generated = set(SCD2_COLUMNS) if mode == LoadMode.SCD2 else set()
    wrongly = sorted(mapped & generated)
    if wrongly:
        errors["mappings"] = f"{', '.join(wrongly)} are set by SCD type 2 loads; do not map them."
    required = sorted(
        name
        for name, column in columns.items()
        if not column.nullable
        and not column.default_value
        and not column.generation  # the database generates serial and identity columns
        and name not in mapped
        and name not in generated
        and name not in {a[0] if isinstance(a, tuple) else a for a in AUDIT_COLUMNS}
    )
    if required:
        errors["mappings"] = f"Required (NOT NULL, no default) columns are not mapped: {', '.join(required)}."
    effective = key or [c.name for c in columns.values() if c.primary_key_position]
    if mode in (LoadMode.UPSERT, LoadMode.SCD2):
        unmapped_keys = [k for k in effective if k not in mapped]
        if unmapped_keys:
            errors["key_columns"] = f"Key columns must be mapped: {', '.join(unmapped_keys)}."
    if pipeline.extract_mode == ExtractMode.INCREMENTAL and pipeline.watermark_field:
        if not any(m.source_field == pipeline.watermark_field for m in mappings):
            errors["watermark_field"] = (
                f"Map the watermark field '{pipeline.watermark_field}' to a column, so its type is known."
            )
    for mapping in mappings:
        refusal = generated_always_error(mapping.column)
        if refusal:
            errors["mappings"] = refusal
        explicit = any(
            isinstance(step, dict) and step.get("op") in MASKING_STEPS for step in mapping.steps or []
        )
        strategy = "none" if explicit else load_masking(mapping.column)
        conflict = masking_conflict(mapping.column, strategy)
        if conflict:
            errors["mappings"] = (
                f"{mapping.column.name} is {mapping.column.get_pii_category_display().lower()} data, masked "
                f"when loaded, but {conflict}. Change the column's masking strategy or its definition."
            )
        for step in mapping.steps or []:
            if isinstance(step, dict) and step.get("op") == "lookup":
                from catalog.models import Entity

                if not Entity.objects.filter(
                    datastore=pipeline.target.datastore, name=step.get("entity")
                ).exists():
                    errors["mappings"] = (
                        f"Lookup step of {mapping.column.name}: no entity '{step.get('entity')}' in "
                        f"{pipeline.target.datastore.name}."
                    )
    return errors


def source_fields_check(fields: list[str], needed: list[str]) -> None:
    """PipelineDataError naming the mapped fields the source lacks."""
    from pipelines.sources import PipelineDataError

    missing = [name for name in needed if name not in fields]
    if missing:
        shown = ", ".join(fields[:30]) + (" …" if len(fields) > 30 else "")
        raise PipelineDataError(
            f"The source has no field {', '.join(repr(m) for m in missing)} (it has: {shown}). "
            "Fix the mapping "
            "or the file's header; nothing was loaded."
        )

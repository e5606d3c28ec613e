"""Transform and validate: a pipeline compiled once into Polars expressions, applied to each batch.

`plan_build` reads the pipeline, its mappings and the target's catalog columns; `plan_apply` turns one batch
of source text into the rows to load (typed, in target column order) and the rejected rows (record number,
raw values, a reason per column). The dry run and the real run share both, so the preview is the run.
"""

from dataclasses import dataclass, field

import polars as pl

from core.masking import load_masking
from pipelines.choices import ExtractMode
from pipelines.load import SCD2_COLUMNS
from pipelines.sources import PipelineDataError
from pipelines.transforms import (
    MASKING_STEPS,
    Check,
    StepContext,
    lookup_key,
    masking_step,
    steps_compile,
    steps_describe,
)
from pipelines.validate import ColumnSpec, column_checks, column_spec, python_value, value_convert

__all__ = [
    "Plan",
    "MappingPlan",
    "Rejected",
    "PipelineNotConfigured",
    "plan_build",
    "plan_apply",
    "plan_lookups_load",
]

TYPED_STEPS = {"parse_date", "parse_datetime", "parse_time", "parse_number"}
ROW = "custodian_row"


@dataclass
class MappingPlan:
    spec: ColumnSpec
    source_field: str
    constant: str | None
    steps: list[dict]
    masked_by_default: bool = False
    mask_step: dict | None = None  # applied after validation: the source value is checked, the mask stored

    @property
    def text_output(self) -> bool:
        text = True
        for step in self.steps:
            if step["op"] in TYPED_STEPS or (step["op"] == "cast" and step["type"] != "string"):
                text = False
            elif step["op"] not in ("cast",):
                text = True
        return text


@dataclass
class Rejected:
    row_number: int
    raw: dict
    errors: dict


@dataclass
class Plan:
    pipeline_name: str
    mappings: list[MappingPlan]
    key: list[str]
    load_mode: str
    incremental: bool
    watermark_field: str
    watermark_spec: ColumnSpec | None
    # Column sets no two loaded rows may share: the load's key and every unique key of the target whose
    # columns are all mapped (primary key, unique columns, unique indexes without a condition).
    unique_keys: list[list[str]] = field(default_factory=list)
    context: StepContext = field(default_factory=StepContext)
    expressions: list | None = None

    @property
    def columns(self) -> list[str]:
        return [m.spec.name for m in self.mappings]

    def source_fields_needed(self) -> list[str]:
        needed = []
        for m in self.mappings:
            if m.source_field:
                needed.append(m.source_field)
            for step in m.steps:
                if step["op"] == "concat":
                    needed.extend(step["fields"])
        if self.incremental and self.watermark_field:
            needed.append(self.watermark_field)
        return list(dict.fromkeys(needed))

    def lineage(self, source_label: str) -> list[dict]:
        return [
            {
                "source": source_label,
                "source_field": m.source_field,
                "constant": m.constant,
                "column": m.spec.name,
                "steps": steps_describe(m.steps + ([m.mask_step] if m.mask_step else [])),
                "masked_by_default": m.masked_by_default,
            }
            for m in self.mappings
        ]


def _unique_keys(key: list[str], keys: list[set[str]], columns: list, mapped: set[str]) -> list[list[str]]:
    """The column sets the batch is checked against, the load's key first, each once, all mapped.

    A row that repeats one of them would make the database refuse the whole load (append, replace) or
    leave it to chance which row wins (upsert); rejected instead, it goes to quarantine with its reason."""
    ordered = {c.name: c.position for c in columns}
    found: list[list[str]] = []
    for candidate in [key, *(sorted(k, key=lambda n: (ordered.get(n, 0), n)) for k in keys)]:
        if candidate and set(candidate) <= mapped and all(set(candidate) != set(f) for f in found):
            found.append(list(candidate))
    return found


def _key_columns(pipeline, columns: dict) -> list[str]:
    if pipeline.key_columns:
        return list(pipeline.key_columns)
    primary = sorted(
        (c for c in columns.values() if c.primary_key_position), key=lambda c: c.primary_key_position
    )
    return [c.name for c in primary]


class PipelineNotConfigured(PipelineDataError):
    """The pipeline's configuration stops it from running; `errors` holds the problems by field."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("The pipeline is not runnable: " + errors_text(errors))


def errors_text(errors: dict[str, str]) -> str:
    return "; ".join(f"{field}: {problem}" for field, problem in errors.items())


def plan_build(pipeline, *, check_source: bool = False) -> Plan:
    """The pipeline compiled against the catalog; PipelineNotConfigured when it cannot run as configured.

    Reads the target's columns and the mappings once, for the checks and the plan alike."""
    from pipelines.config import pipeline_config_errors, unique_keys

    column_list = list(pipeline.target.columns.all())
    mapping_list = list(pipeline.mappings.select_related("column").order_by("position", "id"))
    keys = unique_keys(pipeline.target, column_list)
    errors = pipeline_config_errors(
        pipeline, check_source=check_source, columns=column_list, mappings=mapping_list, keys=keys
    )
    if errors:
        raise PipelineNotConfigured(errors)
    columns = {c.name: c for c in column_list}
    key = _key_columns(pipeline, columns)
    mappings = []
    for mapping in mapping_list:
        column = mapping.column
        steps = list(mapping.steps or [])
        masked = False
        default_mask = masking_step(load_masking(column))
        mask_step = None
        if default_mask and not any(step["op"] in MASKING_STEPS for step in steps):
            mask_step, masked = default_mask, True
        spec = column_spec(column)
        if column.name in key:
            spec = ColumnSpec(**{**spec.__dict__, "is_key": True})
        mappings.append(MappingPlan(spec, mapping.source_field, mapping.constant, steps, masked, mask_step))
    watermark_spec = None
    if pipeline.extract_mode == ExtractMode.INCREMENTAL:
        target = next((m for m in mappings if m.source_field == pipeline.watermark_field), None)
        watermark_spec = (
            target.spec if target else ColumnSpec(name=pipeline.watermark_field, data_type="text")
        )
    return Plan(
        pipeline_name=pipeline.name,
        mappings=mappings,
        key=key,
        load_mode=pipeline.load_mode,
        incremental=pipeline.extract_mode == ExtractMode.INCREMENTAL,
        watermark_field=pipeline.watermark_field,
        watermark_spec=watermark_spec,
        unique_keys=_unique_keys(key, keys, column_list, {m.spec.name for m in mappings}),
    )


def plan_lookups_load(plan: Plan, pipeline, connection) -> None:
    """Read the reference tables that lookup steps enrich from (key → value), once per run."""
    from psycopg import sql

    from catalog.models import Entity

    for mapping in plan.mappings:
        for step in mapping.steps:
            if step["op"] != "lookup" or lookup_key(step) in plan.context.lookups:
                continue
            entity = Entity.objects.filter(datastore=pipeline.target.datastore, name=step["entity"]).first()
            if entity is None:
                raise PipelineDataError(
                    f"Lookup on '{mapping.spec.name}': no entity '{step['entity']}' in data store "
                    f"'{pipeline.target.datastore.name}'."
                )
            schema = pipeline.target.datastore.schema_name or "public"
            with connection.cursor() as cursor:
                try:
                    cursor.execute(
                        sql.SQL("SELECT {k}::text, {v}::text FROM {t}").format(
                            k=sql.Identifier(step["key"]),
                            v=sql.Identifier(step["value"]),
                            t=sql.Identifier(schema, entity.name),
                        )
                    )
                except Exception as exc:
                    raise PipelineDataError(
                        f"Lookup on '{mapping.spec.name}' cannot read {schema}.{entity.name}: "
                        f"{str(exc).strip().splitlines()[0]}"
                    ) from None
                plan.context.lookups[lookup_key(step)] = dict(cursor.fetchall())


@dataclass
class CompiledMapping:
    """One mapping compiled into passes over a batch, so that no expression is evaluated twice.

    Pass 1 over the source: `value` (after the steps) and `step_failed`. Pass 2: `typed` over the value
    column. Pass 3: `column_failed` over the value and typed columns, and `loaded` (the typed value, or the
    masked one). `reason`, the first failure's message over the source, runs only for rows that failed.
    """

    name: str
    value: pl.Expr
    step_failed: pl.Expr | None
    typed: pl.Expr
    column_failed: list[pl.Expr]
    loaded: pl.Expr
    reason: pl.Expr

    @property
    def value_column(self) -> str:
        return f"custodian_value_{self.name}"

    @property
    def typed_column(self) -> str:
        return f"custodian_typed_{self.name}"


def _compile(plan: Plan) -> list[CompiledMapping]:
    if plan.expressions is not None:
        return plan.expressions
    result = []
    for m in plan.mappings:
        source = pl.col(m.source_field) if m.source_field else pl.lit(m.constant, pl.String)
        value, step_checks = steps_compile(source, m.steps, plan.context)
        text = m.text_output
        reason = _first_reason(
            step_checks + column_checks(value, value_convert(value, m.spec, text), m.spec, text)
        )
        value_column = pl.col(f"custodian_value_{m.spec.name}")
        typed_column = pl.col(f"custodian_typed_{m.spec.name}")
        loaded = typed_column
        if m.mask_step:  # validated as read, stored masked
            masked, _ = steps_compile(value_column, [m.mask_step], plan.context)
            loaded = value_convert(masked, m.spec, source_is_text=True)
        result.append(
            CompiledMapping(
                name=m.spec.name,
                value=value,
                step_failed=_any_failed(step_checks),
                typed=value_convert(value_column, m.spec, source_is_text=text),
                column_failed=[
                    c.failed.fill_null(False) for c in column_checks(value_column, typed_column, m.spec, text)
                ],
                loaded=loaded,
                reason=reason,
            )
        )
    plan.expressions = result
    return result


def _any_failed(checks: list[Check]) -> pl.Expr | None:
    return pl.any_horizontal([c.failed.fill_null(False) for c in checks]) if checks else None


def _first_reason(checks: list[Check]) -> pl.Expr:
    if not checks:
        return pl.lit(None, pl.String)
    expression = pl.when(checks[0].failed.fill_null(False)).then(checks[0].reason)
    for check in checks[1:]:
        expression = expression.when(check.failed.fill_null(False)).then(check.reason)
    return expression.otherwise(pl.lit(None, pl.String))


def _watermark(plan: Plan, compiled: list[CompiledMapping]) -> tuple[str, pl.Expr | None]:
    """(column holding the typed watermark, expression to compute it when no mapping reads the field).

    The watermark is the mapped value after the mapping's steps and before masking."""
    for m, c in zip(plan.mappings, compiled, strict=True):
        if m.source_field == plan.watermark_field:
            return c.typed_column, None
    expression = value_convert(pl.col(plan.watermark_field), plan.watermark_spec, source_is_text=True)
    return "custodian_wm", expression


def plan_apply(
    plan: Plan, batch: pl.DataFrame, first_row: int, watermark: str | None = None
) -> tuple[pl.DataFrame, list[Rejected], str | None]:
    """(rows to load in target column order, rejected rows, highest watermark loaded) for one batch.

    With a `watermark`, rows at or before it are skipped, and so are rows without one; a row whose watermark
    cannot be read is rejected with the reason (filtering before validation dropped it silently).
    """
    compiled = _compile(plan)
    numbered = batch.with_row_index(ROW, offset=first_row)
    wm_name, wm_expr = _watermark(plan, compiled) if plan.incremental else (None, None)
    step_flags = {
        f"custodian_step_{i}": c.step_failed for i, c in enumerate(compiled) if c.step_failed is not None
    }
    values = numbered.select(
        pl.col(ROW),
        *[c.value.alias(c.value_column) for c in compiled],
        *[flag.alias(name) for name, flag in step_flags.items()],
        *([wm_expr.alias(wm_name)] if wm_expr is not None else []),
    )
    typed = values.with_columns(*[c.typed.alias(c.typed_column) for c in compiled])
    flags = [pl.col(name) for name in step_flags] + [flag for c in compiled for flag in c.column_failed]
    typed = typed.with_columns(
        (pl.any_horizontal(flags) if flags else pl.lit(False)).alias("custodian_failed"),
        *[c.loaded.alias(c.name) for c in compiled],
    )
    if plan.incremental and watermark is not None:
        bound, wm = python_value(plan.watermark_spec, watermark), pl.col(wm_name)
        typed = typed.filter((wm > pl.lit(bound)) | (wm.is_null() & pl.col("custodian_failed")))
    good = typed.filter(~pl.col("custodian_failed"))
    bad = typed.filter(pl.col("custodian_failed")).select(ROW)
    good, duplicates = _duplicates_split(good, plan.unique_keys)
    rows = good.select(plan.columns)
    rejects = _rejects(numbered, bad, compiled)
    for key, repeated in duplicates:
        rejects += _duplicates(numbered, repeated, key)
    if duplicates:
        rejects.sort(key=lambda r: r.row_number)
    high = None
    if plan.incremental and good.height:
        value = good[wm_name].max()
        if value is not None:
            high = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return rows, rejects, high


def _rejects(numbered, bad, compiled) -> list[Rejected]:
    if not bad.height:
        return []
    raw = numbered.filter(pl.col(ROW).is_in(bad[ROW].implode()))
    reasons = raw.select(pl.col(ROW), *[c.reason.alias(f"custodian_err_{i}") for i, c in enumerate(compiled)])
    raw = raw.drop(ROW)
    result = []
    for raw_row, bad_row in zip(raw.iter_rows(named=True), reasons.iter_rows(named=True), strict=True):
        errors = {
            c.name: bad_row[f"custodian_err_{i}"]
            for i, c in enumerate(compiled)
            if bad_row[f"custodian_err_{i}"] is not None
        }
        result.append(Rejected(bad_row[ROW], raw_row, errors))
    return result


def _duplicates_split(good: pl.DataFrame, keys: list[list[str]]) -> tuple[pl.DataFrame, list]:
    """(rows to load, [(key, rows repeating it)]): a row whose non-null key equals an earlier row's is
    taken out, key by key, so that only rows still loaded count as earlier ones for the next key."""
    found = []
    for key in keys:
        repeated = ~pl.struct(key).is_first_distinct() & pl.all_horizontal(
            [pl.col(k).is_not_null() for k in key]
        )
        marked = good.with_columns(repeated.alias("custodian_dup"))
        duplicates = marked.filter(pl.col("custodian_dup"))
        if duplicates.height:
            found.append((key, duplicates))
            good = marked.filter(~pl.col("custodian_dup")).drop("custodian_dup")
    return good, found


def _duplicates(numbered, duplicates, key) -> list[Rejected]:
    raw = numbered.filter(pl.col(ROW).is_in(duplicates[ROW].implode())).drop(ROW)
    result = []
    for raw_row, row in zip(raw.iter_rows(named=True), duplicates.iter_rows(named=True), strict=True):
        shown = ", ".join(f"{k}={row[k]}" for k in key)
        result.append(
            Rejected(row[ROW], raw_row, {key[0]: f"duplicate key ({shown}) of an earlier row in this batch"})
        )
    return result


__all__ += ["SCD2_COLUMNS"]

"""Admin for pipelines: editing with field mappings, Run now and dry runs, run pages, rejected rows, lineage.

The pages are thin: they call `pipelines.services` and show a `CustodianError`'s message. Raw source values
that feed a personal-data column are masked for users without `catalog.view_pii`, on every page and in every
download.
"""

import re
from dataclasses import dataclass, field
from datetime import timedelta

import yaml
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import CharField, Func, OuterRef, Subquery
from django.http import Http404, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect
from django.template.defaultfilters import pluralize
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import YamlLexer

from catalog.admin.base import CatalogModelAdmin, VersionedModelForm
from catalog.admin.schema import highlight_css
from catalog.choices import TYPE_FAMILIES, MaskingStrategy, PIICategory
from catalog.lineage import LineageRow
from catalog.models import Column
from core.admin import RunRecordAdmin, duration_text, run_label
from core.errors import CustodianError
from core.exports import csv_download
from core.masking import load_masking, may_see_pii
from core.uploads import upload_check
from pipelines.choices import RunStatus, RunTrigger, SourceKind
from pipelines.config import pipeline_config_errors
from pipelines.models import ACTIVE, FieldMapping, LineageEdge, Pipeline, PipelineRun
from pipelines.services import (
    PipelineBusy,
    pipeline_dry_run,
    pipeline_run_cancel,
    pipeline_run_request,
    pipeline_run_retry,
    quarantine_expired,
)
from pipelines.spec import (
    MappingSpec,
    PipelineSpec,
    SpecProblem,
    pipeline_spec_errors,
    pipeline_spec_from_pipeline,
    pipeline_spec_save,
)
from pipelines.transforms import MASKING_STEPS, STEPS, mask_value, steps_describe, steps_normalize

__all__ = [
    "PIIMask",
    "StepsField",
    "FieldMappingForm",
    "FieldMappingFormSet",
    "PipelineForm",
    "FieldMappingInline",
    "PipelineAdmin",
    "PipelineRunAdmin",
    "pipeline_lineage",
]

REJECTS_PER_PAGE = 50
DRY_RUN_ROWS = 100
RUN_PERMISSION = "pipelines.run_pipeline"
MAPPINGS_LABEL = "Field mappings: "
# List columns cut longer text (whole in a tooltip), so the lists fit a 1280 px window beside their filters:
# names, targets and schedules of pipelines, their sources; pipelines and users on the (wider) list of runs.
LIST_NAME_CHARS = 22
LIST_SOURCE_CHARS = 26
RUN_LIST_PIPELINE_CHARS = 20
RUN_LIST_USER_CHARS = 12
# Dependent runs a Run now message names (the rest are counted, up to DEPENDENTS_LOOKED_AT).
DEPENDENTS_SHOWN = 5
DEPENDENTS_LOOKED_AT = 50


def _cut(text: str, limit: int) -> str:
    """Text for a list column: cut to `limit` characters with an ellipsis, the whole text in its tooltip."""
    if len(text) <= limit:
        return text
    return format_html('<span title="{}">{}…</span>', text, text[: limit - 1].rstrip())


def _object_or_404(model_admin, request, object_id: str):
    obj = model_admin.get_object(request, unquote(object_id))
    if obj is None:
        raise Http404(f"No {model_admin.opts.verbose_name} with id {object_id!r}.")
    return obj


def _page(model_admin, request, title: str, **context) -> dict:
    return {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.opts,
        "highlight_css": highlight_css(),
        **context,
    }


def yaml_highlight(value) -> str:
    """Plain data as highlighted YAML; Pygments escapes the text, so the result is safe to render."""
    text = yaml.safe_dump(value, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return mark_safe(highlight(text, YamlLexer(), HtmlFormatter(cssclass="ddl")))


# Masking --------------------------------------------------------------------------------------------------

# Where the engine's reasons quote the offending value (validate.py, transforms.py, plan.py).
VALUE_IN_REASON = [
    re.compile(r"^'(?P<value>.*)'(?= (?:is not|does not match))", re.S),
    re.compile(r"^(?P<value>.+?)(?= (?:is below the minimum|is above the maximum|has more than))", re.S),
    re.compile(r"= '(?P<value>.*)'$", re.S),
]
# A repeated key quotes every column of the key (pipelines.plan): each value is masked as its own column.
DUPLICATE_REASON = re.compile(r"^duplicate key \((?P<pairs>.*)\)(?P<rest> of an earlier row.*)$", re.S)
UNKNOWN_PAIR = re.compile(r", [A-Za-z_][A-Za-z0-9_$]*=")


def _strategy(column: Column) -> str:
    strategy = column.masking_strategy
    return strategy if strategy and strategy != MaskingStrategy.NONE else MaskingStrategy.REDACT


@dataclass
class PIIMask:
    """What a user may not see of a pipeline's data: personal data, and anything of unknown origin.

    For a user without `catalog.view_pii`, a value is shown in clear only when Custodian knows it comes from
    a catalog column classified as non-personal: a target column with PII category none (`clear_columns`),
    or a source field that feeds only such columns (`clear`). Every other source field is masked: with the
    strategy of the personal-data column it feeds (`fields`), else redacted (an unmapped field such as an
    `ssn` column of a CSV). `premasked` columns are masked on load (their values are the masked ones). An
    inactive mask (the user may see personal data) changes nothing.
    """

    active: bool
    feeds: dict[str, list[str]] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)
    premasked: set[str] = field(default_factory=set)
    clear: set[str] = field(default_factory=set)
    clear_columns: set[str] = field(default_factory=set)

    @classmethod
    def build(cls, user, feeds: dict[str, list[str]], columns: list[Column], premasked=()) -> "PIIMask":
        """`feeds` maps each target column name to the source fields its value is computed from; `columns`
        are the catalog columns known for them (a column missing from the catalog counts as personal)."""
        if may_see_pii(user):
            return cls(active=False, feeds=feeds)
        known = {c.name: c for c in columns}
        clear_columns = {
            name for name in feeds if name in known and known[name].pii_category == PIICategory.NONE
        }
        personal = {
            name: _strategy(known[name]) if name in known else MaskingStrategy.REDACT
            for name in feeds
            if name not in clear_columns
        }
        fields: dict[str, str] = {}
        for column, sources in feeds.items():
            if column in personal:
                for source in sources:
                    fields.setdefault(source, personal[column])
        clear = {source for sources in feeds.values() for source in sources} - set(fields)
        return cls(
            active=True,
            feeds=feeds,
            fields=fields,
            columns=personal,
            premasked=set(premasked),
            clear=clear,
            clear_columns=clear_columns,
        )

    @property
    def masks_something(self) -> bool:
        return self.active and bool(self.fields or self.columns)

    def masks_field(self, name: str) -> bool:
        """Whether the raw values of source field `name` are masked for this user."""
        return self.active and name not in self.clear

    def cover(self, names) -> "PIIMask":
        """Name the fields read from the source that no mapping explains (unknown origin: redacted)."""
        if self.active:
            for name in names:
                if name not in self.clear:
                    self.fields.setdefault(name, MaskingStrategy.REDACT)
        return self

    def raw(self, raw: dict) -> dict:
        """A raw source row as this user may see it."""
        if not self.active:
            return raw
        return {
            name: value
            if name in self.clear
            else mask_value(value, self.fields.get(name, MaskingStrategy.REDACT))
            for name, value in raw.items()
        }

    def row(self, row: dict) -> dict:
        """A transformed row (target column → value), as the dry run shows it."""
        if not self.active:
            return row
        return {
            name: value
            if name in self.clear_columns or name in self.premasked
            else mask_value(value, self.columns.get(name, MaskingStrategy.REDACT))
            for name, value in row.items()
        }

    def reasons(self, errors: dict, raw: dict) -> dict:
        """Reasons quote the rejected value: for personal-data columns that value is masked too."""
        if not self.active:
            return errors
        shown = {}
        for column, reason in errors.items():
            duplicate = self._duplicate_reason(str(reason))
            if duplicate is not None:
                shown[column] = duplicate
            elif column in self.clear_columns:
                shown[column] = reason
            else:
                shown[column] = self._reason(reason, self.columns.get(column, MaskingStrategy.REDACT), raw)
        return shown

    def _duplicate_reason(self, text: str) -> str | None:
        """ "duplicate key (city=London, email=ada@...) of ..." with each value shown as its column allows;
        None for another reason."""
        match = DUPLICATE_REASON.match(text)
        if match is None or not self.feeds:
            return None
        names = sorted(self.feeds, key=len, reverse=True)  # the longest name first: "email_2" before "email"
        starts = list(re.finditer(r"(?:^|, )(" + "|".join(map(re.escape, names)) + r")=", match["pairs"]))
        if not starts or starts[0].start() != 0:  # columns unknown to this mask: nothing is shown
            return f"duplicate key ({mask_value(match['pairs'], MaskingStrategy.REDACT)}){match['rest']}"
        pairs = []
        for i, start in enumerate(starts):
            name = start.group(1)
            end = starts[i + 1].start() if i + 1 < len(starts) else len(match["pairs"])
            value = match["pairs"][start.end() : end]
            if name not in self.clear_columns:
                value = mask_value(value, self.columns.get(name, MaskingStrategy.REDACT))
            elif UNKNOWN_PAIR.search(value):  # it may hold a column this mask does not know: show nothing
                return f"duplicate key ({mask_value(value, MaskingStrategy.REDACT)}){match['rest']}"
            pairs.append(f"{name}={value}")
        return f"duplicate key ({', '.join(pairs)}){match['rest']}"

    def _reason(self, reason, strategy: str, raw: dict):
        text = str(reason)
        for pattern in VALUE_IN_REASON:
            match = pattern.search(text)
            if match:
                masked = mask_value(match.group("value"), strategy)
                return text[: match.start("value")] + str(masked) + text[match.end("value") :]
        # A reason worded otherwise: mask whatever raw value of a masked field it quotes.
        for name, value in raw.items():
            if name not in self.clear and value not in (None, "") and str(value).strip():
                hidden = self.fields.get(name, MaskingStrategy.REDACT)
                for shown in {str(value), str(value).strip(), str(value).strip().lower()}:
                    text = text.replace(shown, str(mask_value(shown, hidden)))
        return text


def _config_feeds(config: dict) -> dict[str, list[str]]:
    """Target column → the source fields it is computed from, per a run's recorded configuration."""
    feeds: dict[str, list[str]] = {}
    for item in config.get("mappings") or []:
        sources = [item["field"]] if item.get("field") else []
        for step in item.get("steps") or []:
            if isinstance(step, dict) and step.get("op") == "concat":
                sources += list(step.get("fields") or [])
        feeds[item["column"]] = sources
    return feeds


def _pipeline_feeds(mappings) -> dict[str, list[str]]:
    return _config_feeds(
        {
            "mappings": [
                {"column": m.column.name, "field": m.source_field, "steps": m.steps or []} for m in mappings
            ]
        }
    )


def run_mask(run: PipelineRun, user) -> PIIMask:
    """The mask for a run's rejected rows: its recorded mappings, else its lineage, else today's mappings."""
    feeds = _config_feeds(run.config or {})
    if not feeds:
        feeds = {
            item["column"]: [item["source_field"]] for item in run.lineage or [] if item.get("source_field")
        }
    if not feeds:
        feeds = _pipeline_feeds(run.pipeline.mappings.select_related("column"))
    target = (run.config or {}).get("target") or {}
    if target.get("datastore") and target.get("entity"):
        columns = Column.objects.filter(
            entity__datastore__name=target["datastore"], entity__name=target["entity"], name__in=list(feeds)
        )
    else:
        columns = Column.objects.filter(entity_id=run.pipeline.target_id, name__in=list(feeds))
    return PIIMask.build(user, feeds, list(columns.only("name", "pii_category", "masking_strategy")))


def _masked_on_load(mapping: FieldMapping) -> bool:
    """Whether the value a mapping loads is masked already: its column's category is masked on load
    (pipelines.plan adds the step), or its own last step masks. A masking strategy alone is not enough:
    identifiers are stored as they are, their strategy governs only how they are shown."""
    steps = [s for s in mapping.steps or [] if isinstance(s, dict)]
    if steps and steps[-1].get("op") in MASKING_STEPS:
        return True
    return load_masking(mapping.column) != "none" and not any(s.get("op") in MASKING_STEPS for s in steps)


def pipeline_mask(pipeline: Pipeline, user) -> PIIMask:
    """The mask for a dry run of the pipeline as it is configured now."""
    mappings = list(pipeline.mappings.select_related("column"))
    premasked = [m.column.name for m in mappings if _masked_on_load(m)]
    return PIIMask.build(user, _pipeline_feeds(mappings), [m.column for m in mappings], premasked)


def _field_names(rows, known: list[str] = ()) -> list[str]:
    """Fields of raw rows: the known ones in their order (the source's, or the mappings'), then the rest."""
    seen = set()
    for row in rows:
        seen.update(row)
    ordered = [name for name in dict.fromkeys(known) if name in seen]
    return ordered + sorted(seen - set(ordered))


def _shown(value):
    """A typed value as data people read it: dates and times in ISO form, not the locale's."""
    if hasattr(value, "isoformat"):
        return (
            value.isoformat(sep=" ")
            if hasattr(value, "hour") and hasattr(value, "day")
            else value.isoformat()
        )
    return value


def _mapped_fields(mask: PIIMask) -> list[str]:
    return [name for sources in mask.feeds.values() for name in sources]


def reject_rows(rejects, fields: list[str], mask: PIIMask) -> list[dict]:
    """Rejected rows (row number, raw, errors) laid out for a table: a cell per field, a reason per column.

    A cell says whether its field feeds a column that failed, and whether its value is masked.
    """
    rows = []
    for row_number, raw, errors in rejects:
        shown = mask.raw(raw)
        failing = {name for column in errors for name in mask.feeds.get(column, [])}
        rows.append(
            {
                "row_number": row_number,
                "cells": [(shown.get(name), name in failing, mask.masks_field(name)) for name in fields],
                "errors": [
                    (column, ", ".join(mask.feeds.get(column, [])), reason)
                    for column, reason in mask.reasons(errors, raw).items()
                ],
            }
        )
    return rows


# Forms ----------------------------------------------------------------------------------------------------


def _steps_help() -> str:
    names = ", ".join(
        f"{name}({', '.join(step.required)})" if step.required else name
        for name, step in sorted(STEPS.items())
    )
    return (
        "Transform steps in YAML, one per line, applied in order, e.g. “- trim” or "
        "“- regex_replace: {pattern: '\\s+', replacement: ' '}”. Registered steps: " + names + "."
    )


def steps_yaml(steps: list) -> str:
    """Steps as the YAML an editor types, one per line: "- trim", "- regex_replace: {pattern: ...}"."""
    try:
        steps = steps_normalize(steps)
    except ValueError:  # stored before the registry knew better: shown as it is, to be fixed
        return yaml.safe_dump(steps, default_flow_style=None, sort_keys=False, allow_unicode=True)
    lines = []
    for step in steps:
        args = {k: v for k, v in step.items() if k != "op"}
        if not args:
            lines.append(f"- {step['op']}\n")
            continue
        item = [{step["op"]: args}]
        lines.append(
            yaml.safe_dump(item, default_flow_style=None, sort_keys=False, allow_unicode=True, width=100)
        )
    return "".join(lines)


class StepsField(forms.CharField):
    """A mapping's transform steps, edited as YAML and checked against the step registry."""

    widget = forms.Textarea(attrs={"rows": 2, "cols": 44, "class": "pipeline-steps", "spellcheck": "false"})

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", _steps_help())
        kwargs.setdefault("initial", list)
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, list):
            return steps_yaml(value)
        return value

    def to_python(self, value):
        if isinstance(value, list):
            parsed = value
        else:
            parsed = self._parse(value)
        try:
            return steps_normalize(parsed)
        except ValueError as exc:
            raise ValidationError(str(exc), code="steps") from None

    @staticmethod
    def _parse(value) -> list:
        text = (value or "").strip()
        if not text:
            return []
        try:
            parsed = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ValidationError(f"The steps are not valid YAML{where}: {problem}.", code="yaml") from None
        if isinstance(parsed, (str, dict)):
            parsed = [parsed]  # a single step written without its "- "
        return parsed

    def has_changed(self, initial, data):
        try:
            return self.to_python(data) != steps_normalize(initial or [])
        except (ValidationError, ValueError):
            return True


class NamesField(forms.CharField):
    """A list of names typed as one comma-separated line (key columns)."""

    def prepare_value(self, value):
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        return value

    def to_python(self, value):
        if isinstance(value, list):
            return value
        return [name.strip() for name in (value or "").split(",") if name.strip()]


class FieldMappingForm(VersionedModelForm):
    # The model's TextField would turn an empty box into "", which reads as a constant given.
    constant = forms.CharField(
        required=False,
        empty_value=None,
        help_text=FieldMapping._meta.get_field("constant").help_text,
        widget=forms.TextInput(attrs={"size": 10}),
    )
    steps = StepsField()

    class Meta:
        model = FieldMapping
        fields = ["position", "column", "source_field", "constant", "steps"]
        widgets = {
            "source_field": forms.TextInput(attrs={"size": 16}),
            "position": forms.NumberInput(attrs={"min": 0}),
        }


class FieldMappingFormSet(forms.BaseInlineFormSet):
    """The mappings as submitted, checked with the pipeline's form as one spec (pipelines.spec).

    Django validates the inline formsets after the main form, so `clean()` sees the form's cleaned values
    on the instance: it builds the spec from both, checks what the mappings bring to the pipeline (a
    required column left unmapped, a key column not mapped, a masking conflict), and tells each problem in
    place: on the pipeline's field, above the pipeline's form for the mappings as a whole, or on the row.
    The spec it built is what PipelineAdmin saves.
    """

    def __init__(self, *args, parent_form=None, **kwargs):
        self.parent_form = parent_form
        self.spec = None
        super().__init__(*args, **kwargs)

    def clean(self):
        super().clean()
        self._columns_of_the_target_check()
        rows_valid = not any(form.errors for form in self.forms if not self._should_delete_form(form))
        if self.parent_form is None or self.parent_form.errors or not rows_valid:
            return  # the page comes back with those errors; the whole is checked once they are fixed
        self.spec = self._spec()
        adding = self.instance.pk is None
        for problem in pipeline_spec_errors(
            self.spec, instance=self.instance, mappings_only=True, draft=adding
        ):
            self._tell(problem)

    def is_valid(self):
        # The pipeline's form hears of the problems its mappings cause only here, after Django validated
        # it: the save waits for those too.
        return super().is_valid() and not (self.parent_form is not None and self.parent_form.errors)

    def _columns_of_the_target_check(self) -> None:
        target_id = self.instance.target_id
        if not target_id:
            return
        for form in self.forms:
            if self._should_delete_form(form) or not form.has_changed():
                continue
            column = getattr(form, "cleaned_data", {}).get("column")
            if column is not None and column.entity_id != target_id:
                form.add_error(
                    "column",
                    f"{column} is not a column of the target entity {self.instance.target.name}; pick one "
                    "of its columns (save the new target first to see them listed).",
                )

    def _spec(self) -> PipelineSpec:
        """The pipeline as its form left the instance, with its rows: a changed or new row as submitted, a
        row left alone (or one its user may not change) as stored, a deleted row left out."""
        spec = pipeline_spec_from_pipeline(self.instance, with_mappings=False)
        stored = (
            {m.pk: m for m in self.instance.mappings.select_related("column")} if self.instance.pk else {}
        )
        spec.mappings = []
        for index, form in enumerate(self.forms):
            if self._should_delete_form(form):
                continue
            if form.instance.pk in stored and not form.has_changed():
                row = stored[form.instance.pk]
                values = {
                    f: getattr(row, f) for f in ("column", "source_field", "constant", "steps", "position")
                }
            elif form.has_changed():
                values = form.cleaned_data
            else:
                continue  # an extra row left empty
            if values.get("column") is None:
                continue
            spec.mappings.append(
                MappingSpec(
                    column_name=values["column"].name,
                    column=values["column"],
                    source_field=values.get("source_field") or "",
                    constant=values.get("constant"),
                    steps=values.get("steps") or [],
                    index=index,
                    position=values.get("position") or 0,
                    instance=form.instance,
                )
            )
        return spec

    def _tell(self, problem: SpecProblem) -> None:
        if problem.mapping is not None:
            form = self.forms[problem.mapping]
            form.add_error(problem.field if problem.field in form.fields else None, problem.message)
        elif problem.field in self.parent_form.fields:
            self.parent_form.add_error(problem.field, problem.message)
        else:
            label = MAPPINGS_LABEL if problem.field == "mappings" else f"{problem.field.replace('_', ' ')}: "
            self.parent_form.add_error(None, label + problem.message)


class PipelineForm(VersionedModelForm):
    """The pipeline's own settings; its mappings are checked with it by FieldMappingFormSet."""

    key_columns = NamesField(
        required=False,
        help_text="Target columns that identify a row (upsert, SCD2), comma-separated; empty: the primary "
        "key.",
        widget=forms.TextInput(attrs={"size": 40}),
    )

    class Meta:
        model = Pipeline
        fields = "__all__"
        widgets = {
            "description": forms.Textarea(attrs={"rows": 5, "cols": 80}),
            "source_query": forms.Textarea(attrs={"rows": 5, "cols": 80, "class": "pipeline-sql"}),
            "null_markers": forms.TextInput(attrs={"size": 30}),
        }

    request = None  # set by PipelineAdmin.get_form: the form tells the request's mapping formset about itself

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.request is not None:
            self.request.pipeline_form = self

    def clean_source_file(self):
        # An upload is checked before it is stored or read: bytes, and a workbook's unzipped size.
        upload = self.cleaned_data.get("source_file")
        if upload and hasattr(upload, "content_type"):  # a new upload, not the file already stored
            upload_check(
                upload,
                size=upload.size,
                what="source uploads",
                hint="Put a larger file under the import folder and give its path instead.",
            )
        return upload


# Pipelines ------------------------------------------------------------------------------------------------


class FieldMappingInline(admin.TabularInline):
    model = FieldMapping
    form = FieldMappingForm
    formset = FieldMappingFormSet
    fields = ["position", "column", "source_field", "constant", "steps"]
    extra = 1
    classes = ["pipeline-mappings"]
    verbose_name = "field mapping"
    verbose_name_plural = "Field mappings (source field → target column)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("column__entity", "pipeline")

    def get_fields(self, request, obj=None):
        if self.has_change_permission(request, obj):
            return self.fields
        return ["position", "column", "source_field", "constant", "steps_summary"]

    def get_readonly_fields(self, request, obj=None):
        if self.has_change_permission(request, obj):
            return []
        return ["steps_summary"]

    @admin.display(description="steps")
    def steps_summary(self, obj):
        return _steps_text(obj.steps or []) or "—"

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name != "column":
            return super().formfield_for_foreignkey(db_field, request, **kwargs)
        target = self._target_id(request)
        columns = Column.objects.select_related("entity").order_by("entity__name", "position", "name")
        if target:
            kwargs["queryset"] = columns.filter(entity_id=target)
        else:
            kwargs["queryset"] = columns.filter(entity__datastore__engine="postgresql")
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if target:
            # All choices are the target's columns: their names are enough.
            formfield.label_from_instance = lambda column: column.name
        return formfield

    @staticmethod
    def _target_id(request) -> str | None:
        """The target being submitted, else the one asked for (?target=), else the one stored."""
        target = request.POST.get("target") if request.method == "POST" else request.GET.get("target")
        if not target and request.resolver_match and request.resolver_match.kwargs.get("object_id"):
            object_id = unquote(request.resolver_match.kwargs["object_id"])
            target = Pipeline.objects.filter(pk=object_id).values_list("target_id", flat=True).first()
        return str(target) if target and str(target).isdigit() else None


class LastRunFilter(admin.SimpleListFilter):
    title = "last run"
    parameter_name = "last_run"

    def lookups(self, request, model_admin):
        return [*RunStatus.choices, ("never", "Never run")]

    def queryset(self, request, queryset):
        if self.value() == "never":
            return queryset.filter(latest_run_pk__isnull=True)
        if self.value():
            return queryset.filter(latest_run_status=self.value())
        return queryset


@admin.register(Pipeline)
class PipelineAdmin(CatalogModelAdmin):
    """Pipelines with their mappings; Run now, Dry run and the runs are one click from the page."""

    form = PipelineForm
    change_form_template = "admin/pipelines/pipeline/change_form.html"
    inlines = [FieldMappingInline]
    # Narrow enough for 1280 px beside the filters: long text is cut, whole in its tooltip; the load mode
    # is a filter, and whether a pipeline is enabled shows in its schedule (the one thing it switches).
    list_display = ["name_display", "target_display", "source_display", "schedule_display", "last_run"]
    list_display_links = ["name_display"]
    list_filter = [
        "enabled",
        LastRunFilter,
        "source_kind",
        "load_mode",
        "extract_mode",
        ("target__datastore", admin.RelatedOnlyFieldListFilter),
        ("owner", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["target__datastore", "source_datastore", "run_after"]
    search_fields = ["name", "description", "target__name", "source_path", "source_table"]
    autocomplete_fields = ["target", "source_datastore", "run_after"]
    fieldsets = [
        ("General", {"fields": ["name", "description", "enabled", "owner", "target"]}),
        (
            "Source",
            {
                "fields": [
                    "source_kind",
                    ("source_path", "source_file"),
                    ("csv_delimiter", "csv_quotechar", "encoding", "has_header"),
                    "null_markers",
                    "sheet_name",
                    ("source_datastore", "source_table"),
                    "source_query",
                ],
                "description": "A file under the import folder or an upload, or a table or query of a data "
                "store. CSV options apply to CSV files only; the sheet to workbooks only.",
            },
        ),
        (
            "Extract & load",
            {
                "fields": [
                    ("extract_mode", "watermark_field"),
                    ("load_mode", "key_columns"),
                    ("reject_threshold_percent", "batch_size", "max_retries"),
                    "run_quality",
                ]
            },
        ),
        ("Schedule", {"fields": ["schedule", "run_after"]}),
    ]

    def has_import_permission(self, request):
        return False  # pipelines as code are YAML files (pipeline_apply), not CSV rows

    def has_export_permission(self, request):
        return False

    def get_queryset(self, request):
        latest = PipelineRun.objects.filter(pipeline=OuterRef("pk")).order_by("-created_at", "-id")
        return (
            super()
            .get_queryset(request)
            .annotate(
                latest_run_pk=Subquery(latest.values("pk")[:1]),
                latest_run_status=Subquery(latest.values("status")[:1]),
                latest_run_at=Subquery(latest.values("created_at")[:1]),
            )
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "owner":
            from django.contrib.auth import get_user_model

            kwargs["queryset"] = get_user_model().objects.filter(is_active=True, is_staff=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="name", ordering="name")
    def name_display(self, obj):
        return _cut(obj.name, LIST_NAME_CHARS)

    @admin.display(description="target", ordering="target__name")
    def target_display(self, obj):
        return _cut(f"{obj.target.datastore.name}.{obj.target.name}", LIST_NAME_CHARS)

    @admin.display(description="source")
    def source_display(self, obj):
        if obj.is_file_source:
            where = obj.source_path or (obj.source_file.name if obj.source_file else "—")
        elif obj.source_table:
            where = f"{obj.source_datastore.name if obj.source_datastore_id else '?'}:{obj.source_table}"
        else:
            query = " ".join(obj.source_query.split())
            where = f"{obj.source_datastore.name if obj.source_datastore_id else '?'}: {query}"
        kind = obj.source_kind.upper() if obj.is_file_source else obj.source_kind.removeprefix("sql_")
        return _cut(f"{kind} {where}", LIST_SOURCE_CHARS)

    @admin.display(description="schedule", ordering="schedule")
    def schedule_display(self, obj):
        plan = obj.schedule or (f"after {obj.run_after}" if obj.run_after_id else "")
        if not obj.enabled:
            idle = f"Disabled: {plan} is idle." if plan else "Disabled."
            return format_html('<span class="quiet" title="{}">disabled</span>', idle)
        return _cut(plan, LIST_NAME_CHARS) if plan else "—"

    @admin.display(description="last run", ordering="latest_run_at")
    def last_run(self, obj):
        if not obj.latest_run_pk:
            return "never"
        return format_html(
            '<a href="{}" class="run-badge run-{}" title="run #{} of {}">{}</a>',
            reverse("admin:pipelines_pipelinerun_change", args=[obj.latest_run_pk]),
            obj.latest_run_status,
            obj.latest_run_pk,
            timezone.localtime(obj.latest_run_at).strftime("%Y-%m-%d %H:%M"),
            RunStatus(obj.latest_run_status).label,
        )

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change, **kwargs)
        return type(form_class.__name__, (form_class,), {"request": request})

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, FieldMappingInline):
            # The mappings are checked with the pipeline's form, built for this request before them.
            kwargs["parent_form"] = getattr(request, "pipeline_form", None)
        return kwargs

    def save_model(self, request, obj, form, change):
        pass  # the pipeline is saved with its mappings, as one spec, by save_related

    def save_related(self, request, form, formsets, change):
        mappings = next((f for f in formsets if isinstance(f, FieldMappingFormSet)), None)
        spec = mappings.spec if mappings is not None else None
        if spec is None:  # no mappings on the page (a user who may not edit them): they stay as stored
            spec = pipeline_spec_from_pipeline(form.instance, with_mappings=False)
        saved = pipeline_spec_save(spec=spec, user=request.user, instance=form.instance, draft=not change)
        form.save_m2m()
        for formset in formsets:
            if formset is mappings:
                # What the change message and the admin log say was done to the rows.
                formset.new_objects, formset.changed_objects = saved.added, saved.changed
                formset.deleted_objects = saved.deleted
            else:
                self.save_formset(request, form, formset, change=change)
        problems = pipeline_config_errors(form.instance)
        if problems:
            said = "; ".join(f"{key.replace('_', ' ')}: {text.rstrip('.')}" for key, text in problems.items())
            self.message_user(
                request,
                f"Pipeline '{form.instance.name}' is saved but cannot run yet: {said}.",
                messages.WARNING,
            )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context.update(
            can_run=request.user.has_perm(RUN_PERMISSION),
            steps_reference=[(name, STEPS[name]) for name in sorted(STEPS)],
            recent_runs=list(obj.runs.select_related("requested_by")[:5]) if obj is not None else [],
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # Run now and dry run

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/run/", wrap(self.run_view), name="pipelines_pipeline_run"),
            path("<path:object_id>/dry-run/", wrap(self.dry_run_view), name="pipelines_pipeline_dry_run"),
            *super().get_urls(),
        ]

    def run_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm(RUN_PERMISSION):
            raise PermissionDenied
        pipeline = _object_or_404(self, request, object_id)
        try:
            run = pipeline_run_request(pipeline, user=request.user)
        except PipelineBusy as exc:
            self.message_user(request, exc.message, messages.WARNING)
            active = pipeline.runs.filter(status__in=ACTIVE).first()
            if active is not None:
                return redirect("admin:pipelines_pipelinerun_change", active.pk)
            return redirect("admin:pipelines_pipeline_change", pipeline.pk)
        # Without Redis the run has happened by now; with it, it is queued and its page shows its progress.
        run.refresh_from_db()
        self.message_user(request, *_run_outcome(run))
        return redirect("admin:pipelines_pipelinerun_change", run.pk)

    def dry_run_view(self, request, object_id):
        """GET: the page with its Start button. POST: read the source's first rows, transform and validate
        them, load nothing. A dry run runs SQL on a data store or reads a file, so it needs the permission to
        run the pipeline, like Run now."""
        if request.method not in ("GET", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        pipeline = _object_or_404(self, request, object_id)
        if not self.has_view_permission(request, pipeline):
            raise PermissionDenied
        can_run = request.user.has_perm(RUN_PERMISSION)
        context = _page(
            self,
            request,
            f"Dry run of {pipeline.name}",
            original=pipeline,
            limit=DRY_RUN_ROWS,
            can_run=can_run,
            ran=request.method == "POST",
            reads=_source_read(pipeline),
        )
        if request.method == "POST":
            if not can_run:
                raise PermissionDenied
            context.update(self._dry_run_context(request, pipeline))
        return TemplateResponse(request, "admin/pipelines/pipeline/dry_run.html", context)

    @staticmethod
    def _dry_run_context(request, pipeline: Pipeline) -> dict:
        try:
            result = pipeline_dry_run(pipeline, limit=DRY_RUN_ROWS)
            error = result.error
        except CustodianError as exc:
            result, error = None, exc.message
        mask = pipeline_mask(pipeline, request.user)
        columns = result.columns if result else []
        rejects = [(r.row_number, r.raw, r.errors) for r in result.rejects] if result else []
        fields = _field_names([raw for _, raw, _ in rejects], result.fields if result else [])
        mask.cover(fields)
        return {
            "error": error,
            "source": result.source if result else "",
            "columns": columns,
            "rows": [[_shown(mask.row(row).get(c)) for c in columns] for row in result.rows]
            if result
            else [],
            "fields": fields,
            "rejects": reject_rows(rejects, fields, mask),
            "premasked": [c for c in columns if c in mask.premasked],
            "mask": mask,
        }


def _source_read(pipeline: Pipeline) -> str:
    """What a dry run of the pipeline reads, in the words of its source: the file, the table or the query."""
    store = pipeline.source_datastore.name if pipeline.source_datastore_id else "its data store"
    if pipeline.source_kind == SourceKind.SQL_QUERY:
        return format_html("the result of its query, which runs on the data store {}", store)
    if pipeline.source_kind == SourceKind.SQL_TABLE:
        return format_html("the table <code>{}</code> on the data store {}", pipeline.source_table, store)
    name = pipeline.source_path or (
        pipeline.source_file.name.rsplit("/", 1)[-1] if pipeline.source_file else ""
    )
    return format_html("the file <code>{}</code>", name) if name else "its file"


def _run_outcome(run: PipelineRun) -> tuple[str, int]:
    """The message text and level telling how a run stands, linked to its page, with the dependent runs it
    started (without Redis they have run by now) or, while it waits, the pipelines it will start."""
    link = reverse("admin:pipelines_pipelinerun_change", args=[run.pk])
    name = run.pipeline.name
    if run.status == RunStatus.SUCCEEDED:
        return (
            format_html(
                '<a href="{}">Run #{}</a> of {} succeeded: {} rows loaded, {} rejected.{}',
                link,
                run.pk,
                name,
                f"{run.rows_loaded:,}",
                f"{run.rows_rejected:,}",
                _dependents_started(run),
            ),
            messages.SUCCESS,
        )
    if run.status in (RunStatus.FAILED, RunStatus.CANCELLED):
        return (
            format_html(
                '<a href="{}">Run #{}</a> of {} {}: {}',
                link,
                run.pk,
                name,
                run.status,
                run.error.split("\n\n")[0],
            ),
            messages.ERROR if run.status == RunStatus.FAILED else messages.WARNING,
        )
    return (
        format_html(
            '<a href="{}">Run #{}</a> of {} is {}; its page shows its progress.{}',
            link,
            run.pk,
            name,
            run.get_status_display().lower(),
            _dependents_waiting(run),
        ),
        messages.SUCCESS,
    )


def _dependents_started(run: PipelineRun) -> str:
    """The message's tail naming the dependent runs a succeeded run started, e.g. " It started 2 dependent
    runs: #13 (orders, succeeded), #14 (invoices, failed)."; empty when it started none."""
    runs = _dependent_runs(run)
    if not runs:
        return ""
    shown = format_html_join(
        ", ",
        '<a href="{}">#{}</a> ({}, {})',
        (
            (
                reverse("admin:pipelines_pipelinerun_change", args=[dependent.pk]),
                dependent.pk,
                dependent.pipeline.name,
                dependent.get_status_display().lower(),
            )
            for dependent in runs[:DEPENDENTS_SHOWN]
        ),
    )
    more = f" and {len(runs) - DEPENDENTS_SHOWN} more" if len(runs) > DEPENDENTS_SHOWN else ""
    return format_html(" It started {} dependent run{}: {}{}.", len(runs), pluralize(len(runs)), shown, more)


def _dependents_waiting(run: PipelineRun) -> str:
    """The message's tail naming the pipelines a waiting run queues when it succeeds, e.g. " When it
    succeeds, it queues its dependent pipelines orders, invoices."; empty when it has none."""
    names = list(run.pipeline.followers.filter(enabled=True).values_list("name", flat=True))
    if not names:
        return ""
    shown = ", ".join(names[:DEPENDENTS_SHOWN])
    more = f" and {len(names) - DEPENDENTS_SHOWN} more" if len(names) > DEPENDENTS_SHOWN else ""
    return format_html(
        " When it succeeds, it queues its dependent pipeline{} {}{}.", pluralize(len(names)), shown, more
    )


def _dependent_runs(run: PipelineRun) -> list[PipelineRun]:
    """The runs a succeeded run started through `run_after`, then those they started in turn, in order.

    pipelines.outcomes.run_succeeded queues each enabled follower as the run ends, so a follower's run is
    its first dependency run queued after that (none when the follower was busy).
    """
    found, leaders, seen = [], [run], {run.pipeline_id}
    while leaders and len(found) < DEPENDENTS_LOOKED_AT:
        leader = leaders.pop(0)
        if leader.status != RunStatus.SUCCEEDED or leader.finished_at is None:
            continue
        started = (
            PipelineRun.objects.filter(
                pipeline__run_after=leader.pipeline_id,
                trigger=RunTrigger.DEPENDENCY,
                created_at__gte=leader.finished_at,
            )
            .select_related("pipeline")
            .order_by("created_at", "pk")[:DEPENDENTS_LOOKED_AT]
        )
        for dependent in started:
            if dependent.pipeline_id not in seen:
                seen.add(dependent.pipeline_id)
                found.append(dependent)
                leaders.append(dependent)
    return found


# Runs -----------------------------------------------------------------------------------------------------

RUN_LARGE_FIELDS = ["config", "lineage", "warnings", "timings", "error"]


class RunChangeList(ChangeList):
    def get_queryset(self, request, exclude_parameters=None):
        return super().get_queryset(request, exclude_parameters).defer(*RUN_LARGE_FIELDS)


# The catalog types a spreadsheet should read as numbers, from the catalog's own type families
NUMERIC_TYPES = [
    data_type for data_type, family in TYPE_FAMILIES.items() if family in ("integer", "numeric", "float")
]


def _reasons_text(errors: dict, feeds: dict[str, list[str]]) -> str:
    """All reasons of a row in one cell: "email ← email: 'x' does not match the pattern @; ..."."""
    parts = []
    for column, reason in errors.items():
        sources = ", ".join(feeds.get(column, []))
        parts.append(f"{column} ← {sources}: {reason}" if sources else f"{column}: {reason}")
    return "; ".join(parts)


@admin.register(PipelineRun)
class PipelineRunAdmin(RunRecordAdmin):
    """Runs are records: read by everyone who may see pipelines, retried or cancelled by platform admins."""

    # Narrow enough for 1280 px beside the filters. Rows per second is on the run's page, where it is said
    # over which time it was measured (not the duration shown here).
    list_display = [
        "run_label",
        "pipeline_display",
        "status_badge",
        "trigger_display",
        "started_display",
        "duration_display",
        "loaded_display",
        "rejected_display",
    ]
    list_display_links = ["run_label"]
    list_filter = ["status", ("pipeline", admin.RelatedOnlyFieldListFilter), "trigger", "error_kind"]
    list_select_related = ["pipeline", "requested_by"]
    search_fields = ["pipeline__name", "error"]
    run_label = run_label("run")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("pipeline__target__datastore", "requested_by", "retry_of")
        )

    def get_changelist(self, request, **kwargs):
        return RunChangeList

    @admin.display(description="pipeline", ordering="pipeline__name")
    def pipeline_display(self, obj):
        return _cut(obj.pipeline.name, RUN_LIST_PIPELINE_CHARS)

    @admin.display(description="trigger", ordering="trigger")
    def trigger_display(self, obj):
        label = "Run now" if obj.trigger == RunTrigger.MANUAL else obj.get_trigger_display()
        if obj.requested_by_id:
            user = _cut(obj.requested_by.get_username(), RUN_LIST_USER_CHARS)
            return format_html('{} <span class="quiet">by {}</span>', label, user)
        return label

    @admin.display(description="started", ordering="started_at")
    def started_display(self, obj):
        if obj.started_at is None:
            return "—"
        return timezone.localtime(obj.started_at).strftime("%Y-%m-%d %H:%M")

    @admin.display(description="loaded", ordering="rows_loaded")
    def loaded_display(self, obj):
        return obj.rows_loaded

    @admin.display(description="rejected", ordering="rows_rejected")
    def rejected_display(self, obj):
        return obj.rows_rejected

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/progress/", wrap(self.progress_view), name="pipelines_pipelinerun_progress"
            ),
            path("<path:object_id>/cancel/", wrap(self.cancel_view), name="pipelines_pipelinerun_cancel"),
            path("<path:object_id>/retry/", wrap(self.retry_view), name="pipelines_pipelinerun_retry"),
            path(
                "<path:object_id>/rejected.csv",
                wrap(self.rejected_csv_view),
                name="pipelines_pipelinerun_rejected_csv",
            ),
            *super().get_urls(),
        ]

    def _run(self, request, object_id) -> PipelineRun:
        run = _object_or_404(self, request, object_id)
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        return run

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self._run(request, object_id)
        can_run = request.user.has_perm(RUN_PERMISSION)
        context = _page(
            self,
            request,
            f"Run #{run.pk} of {run.pipeline.name}",
            original=run,
            run=run,
            progress=_progress(run),
            timings=_timings(run.timings or {}),
            duration=duration_text(run.duration),
            retried_as=list(PipelineRun.objects.filter(retry_of=run).values_list("pk", flat=True)),
            config_html=yaml_highlight(run.config) if run.config else "",
            can_cancel=can_run and not run.is_finished,
            can_retry=can_run and run.status in (RunStatus.FAILED, RunStatus.CANCELLED),
            **self._rejects_context(request, run),
            **(extra_context or {}),
        )
        return TemplateResponse(request, "admin/pipelines/pipelinerun/run.html", context)

    def _rejects_context(self, request, run: PipelineRun) -> dict:
        if not request.user.has_perm("pipelines.view_rejectedrow") or not run.rows_rejected:
            return {"rejects_page": None, "mask": PIIMask(active=False), "fields": [], "rejects": []}
        mask = run_mask(run, request.user)
        page = Paginator(run.rejected_rows.order_by("row_number", "pk"), REJECTS_PER_PAGE).get_page(
            request.GET.get("rejects_page")
        )
        rows = [(r.row_number, r.raw, r.errors) for r in page.object_list]
        fields = _field_names([raw for _, raw, _ in rows], _mapped_fields(mask))
        mask.cover(fields)
        days = settings.CUSTODIAN_QUARANTINE_DAYS
        return {
            "rejects_page": page,
            "mask": mask,
            "fields": fields,
            "rejects": reject_rows(rows, fields, mask),
            # Quarantined rows hold raw source values: kept a while, then purged (services.quarantine_purge).
            "quarantine_days": days,
            "quarantine_until": run.finished_at + timedelta(days=days) if run.finished_at else None,
            "quarantine_purged": quarantine_expired(run) and not page.paginator.count,
        }

    def progress_view(self, request, object_id):
        run = self._run(request, object_id)
        return JsonResponse(
            {
                "status": run.status,
                "status_display": run.get_status_display(),
                "finished": run.is_finished,
                "phase": run.phase,
                "progress": run.progress,
                "rows_extracted": run.rows_extracted,
                "rows_loaded": run.rows_loaded,
                "rows_rejected": run.rows_rejected,
                "cancel_requested": run.cancel_requested,
            }
        )

    def _require_run_permission(self, request) -> None:
        if not request.user.has_perm(RUN_PERMISSION):
            raise PermissionDenied

    def cancel_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        self._require_run_permission(request)
        run = self._run(request, object_id)
        try:
            self.message_user(request, pipeline_run_cancel(run, user=request.user), messages.SUCCESS)
        except CustodianError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        return redirect("admin:pipelines_pipelinerun_change", run.pk)

    def retry_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        self._require_run_permission(request)
        run = self._run(request, object_id)
        try:
            retry = pipeline_run_retry(run, user=request.user)
        except CustodianError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return redirect("admin:pipelines_pipelinerun_change", run.pk)
        retry.refresh_from_db()
        self.message_user(request, *_run_outcome(retry))
        return redirect("admin:pipelines_pipelinerun_change", retry.pk)

    def rejected_csv_view(self, request, object_id):
        run = self._run(request, object_id)
        if not request.user.has_perm("pipelines.view_rejectedrow"):
            raise PermissionDenied
        mask = run_mask(run, request.user)
        fields = _reject_field_names(run, _mapped_fields(mask))
        rows = run.rejected_rows.order_by("row_number", "pk").values_list("row_number", "raw", "errors")

        def lines():
            for row_number, raw, errors in rows.iterator(chunk_size=2000):
                shown = mask.raw(raw)
                reasons = _reasons_text(mask.reasons(errors, raw), mask.feeds)
                yield [row_number, reasons, *(shown.get(f) for f in fields)]

        return csv_download(
            filename=f"{run.pipeline.name}-run-{run.pk}-rejected.csv",
            header=["row_number", "reasons", *fields],
            rows=lines(),
            numeric_columns=["row_number", *_numeric_fields(run, mask.feeds)],
        )


def _numeric_fields(run: PipelineRun, feeds: dict[str, list[str]]) -> list[str]:
    """The source fields that alone feed a numeric column of the target: their numbers stay numbers."""
    numeric = Column.objects.filter(
        entity_id=run.pipeline.target_id, name__in=list(feeds), data_type__in=NUMERIC_TYPES
    ).values_list("name", flat=True)
    return [feeds[name][0] for name in numeric if len(feeds[name]) == 1]


def _reject_field_names(run: PipelineRun, known: list[str]) -> list[str]:
    """Every raw field of a run's rejected rows: the mapped ones in mapping order, then the rest by name."""
    rejects = run.rejected_rows.all()
    if connection.vendor == "postgresql":
        # One row per distinct key, computed by the database rather than by reading every rejected row
        keys = Func("raw", function="jsonb_object_keys", output_field=CharField())
        names = rejects.order_by().annotate(key=keys).values_list("key", flat=True).distinct()
        return _field_names([list(names)], known)
    return _field_names(rejects.values_list("raw", flat=True).iterator(chunk_size=2000), known)


def _progress(run: PipelineRun) -> dict:
    fraction = run.progress
    if fraction is None and run.status == RunStatus.SUCCEEDED:
        fraction = 1.0
    return {
        "fraction": fraction,
        "percent": None if fraction is None else round(100 * fraction, 1),
        "active": not run.is_finished,
    }


def _timings(timings: dict) -> list[dict]:
    total = sum(float(v or 0) for v in timings.values()) or 1.0
    return [
        {"phase": phase, "seconds": float(seconds or 0), "share": round(100 * float(seconds or 0) / total, 1)}
        for phase, seconds in timings.items()
    ]


# Lineage on catalog pages ---------------------------------------------------------------------------------


def _steps_text(steps) -> str:
    if isinstance(steps, str):
        return steps
    try:
        return steps_describe(steps_normalize(steps))
    except ValueError:
        return str(steps)


def pipeline_lineage(columns, *, user=None) -> list[LineageRow]:
    """Lineage rows for the given columns: the pipelines that load them, from their last successful run."""
    edges = LineageEdge.objects.filter(column__in=columns).select_related("pipeline", "column", "last_run")
    see_pipelines = user is None or user.has_perm("pipelines.view_pipeline")
    see_runs = user is None or user.has_perm("pipelines.view_pipelinerun")
    return [
        LineageRow(
            column=edge.column.name,
            via=f"pipeline {edge.pipeline.name}",
            via_url=reverse("admin:pipelines_pipeline_change", args=[edge.pipeline_id])
            if see_pipelines
            else "",
            source=edge.source,
            source_field=edge.source_field,
            steps=_steps_text(edge.steps),
            last_run=f"run #{edge.last_run_id}",
            last_run_url=reverse("admin:pipelines_pipelinerun_change", args=[edge.last_run_id])
            if see_runs
            else "",
            last_run_at=edge.last_run.finished_at,
            column_position=edge.column.position,
        )
        for edge in edges
    ]


__all__ += ["run_mask", "pipeline_mask", "steps_yaml", "yaml_highlight"]

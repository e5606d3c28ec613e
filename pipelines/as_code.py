"""Pipelines as code: the YAML form of a pipeline, read, written and applied.

`pipeline_to_config` gives the dict that `pipeline_export` writes as YAML and that each run records as
what it ran (the pipeline's spec, pipelines.spec, in the file's layout). `pipeline_apply_config` makes the
catalog match such a dict: the file is read into a PipelineSpec with the typed accessors of
core.config_files, checked by `pipeline_spec_errors` (nothing is written to find out), and saved by
`pipeline_spec_save` in one transaction, so the history names the applying user. It refuses the whole
file, listing every problem with where it is (`mappings[2].steps: Step 1: unknown step 'trimm'`), when
anything is wrong. The file is the whole truth: a key left out means its default (no schedule, no owner,
no run-after), and a mapping left out is deleted. A pipeline is found by its name, so renaming one in the
file makes a new pipeline.
"""

import json

from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.files.storage import default_storage
from django.db import transaction

from core.config_files import (
    ConfigFileError,
    ProblemReader,
    config_path,
    yaml_dump,
    yaml_mapping_load,
)
from core.config_files import FlowList as _Flow
from core.config_files import FlowMap as _FlowMap
from core.config_files import described as _described
from core.config_files import suggestion as _suggestion
from pipelines.choices import FILE_KINDS, ExtractMode, LoadMode, SourceKind
from pipelines.spec import (
    MappingSpec,
    PipelineSpec,
    SpecProblem,
    pipeline_spec_errors,
    pipeline_spec_from_pipeline,
    pipeline_spec_save,
)

__all__ = [
    "PipelineConfigError",
    "pipeline_to_config",
    "pipeline_yaml_dump",
    "pipeline_yaml_load",
    "pipeline_apply_config",
]


class PipelineConfigError(ConfigFileError):
    """A pipeline file that cannot be applied; `problems` lists each one as "location: what is wrong"."""

    what = "pipeline"


def pipeline_to_config(pipeline) -> dict:
    """The pipeline as plain data, keyed by names (never database ids), in the YAML file's layout."""
    return pipeline_spec_from_pipeline(pipeline).to_config()


# YAML text -----------------------------------------------------------------------------------------------

KEY_ORDER = [
    "name",
    "description",
    "owner",
    "enabled",
    "target",
    "source",
    "extract",
    "load",
    "reject_threshold_percent",
    "batch_size",
    "max_retries",
    "run_quality",
    "schedule",
    "run_after",
    "mappings",
]
HEADER = "# Custodian pipeline. Apply with: python manage.py pipeline_apply FILE --user USERNAME\n"


def _is_scalar(value) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _step_for_yaml(step: dict):
    """A step as written by hand: a bare name, or one line of op and arguments (block when nested).

    Arguments come in the step's own order (required, then optional) and value maps sorted, whatever
    order the database kept them in (PostgreSQL's jsonb reorders keys), so an export is the same bytes.
    """
    from pipelines.transforms import STEPS

    if set(step) == {"op"}:
        return step["op"]
    known = STEPS.get(step["op"])
    order = ["op", *(known.required if known else ()), *(known.optional if known else ())]
    names = sorted(step, key=lambda name: (order.index(name) if name in order else len(order), name))
    ordered = {name: _sorted_map(step[name]) for name in names}
    return _FlowMap(ordered) if all(_is_scalar(v) for v in ordered.values()) else ordered


def _sorted_map(value):
    if isinstance(value, dict):
        return {key: value[key] for key in sorted(value, key=str)}
    return value


def _config_for_yaml(config: dict) -> dict:
    ordered = {key: config[key] for key in KEY_ORDER if key in config}
    source = dict(ordered["source"])
    if "null_markers" in source:
        source["null_markers"] = _Flow(source["null_markers"])
    ordered["source"] = source
    if "key" in ordered["load"]:
        ordered["load"] = {**ordered["load"], "key": _Flow(ordered["load"]["key"])}
    mappings = []
    for item in ordered["mappings"]:
        item = dict(item)
        if "steps" in item:
            steps = [_step_for_yaml(step) for step in item["steps"]]
            item["steps"] = _Flow(steps) if all(isinstance(s, str) for s in steps) else steps
        mappings.append(item)
    ordered["mappings"] = mappings
    return ordered


def pipeline_yaml_dump(pipeline) -> str:
    """The pipeline as a YAML file that `pipeline_apply` turns back into the same pipeline."""
    return yaml_dump(_config_for_yaml(pipeline_to_config(pipeline)), header=HEADER)


def pipeline_yaml_load(text: str) -> dict:
    """The pipeline dict of a YAML file; PipelineConfigError saying where the YAML is broken."""
    return yaml_mapping_load(
        text,
        error=PipelineConfigError,
        shape="a pipeline file is a mapping (name: ..., target: ...)",
        one_per_file="give one pipeline per file",
    )


# Reading a config -----------------------------------------------------------------------------------------

TOP_KEYS = set(KEY_ORDER)
TARGET_KEYS = {"datastore", "entity"}
FILE_SOURCE_KEYS = {"kind", "path", "upload", "encoding", "header", "null_markers"}
ONLY_FOR_KIND = {"delimiter": {"csv"}, "quotechar": {"csv"}, "sheet": {"xlsx"}}
SQL_SOURCE_KEYS = {"kind", "datastore"}
SQL_KIND_KEYS = {"table": "sql_table", "query": "sql_query"}
EXTRACT_KEYS = {"mode", "watermark"}
LOAD_KEYS = {"mode", "key"}
MAPPING_KEYS = {"column", "field", "constant", "steps"}

# Where a model field lives in the file, for errors the model's validation reports.
FIELD_LOCATIONS = {
    "name": "name",
    "description": "description",
    "enabled": "enabled",
    "owner": "owner",
    "target": "target.entity",
    "source_kind": "source.kind",
    "source_path": "source.path",
    "source_file": "source.upload",
    "csv_delimiter": "source.delimiter",
    "csv_quotechar": "source.quotechar",
    "encoding": "source.encoding",
    "has_header": "source.header",
    "null_markers": "source.null_markers",
    "sheet_name": "source.sheet",
    "source_datastore": "source.datastore",
    "source_table": "source.table",
    "source_query": "source.query",
    "extract_mode": "extract.mode",
    "watermark_field": "extract.watermark",
    "load_mode": "load.mode",
    "key_columns": "load.key",
    "reject_threshold_percent": "reject_threshold_percent",
    "batch_size": "batch_size",
    "max_retries": "max_retries",
    "run_quality": "run_quality",
    "schedule": "schedule",
    "run_after": "run_after",
    "mappings": "mappings",
    NON_FIELD_ERRORS: "pipeline",
}
MAPPING_FIELD_LOCATIONS = {
    "column": "column",
    "source_field": "field",
    "constant": "constant",
    "steps": "steps",
    "position": "column",
    NON_FIELD_ERRORS: "column",
}


class _Reader(ProblemReader):
    """Reads a config dict into model field values and mapping specs, collecting every problem."""

    def __init__(self, config: dict):
        self.config = config
        self.problems: list[str] = []
        self.fields: dict = {}
        self.mappings: list[MappingSpec] = []

    # -- the file ----------------------------------------------------------------------------------------

    def read(self) -> None:
        config = self.config
        self.unknown_keys(config, TOP_KEYS, "")
        self.fields["name"] = self.text(config, "name", "name", required=True)
        self.fields["description"] = self.text(config, "description", "description")
        self.fields["enabled"] = self.flag(config, "enabled", "enabled", True)
        self.fields["owner"] = self._owner(config)
        self.fields["target"] = self._target(config)
        self._source(config)
        self._modes(config)
        self._limits(config)
        self.fields["schedule"] = self.text(config, "schedule", "schedule").strip()
        self.fields["run_after"] = self._run_after(config)
        self._mappings(config)

    def _owner(self, config: dict):
        username = self.text(config, "owner", "owner")
        if not username:
            return None
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            self.problem("owner", f"no user '{username}'")
        return user

    def _target(self, config: dict):
        from catalog.models import DataStore, Entity

        section = self.section(config, "target", "target", TARGET_KEYS, required=True)
        self.unknown_keys(section, TARGET_KEYS, "target")
        store_name = self.text(section, "datastore", "target.datastore", required=bool(section))
        entity_name = self.text(section, "entity", "target.entity", required=bool(section))
        if not store_name:
            return None
        store = DataStore.objects.filter(name=store_name).first()
        if store is None:
            known = list(DataStore.objects.values_list("name", flat=True))
            self.problem(
                "target.datastore",
                f"no data store '{store_name}'{_suggestion(store_name, known)} (known: "
                f"{', '.join(known) or 'none'})",
            )
            return None
        if not entity_name:
            return None
        entity = Entity.objects.filter(datastore=store, name=entity_name).first()
        if entity is None:
            known = Entity.objects.filter(datastore=store).values_list("name", flat=True)
            self.problem(
                "target.entity",
                f"no entity '{entity_name}' in data store '{store_name}'{_suggestion(entity_name, known)}",
            )
        return entity

    def _source(self, config: dict) -> None:
        section = self.section(config, "source", "source", {"kind"}, required=True)
        kind = self.choice(section, "kind", "source.kind", SourceKind, SourceKind.CSV) if section else "csv"
        if section and "kind" not in section:
            self.problem("source.kind", f"missing; one of {', '.join(SourceKind.values)}")
        defaults = {
            "source_kind": kind,
            "source_path": "",
            "source_file": "",
            "csv_delimiter": ",",
            "csv_quotechar": '"',
            "encoding": "utf-8",
            "has_header": True,
            "null_markers": [],
            "sheet_name": "",
            "source_datastore": None,
            "source_table": "",
            "source_query": "",
        }
        self.fields.update(defaults)
        if kind in FILE_KINDS:
            self._file_source(section, kind)
        else:
            self._sql_source(section, kind)

    def _file_source(self, section: dict, kind: str) -> None:
        allowed = FILE_SOURCE_KEYS | {key for key, kinds in ONLY_FOR_KIND.items() if kind in kinds}
        for key in section:
            if key in allowed:
                continue
            if key in ONLY_FOR_KIND:
                self.problem(f"source.{key}", f"only applies to {', '.join(ONLY_FOR_KIND[key])} sources")
            elif key in SQL_SOURCE_KEYS | set(SQL_KIND_KEYS):
                self.problem(f"source.{key}", f"only applies to SQL sources; a {kind} source reads a file")
            else:
                self.unknown_keys({key: None}, allowed, "source")
        path = self.text(section, "path", "source.path")
        upload = self.text(section, "upload", "source.upload")
        if path and upload:
            self.problem("source", "give a path or an upload, not both")
        self.fields["source_path"] = path
        if upload and not default_storage.exists(upload):
            self.problem(
                "source.upload",
                f"no uploaded file '{upload}' in storage; upload files from the admin (a file can keep an "
                "existing upload, not add one)",
            )
        elif upload:
            self.fields["source_file"] = upload
        self.fields["encoding"] = self.text(section, "encoding", "source.encoding", "utf-8")
        self.fields["csv_delimiter"] = self.text(section, "delimiter", "source.delimiter", ",")
        self.fields["csv_quotechar"] = self.text(section, "quotechar", "source.quotechar", '"')
        self.fields["has_header"] = self.flag(section, "header", "source.header", True)
        self.fields["null_markers"] = self.text_list(section, "null_markers", "source.null_markers")
        self.fields["sheet_name"] = self.text(section, "sheet", "source.sheet")

    def _sql_source(self, section: dict, kind: str) -> None:
        from catalog.models import DataStore

        allowed = SQL_SOURCE_KEYS | {key for key, k in SQL_KIND_KEYS.items() if k == kind}
        for key in section:
            if key in allowed:
                continue
            if key in SQL_KIND_KEYS:
                self.problem(f"source.{key}", f"only applies to {SQL_KIND_KEYS[key]} sources")
            elif key in FILE_SOURCE_KEYS or key in ONLY_FOR_KIND:
                self.problem(f"source.{key}", f"only applies to file sources; a {kind} source reads a table")
            else:
                self.unknown_keys({key: None}, allowed, "source")
        store_name = self.text(section, "datastore", "source.datastore")
        if store_name:
            store = DataStore.objects.filter(name=store_name).first()
            if store is None:
                known = DataStore.objects.values_list("name", flat=True)
                self.problem(
                    "source.datastore", f"no data store '{store_name}'{_suggestion(store_name, known)}"
                )
            self.fields["source_datastore"] = store
        self.fields["source_table"] = self.text(section, "table", "source.table").strip()
        self.fields["source_query"] = self.text(section, "query", "source.query").strip()

    def _modes(self, config: dict) -> None:
        extract = self.section(config, "extract", "extract", EXTRACT_KEYS, required=False)
        self.unknown_keys(extract, EXTRACT_KEYS, "extract")
        self.fields["extract_mode"] = self.choice(extract, "mode", "extract.mode", ExtractMode, "full")
        self.fields["watermark_field"] = self.text(extract, "watermark", "extract.watermark")
        load = self.section(config, "load", "load", LOAD_KEYS, required=False)
        self.unknown_keys(load, LOAD_KEYS, "load")
        self.fields["load_mode"] = self.choice(load, "mode", "load.mode", LoadMode, "append")
        self.fields["key_columns"] = self.text_list(load, "key", "load.key")
        target = self.fields.get("target")
        if target is not None:
            columns = set(target.columns.values_list("name", flat=True))
            for name in self.fields["key_columns"]:
                if name not in columns:
                    self.problem(
                        "load.key",
                        f"entity '{target.name}' has no column '{name}'{_suggestion(name, columns)}",
                    )

    def _limits(self, config: dict) -> None:
        self.fields["reject_threshold_percent"] = self.percent(
            config,
            "reject_threshold_percent",
            "reject_threshold_percent",
            5,
            expected="a number from 0 to 100",
        )
        self.fields["batch_size"] = self.number(config, "batch_size", "batch_size", 50_000, whole=True)
        self.fields["max_retries"] = self.number(config, "max_retries", "max_retries", 3, whole=True)
        self.fields["run_quality"] = self.flag(config, "run_quality", "run_quality", False)

    def _run_after(self, config: dict):
        from pipelines.models import Pipeline

        name = self.text(config, "run_after", "run_after")
        if not name:
            return None
        pipeline = Pipeline.objects.filter(name=name).first()
        if pipeline is None:
            known = Pipeline.objects.values_list("name", flat=True)
            self.problem("run_after", f"no pipeline '{name}'{_suggestion(name, known)}")
        return pipeline

    def _mappings(self, config: dict) -> None:
        items = config.get("mappings", [])
        if items is None:
            items = []
        if not isinstance(items, list):
            self.problem(
                "mappings", f"must be a list of mappings (column: ..., field: ...), not {_described(items)}"
            )
            return
        target = self.fields.get("target")
        columns = {c.name: c for c in target.columns.all()} if target is not None else {}
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            where = f"mappings[{index}]"
            if not isinstance(item, dict):
                self.problem(where, f"must be a mapping (column: ..., field: ...), not {_described(item)}")
                continue
            self.unknown_keys(item, MAPPING_KEYS, where)
            name = self.text(item, "column", f"{where}.column", required=True)
            if not name:
                continue
            if name in seen:
                self.problem(f"{where}.column", f"'{name}' is mapped twice (also in mappings[{seen[name]}])")
                continue
            seen[name] = index
            column = columns.get(name)
            if column is None and target is not None:
                self.problem(
                    f"{where}.column",
                    f"entity '{target.name}' has no column '{name}'{_suggestion(name, columns)}",
                )
            spec = MappingSpec(column_name=name, column=column, index=index)
            spec.source_field = self.text(item, "field", f"{where}.field").strip()
            spec.constant = self._constant(item, where)
            if spec.source_field and spec.constant is not None:
                self.problem(where, "give a field or a constant, not both")
                spec.constant = None
            spec.steps = self._steps(item, where)
            self.mappings.append(spec)

    def _constant(self, item: dict, where: str) -> str | None:
        value = item.get("constant")
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (str, int, float)):
            return str(value)
        if hasattr(value, "isoformat"):
            return value.isoformat()
        self.problem(f"{where}.constant", f"must be text or a number, not {_described(value)}")
        return None

    def _steps(self, item: dict, where: str) -> list:
        from pipelines.transforms import steps_normalize

        try:
            return steps_normalize(item.get("steps") or [])
        except ValueError as exc:
            self.problem(f"{where}.steps", str(exc))
            return []


# Applying ------------------------------------------------------------------------------------------------


def _problems(found: list[SpecProblem], reader: _Reader) -> list[str]:
    """The spec's problems at their places in the file, minus places the reading already reported."""
    problems = []
    for problem in found:
        if problem.mapping is None:
            where = FIELD_LOCATIONS.get(problem.field, problem.field)
            if reader.located(where):
                continue
        else:
            where = config_path(
                "mappings", problem.mapping, MAPPING_FIELD_LOCATIONS.get(problem.field, problem.field)
            )
        problems.append(f"{where}: {problem.message}")
    return problems


def pipeline_apply_config(config: dict, *, user, dry_run: bool = False) -> tuple:
    """Create or update the pipeline a config describes; (pipeline, created, changes in words).

    All or nothing in one transaction; PipelineConfigError lists every problem with its location.
    Applying a config that matches the pipeline saves nothing, so no history row is written. With
    `dry_run` everything is checked and the changes are reported; nothing is written.
    """
    from pipelines.models import Pipeline

    if not isinstance(config, dict):
        raise PipelineConfigError([f"file: it holds {_described(config)}; a pipeline is a mapping."])
    reader = _Reader(config)
    with transaction.atomic():
        reader.read()
        if reader.fields.get("target") is None:  # without the target no column can be resolved
            raise PipelineConfigError(reader.problems or ["target: missing"])
        spec = PipelineSpec(**reader.fields, mappings=reader.mappings)
        stored = Pipeline.objects.select_for_update().filter(name=spec.name).first()
        problems = reader.problems + _problems(pipeline_spec_errors(spec, instance=stored), reader)
        if problems:
            raise PipelineConfigError(problems)
        before = _flat(pipeline_to_config(stored)) if stored is not None else None
        changes = _changes(before, _flat(spec.to_config()))
        if dry_run:
            return stored or Pipeline(**spec.values()), stored is None, changes
        saved = pipeline_spec_save(spec=spec, user=user, instance=stored)
    return saved.pipeline, saved.created, changes


# Changes in words ----------------------------------------------------------------------------------------


def _flat(config: dict) -> dict:
    """{location: value} of a config, mappings keyed by column name, for before/after comparison."""
    flat: dict = {}
    for key in sorted(config, key=lambda k: KEY_ORDER.index(k) if k in KEY_ORDER else len(KEY_ORDER)):
        value = config[key]
        if key == "mappings":
            flat["mappings"] = [item["column"] for item in value]
            for item in value:
                for name in ("field", "constant", "steps"):
                    flat[f"mappings.{item['column']}.{name}"] = item.get(name)
        elif isinstance(value, dict):
            for name, inner in value.items():
                flat[f"{key}.{name}"] = inner
        else:
            flat[key] = value
    return flat


def _shown(location: str, value) -> str:
    if value is None:
        return "none"
    if location.endswith(".steps"):
        from pipelines.transforms import steps_describe

        return "[" + ", ".join(steps_describe([step]) for step in value) + "]"
    return json.dumps(value, ensure_ascii=False, default=str)


def _mapping_words(flat: dict, column: str) -> str:
    field, constant = flat.get(f"mappings.{column}.field"), flat.get(f"mappings.{column}.constant")
    words = (
        f"field {field!r}" if field else (f"constant {constant!r}" if constant is not None else "no value")
    )
    steps = flat.get(f"mappings.{column}.steps")
    return words + (f", steps {_shown('.steps', steps)}" if steps else "")


def _changes(before: dict | None, after: dict) -> list[str]:
    new_columns = after.get("mappings", [])
    if before is None:
        return [f"mappings.{name}: added ({_mapping_words(after, name)})" for name in new_columns]
    old_columns = before.get("mappings", [])
    changes = []
    for location in dict.fromkeys([*before, *after]):
        if location == "mappings":
            continue
        if location.startswith("mappings."):
            # Column names are SQL identifiers, so they hold no dot.
            column = location.split(".")[1]
            if column not in old_columns or column not in new_columns:
                continue
        old, new = before.get(location), after.get(location)
        if old != new:
            changes.append(f"{location}: {_shown(location, old)} → {_shown(location, new)}")
    changes += [
        f"mappings.{name}: added ({_mapping_words(after, name)})"
        for name in new_columns
        if name not in old_columns
    ]
    changes += [f"mappings.{name}: removed" for name in old_columns if name not in new_columns]
    kept_old = [name for name in old_columns if name in new_columns]
    kept_new = [name for name in new_columns if name in old_columns]
    if kept_old != kept_new:
        changes.append(f"mappings: reordered ({', '.join(new_columns)})")
    return changes

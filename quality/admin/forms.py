"""The rule form: parameters as YAML or JSON, column names as a list."""

import json
import re

import yaml
from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from catalog.admin.base import VersionedModelForm
from quality.choices import KIND_DIMENSIONS
from quality.kinds import KINDS, kind_runs_user_sql
from quality.models import (
    Rule,
)

__all__ = [
    "RuleParamsField",
    "ColumnNamesField",
    "RuleForm",
    "params_yaml",
    "params_help",
]

# Forms ----------------------------------------------------------------------------------------------------


class _ParamsLoader(yaml.SafeLoader):
    """YAML as JSON reads it: only true/false are booleans, and dates stay text.

    Allowed values such as yes, no, on and off, or a date bound of a range, must not change type."""


_ParamsLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag.rsplit(":", 1)[-1] not in ("bool", "timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ParamsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class _ParamsDumper(yaml.SafeDumper):
    """Multi-line text (custom SQL) as a `|` block, so it reads as it was written."""


_ParamsDumper.add_representer(
    str,
    lambda dumper, value: dumper.represent_scalar(
        "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None
    ),
)


def params_yaml(params) -> str:
    """A rule's parameters as the YAML an editor types: "pattern: '@'", "values: [gold, silver]"."""
    if not params:
        return ""
    return yaml.dump(
        params, Dumper=_ParamsDumper, sort_keys=False, allow_unicode=True, default_flow_style=None, width=100
    )


def _example(text: str) -> str:
    if not text:
        return ""
    lines = format_html_join(mark_safe("<br>"), "{}", ((line,) for line in text.splitlines()))
    return format_html('<code class="dq-example">{}</code> — ', lines)


def params_help(first_kind: str | None = None) -> str:
    """The parameters' help: YAML or JSON, then per kind an example (the rule's own kind first)."""
    kinds = sorted(KINDS.values(), key=lambda kind: kind.value != first_kind)
    items = format_html_join(
        "",
        "<li><strong>{}</strong>: {}{}</li>",
        ((kind.label, _example(kind.example), kind.help) for kind in kinds),
    )
    return format_html(
        'YAML (one <code>name: value</code> per line) or JSON (<code>{{"pattern": "@"}}</code>). '
        'Per kind:<ul class="dq-params-help">{}</ul>',
        items,
    )


class RuleParamsField(forms.CharField):
    """A rule's parameters, typed as YAML or JSON and stored as a JSON mapping."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 70, "class": "dq-params", "spellcheck": "false"})

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", params_help())
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return params_yaml(value) if isinstance(value, dict) else value

    def to_python(self, value):
        if isinstance(value, dict):
            return value
        text = (value or "").strip()
        if not text:
            return {}
        try:
            parsed = yaml.load(text, Loader=_ParamsLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ValidationError(
                f"The parameters are neither YAML nor JSON{where}: {problem}.", code="yaml"
            ) from None
        if not isinstance(parsed, dict):
            raise ValidationError(
                "The parameters are a mapping of name: value, e.g. pattern: '@'.", code="mapping"
            )
        try:
            json.dumps(parsed)
        except (TypeError, ValueError):
            raise ValidationError(
                "Parameter values are text, numbers, true/false or lists of those.", code="json"
            ) from None
        return parsed

    def has_changed(self, initial, data):
        try:
            return self.to_python(data) != (initial or {})
        except ValidationError:
            return True


class ColumnNamesField(forms.CharField):
    """Column names typed as one comma-separated line, stored as a JSON list."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault(
            "help_text",
            "Comma-separated column names of the entity, e.g. <code>email</code> or "
            "<code>country, tier</code>. Volume and custom SQL rules have none.",
        )
        kwargs.setdefault("widget", forms.TextInput(attrs={"size": 60, "spellcheck": "false"}))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return ", ".join(str(v) for v in value) if isinstance(value, list) else value

    def to_python(self, value):
        if isinstance(value, list):
            return value
        return [name.strip() for name in (value or "").split(",") if name.strip()]

    def has_changed(self, initial, data):
        return self.to_python(data) != (initial or [])


# The fields a rule's definition checks read together with its kind.
KIND_DEPENDENT = ("columns", "params")


class RuleForm(VersionedModelForm):
    """A rule; the model's definition checks land on their fields. Custom SQL needs its own permission."""

    columns = ColumnNamesField()
    params = RuleParamsField(label="Parameters")
    # Set per request by RuleAdmin.get_form.
    may_write_custom_sql = False

    class Meta:
        model = Rule
        fields = [
            "entity",
            "name",
            "kind",
            "columns",
            "params",
            "threshold_percent",
            "severity",
            "dimension",
            "enabled",
            "description",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 4, "cols": 70})}
        help_texts = {"dimension": "Empty: the kind's usual dimension (e.g. completeness for not null)."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "params" in self.fields and self.instance.pk:
            self.fields["params"].help_text = params_help(self.instance.kind)

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind", self.instance.kind)
        was_sql = self.instance.pk and kind_runs_user_sql(self.instance.kind)
        # Free-form SQL runs on the data store: writing or changing it is a permission of its own.
        if (kind_runs_user_sql(kind) or was_sql) and not self.may_write_custom_sql:
            self.add_error(
                "kind" if "kind" in self.fields else None,
                "Custom SQL rules need the permission “Can write custom SQL quality rules”, which an "
                "administrator gives to individual users (no role includes it): ask an administrator to give "
                "it to you, or use another kind.",
            )
        # The stored dimension was the old kind's default unless someone chose it: a new kind brings its own.
        if (
            self.instance.pk
            and "kind" in self.changed_data
            and "dimension" in self.fields
            and "dimension" not in self.changed_data
            and cleaned.get("dimension") == KIND_DIMENSIONS.get(self.instance.kind)
        ):
            cleaned["dimension"] = ""
        return cleaned

    def _update_errors(self, errors):
        # The model's checks name fields that may be read-only here (a catalog rule's definition):
        # those errors are shown above the form, named, instead of being lost.
        if hasattr(errors, "error_dict"):
            placed = {}
            for name, problems in errors.error_dict.items():
                # A field the form refused keeps its old value on the instance, and the definition is
                # judged by its kind: the model's verdict on them is about values nobody submitted.
                if name in self._errors or (name in KIND_DEPENDENT and "kind" in self._errors):
                    continue
                if name == NON_FIELD_ERRORS or name in self.fields:
                    placed.setdefault(name, []).extend(problems)
                    continue
                label = str(Rule._meta.get_field(name).verbose_name).capitalize()
                placed.setdefault(NON_FIELD_ERRORS, []).extend(
                    ValidationError(f"{label}: {message}")
                    for problem in problems
                    for message in problem.messages
                )
            errors = ValidationError(placed)
        super()._update_errors(errors)

"""What every "as code" YAML file shares (pipelines, quality rules): how it is written, how it is read with
typed accessors, and how a broken file is reported. Each app keeps its own layout and its own error class.

A reader subclasses `ProblemReader` and reads its layout with the accessors (`text`, `flag`, `number`,
`percent`, `choice`, `text_list`, `mapping`, `section`, `unknown_keys`). An accessor never raises on a wrong
value: it records "location: what is wrong" and returns the default, so one pass lists every problem of a
file. Locations are written as paths (`config_path("mappings", 2, "steps")` is `mappings[2].steps`).
"""

import difflib
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation

import yaml
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from core.errors import CustodianError

__all__ = [
    "yaml_dump",
    "ConfigFileError",
    "FlowList",
    "FlowMap",
    "YamlDumper",
    "yaml_mapping_load",
    "described",
    "suggestion",
    "config_path",
    "validation_problems",
    "YAML_WORDS_HINT",
    "ProblemReader",
]

YAML_WORDS_HINT = " (quote words such as NULL, yes, no, on and off: YAML reads them as null or booleans)"


class ConfigFileError(CustodianError):
    """A file that cannot be applied; `problems` lists each one as "location: what is wrong". Subclasses name
    what the file configures in `what` ("pipeline", "quality")."""

    what = "file"

    def __init__(self, problems: list[str]):
        self.problems = list(dict.fromkeys(problems))
        count = len(self.problems)
        super().__init__(
            f"The {self.what} configuration has {count} problem{'s' if count != 1 else ''}; nothing was "
            "changed:\n" + "\n".join(f"  - {problem}" for problem in self.problems),
            extra={"problems": self.problems},
        )


# Writing ------------------------------------------------------------------------------------------------


class FlowList(list):
    """A list written on one line: [trim, lower]."""


class FlowMap(dict):
    """A mapping written on one line: {op: parse_date, format: '%d/%m/%Y'}."""


class YamlDumper(yaml.SafeDumper):
    def increase_indent(self, flow=False, indentless=False):
        # Lists indented under their key read better than YAML's default flush-left dashes.
        return super().increase_indent(flow, False)


def _represent_str(dumper, value: str):
    value = str.__str__(value)  # choices (SourceKind.CSV) are str subclasses: write their plain value
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


YamlDumper.add_representer(str, _represent_str)
YamlDumper.add_multi_representer(str, _represent_str)
YamlDumper.add_representer(
    FlowList, lambda dumper, value: dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)
)
YamlDumper.add_representer(
    FlowMap,
    lambda dumper, value: dumper.represent_mapping("tag:yaml.org,2002:map", value.items(), flow_style=True),
)


# Words for problems -------------------------------------------------------------------------------------


def yaml_dump(config: dict, *, header: str) -> str:
    """A configuration as the YAML file the as-code commands write: `header` (comment lines), then the keys
    in the order given, block style, unicode kept, lines up to 110 characters."""
    body = yaml.dump(
        config, Dumper=YamlDumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=110
    )
    return header + body


def described(value) -> str:
    """A value's kind in words, for messages about the wrong kind of value."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"text ({value[:40]!r})"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__} ({value})"


def suggestion(word, known) -> str:
    """ " (did you mean 'x'?)" for the closest known word, or nothing."""
    close = difflib.get_close_matches(str(word), [str(k) for k in known], n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def config_path(*parts) -> str:
    """A path in the file: keys joined by dots, list positions in brackets; empty parts are skipped.

    `config_path("mappings", 2, "steps")` is "mappings[2].steps"; `config_path("", "name")` is "name".
    """
    path = ""
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            path += f"[{part}]"
        elif part not in ("", None):
            path = f"{path}.{part}" if path else str(part)
    return path


def validation_problems(exc: ValidationError, locate: Callable[[str, str], str]) -> list[str]:
    """A model's ValidationError as "location: message" problems; `locate(field, message)` says where a
    field's message goes in the file (NON_FIELD_ERRORS for errors not tied to a field)."""
    if not hasattr(exc, "error_dict"):
        return [f"{locate(NON_FIELD_ERRORS, message)}: {message}" for message in exc.messages]
    return [
        f"{locate(name, message)}: {message}"
        for name, messages in exc.message_dict.items()
        for message in messages
    ]


# Reading ------------------------------------------------------------------------------------------------


def yaml_mapping_load(text: str, *, error, shape: str, one_per_file: str) -> dict:
    """The mapping a YAML file holds; `error([problem])` saying where the file is broken otherwise.

    `shape` says what the file should be ("a pipeline file is a mapping (name: ..., target: ...)"),
    `one_per_file` what to do about a second document ("give one pipeline per file").
    """
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "file"
        problem = getattr(exc, "problem", None) or str(exc)
        if "expected a single document" in str(exc):
            problem = f"a second document starts here; {one_per_file}"
        context = getattr(exc, "context", None)
        detail = f"{problem} ({context})" if context else problem
        raise error([f"{where}: not valid YAML: {detail}"]) from None
    if config is None:
        raise error([f"file: it is empty; {shape}."])
    if not isinstance(config, dict):
        raise error([f"file: it holds {described(config)}; {shape}."])
    return config


def _listed(allowed: Iterable) -> list[str]:
    """Known keys in the order a reader gave them (a list), or sorted (a set)."""
    return sorted(map(str, allowed)) if isinstance(allowed, set | frozenset) else [str(k) for k in allowed]


class ProblemReader:
    """Typed access to a config file's values that collects every problem with its location instead of
    stopping at the first; subclasses set `self.problems` (a list) and read their own layout.

    Each accessor takes the mapping a value sits in, its key and its location in the file, and returns the
    value, or the default after recording why the value could not be used.
    """

    problems: list[str]

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def located(self, where: str) -> bool:
        """Whether a problem was already recorded at `where` or inside it."""
        return any(p.startswith(f"{where}:") or p.startswith(f"{where}.") for p in self.problems)

    # -- scalars ------------------------------------------------------------------------------------------

    def text(self, section: dict, key: str, where: str, default: str = "", *, required=False) -> str:
        value = section.get(key)
        if value is None:
            if required:
                self.problem(where, "missing")
            return default
        if not isinstance(value, str):
            self.problem(where, f"must be text, not {described(value)}")
            return default
        return value

    def flag(self, section: dict, key: str, where: str, default: bool) -> bool:
        value = section.get(key, default)
        if not isinstance(value, bool):
            self.problem(where, f"must be true or false, not {described(value)}")
            return default
        return value

    def number(self, section: dict, key: str, where: str, default, *, whole=False):
        """An int (`whole`) or an int or float; a boolean is not a number here, though Python says it is."""
        value = section.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int if whole else int | float):
            kind = "a whole number" if whole else "a number"
            self.problem(where, f"must be {kind}, not {described(value)}")
            return default
        return value

    def percent(self, section: dict, key: str, where: str, default=0, *, expected="a number") -> Decimal:
        """A finite Decimal (YAML's .inf and .nan are refused); the model checks the 0 to 100 range.

        `expected` words the type error ("must be a number, not text ('high')").
        """
        value = section.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(where, f"must be {expected}, not {described(value)}")
            value = default
        try:
            percent = Decimal(str(value))
        except InvalidOperation:
            percent = Decimal("NaN")
        if not percent.is_finite():
            self.problem(where, f"must be a number from 0 to 100, not {value}")
            return Decimal(default)
        return percent

    def choice(self, section: dict, key: str, where: str, choices, default: str | None) -> str | None:
        """One of a TextChoices' values; with no default the key is required."""
        value = section.get(key, default)
        words = ", ".join(choices.values)
        if value is None and default is None:
            self.problem(where, f"missing; one of {words}")
            return None
        if not isinstance(value, str):
            self.problem(where, f"must be one of {words}, not {described(value)}")
            return default
        if value not in choices.values:
            self.problem(where, f"{value!r} is not one of {words}{suggestion(value, choices.values)}")
            return default
        return value

    # -- collections --------------------------------------------------------------------------------------

    def text_list(self, section: dict, key: str, where: str, *, scalars=False) -> list:
        """A list of text (or of text and numbers with `scalars`); an empty list when anything is wrong."""
        value = section.get(key, [])
        if value is None:
            return []
        accepted = str | int | float if scalars else str
        what = "text or numbers" if scalars else "text"
        if not isinstance(value, list):
            self.problem(where, f"must be a list of {what}, not {described(value)}")
            return []
        for item in value:
            if isinstance(item, bool) or not isinstance(item, accepted):
                hint = YAML_WORDS_HINT if item is None or isinstance(item, bool) else ""
                self.problem(where, f"must be a list of {what}; it holds {described(item)}{hint}")
                return []
        return value

    def mapping(self, value, where: str, shape: str = "") -> dict | None:
        """`value` as a mapping: {} for null, None (after recording why) for anything else."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            shown = f" ({shape})" if shape else ""
            self.problem(where, f"must be a mapping{shown}, not {described(value)}")
            return None
        return value

    def section(self, parent: dict, key: str, where: str, allowed, *, required: bool) -> dict:
        """The mapping under `key`, {} when it is missing or wrong; `allowed` names its keys in the message
        about a missing required section."""
        value = parent.get(key)
        if value is None and required:
            self.problem(where, "missing; it is a mapping (" + ", ".join(_listed(allowed)) + ")")
        return self.mapping(value, where) or {}

    def unknown_keys(self, section: dict, allowed, prefix: str) -> None:
        """A problem for each key of `section` not in `allowed` (a list keeps its order in the message, a
        set is sorted), with the closest known key as a suggestion."""
        for key in section:
            if key not in allowed:
                self.problem(
                    config_path(prefix, str(key)),
                    f"unknown key{suggestion(key, allowed)}; known keys: {', '.join(_listed(allowed))}",
                )

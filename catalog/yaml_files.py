"""What every "as code" YAML file shares (pipelines, quality rules): how it is written and how a broken file
is reported. Each app keeps its own layout and its own error class."""

import difflib

import yaml

from core.errors import CustodianError

__all__ = [
    "ConfigFileError",
    "FlowList",
    "FlowMap",
    "YamlDumper",
    "yaml_mapping_load",
    "described",
    "suggestion",
    "ProblemReader",
]


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


class ProblemReader:
    """Typed access to a config file's values that collects every problem with its location instead of
    stopping at the first; subclasses set `self.problems` (a list) and read their own layout."""

    problems: list[str]

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

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

"""The typed accessors every as-code reader shares: each wrong value becomes one located problem."""

from decimal import Decimal

import pytest
from django.db import models

from core.config_files import ProblemReader, config_path


class Mode(models.TextChoices):
    FULL = "full"
    INCREMENTAL = "incremental"


class Reader(ProblemReader):
    def __init__(self):
        self.problems = []


@pytest.mark.parametrize(
    "parts, path",
    [
        (("mappings", 2, "steps"), "mappings[2].steps"),
        (("", "name"), "name"),
        (("entities.customer.rules", 0), "entities.customer.rules[0]"),
        (("source", "", "kind"), "source.kind"),
    ],
)
def test_config_path_joins_keys_with_dots_and_positions_in_brackets(parts, path):
    assert config_path(*parts) == path


@pytest.mark.parametrize(
    "read, value, problem",
    [
        (lambda r, s: r.text(s, "v", "v", required=True), None, "v: missing"),
        (lambda r, s: r.text(s, "v", "v"), 7, "v: must be text, not a number (7)"),
        (lambda r, s: r.flag(s, "v", "v", True), "yes", "v: must be true or false, not text ('yes')"),
        (
            lambda r, s: r.number(s, "v", "v", 1, whole=True),
            1.5,
            "v: must be a whole number, not a number (1.5)",
        ),
        (lambda r, s: r.number(s, "v", "v", 1), True, "v: must be a number, not a boolean (true)"),
        (lambda r, s: r.percent(s, "v", "v"), "high", "v: must be a number, not text ('high')"),
        (lambda r, s: r.percent(s, "v", "v"), float("inf"), "v: must be a number from 0 to 100, not inf"),
        (lambda r, s: r.choice(s, "v", "v", Mode, None), None, "v: missing; one of full, incremental"),
        (
            lambda r, s: r.choice(s, "v", "v", Mode, "full"),
            "ful",
            "v: 'ful' is not one of full, incremental (did you mean 'full'?)",
        ),
        (
            lambda r, s: r.choice(s, "v", "v", Mode, "full"),
            3,
            "v: must be one of full, incremental, not a number (3)",
        ),
        (
            lambda r, s: r.text_list(s, "v", "v"),
            ["a", None],
            "v: must be a list of text; it holds nothing (null)"
            " (quote words such as NULL, yes, no, on and off: YAML reads them as null or booleans)",
        ),
        (
            lambda r, s: r.text_list(s, "v", "v", scalars=True),
            [1, {}],
            "v: must be a list of text or numbers; it holds a mapping",
        ),
        (
            lambda r, s: r.section(s, "v", "v", {"b", "a"}, required=True),
            None,
            "v: missing; it is a mapping (a, b)",
        ),
        (
            lambda r, s: r.mapping(s["v"], "v", "name: ..."),
            [1],
            "v: must be a mapping (name: ...), not a list",
        ),
    ],
)
def test_a_wrong_value_is_one_problem_at_its_location(read, value, problem):
    reader = Reader()
    read(reader, {"v": value})
    assert reader.problems == [problem]


def test_right_values_are_returned_without_problems():
    reader = Reader()
    section = {"t": "x", "f": False, "n": 3, "p": 12.5, "c": "incremental", "l": ["a", 1], "m": {"k": 1}}
    assert reader.text(section, "t", "t") == "x"
    assert reader.flag(section, "f", "f", True) is False
    assert reader.number(section, "n", "n", 0, whole=True) == 3
    assert reader.percent(section, "p", "p") == Decimal("12.5")
    assert reader.choice(section, "c", "c", Mode, "full") == "incremental"
    assert reader.text_list(section, "l", "l", scalars=True) == ["a", 1]
    assert reader.section(section, "m", "m", {"k"}, required=True) == {"k": 1}
    assert reader.percent(section, "absent", "absent", 5) == Decimal(5)
    assert reader.problems == []


@pytest.mark.parametrize(
    "allowed, known",
    [({"mode", "key"}, "key, mode"), (["mode", "key"], "mode, key")],
)
def test_unknown_keys_suggest_the_closest_and_list_the_known_ones(allowed, known):
    reader = Reader()
    reader.unknown_keys({"mode": 1, "keys": 2}, allowed, "load")
    assert reader.problems == [f"load.keys: unknown key (did you mean 'key'?); known keys: {known}"]


def test_a_model_error_is_told_where_its_field_lives_in_the_file():
    from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

    from core.config_files import validation_problems

    locations = {"source_field": "field", NON_FIELD_ERRORS: "column"}

    def locate(name, message):
        return config_path("mappings", 3, locations.get(name, name))

    errors = ValidationError(
        {"source_field": ["too long"], "steps": ["unknown step"], NON_FIELD_ERRORS: ["twice"]}
    )
    assert validation_problems(errors, locate) == [
        "mappings[3].field: too long",
        "mappings[3].steps: unknown step",
        "mappings[3].column: twice",
    ]
    assert validation_problems(ValidationError("whole"), locate) == ["mappings[3].column: whole"]

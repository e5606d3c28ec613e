"""The rule-kind registry: one declaration per kind feeds the choices, the checks, the YAML, the admin's help
and the README's table, so none of them can name a kind the others lack."""

import pytest

from quality.admin.forms import params_help
from quality.choices import KIND_DIMENSIONS, SCAN_KINDS, Dimension, RuleKind
from quality.kinds import KINDS, Evaluation, kinds_markdown
from quality.models import Rule
from quality.spec import PARAM_KEYS, PARAM_TYPES
from tests.readme import README

KIND_VALUES = list(KINDS)


def test_the_readme_holds_exactly_the_generated_table_of_kinds():
    text = README.read_text(encoding="utf-8")
    start = text.index("\n### Rule kinds\n\n") + len("\n### Rule kinds\n\n")
    end = text.index("\n\n", start)
    assert text[start:end] + "\n" == kinds_markdown()


def test_the_choices_stay_those_stored_rules_and_migrations_use():
    assert RuleKind.choices == [
        ("not_null", "Not null / completeness"),
        ("unique", "Unique"),
        ("pattern", "Pattern (regular expression)"),
        ("range", "Range (min/max)"),
        ("allowed_values", "Allowed values"),
        ("referential", "Referential integrity"),
        ("freshness", "Freshness"),
        ("volume", "Volume"),
        ("custom_sql", "Custom SQL"),
    ]
    assert RuleKind.NOT_NULL == "not_null" and RuleKind.CUSTOM_SQL.label == "Custom SQL"
    assert Rule._meta.get_field("kind").choices == RuleKind.choices


@pytest.mark.parametrize("value", KIND_VALUES)
def test_each_kind_declares_what_its_evaluation_needs(value):
    kind = KINDS[value]
    needs = {
        Evaluation.ROWS: kind.predicate,
        Evaluation.NEWEST: kind.aggregate,
        Evaluation.COUNT: True,
        Evaluation.SET: kind.statement,
    }
    assert needs[kind.evaluation] is not None
    assert (RuleKind(value) in SCAN_KINDS) == (kind.evaluation != Evaluation.SET)
    assert KIND_DIMENSIONS[RuleKind(value)] == Dimension(kind.dimension)


@pytest.mark.parametrize("value", KIND_VALUES)
def test_each_kinds_parameters_reach_the_yaml_and_the_admin_help(value):
    kind = KINDS[value]
    assert PARAM_KEYS[value] == [p.name for p in kind.params]
    assert all(PARAM_TYPES[p.name] == p.type for p in kind.params)
    helped = params_help(value)
    assert helped.index(kind.label) < min(helped.index(k.label) for k in KINDS.values() if k is not kind)
    assert kind.help.split("(")[0].replace("'", "&#x27;") in helped


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params, problem",
    [
        ({"min": "abc"}, ("min", "min: 'abc' is not a valid integer value (the column score is integer).")),
        ({"min": 10, "max": 1}, ("max", "max (1) is below min (10): every row would fail.")),
        ({"min": 1, "max": 10}, None),
        ({"max": "2.5"}, ("max", "max: '2.5' is not a valid integer value (the column score is integer).")),
    ],
)
def test_range_bounds_are_values_of_the_columns_type_and_in_order(dq, params, problem):
    """A bound the column's type cannot hold was saved and failed only when the check ran; min above max made
    every row fail. Both are said on the rule, at the parameter."""
    from quality.kinds import rule_definition_problems

    rule = Rule(entity=dq.customer, name="score bounds", kind="range", columns=["score"], params=params)
    assert rule_definition_problems(rule).get("params") == problem

"""catalog.patterns: regular expressions judged by the PostgreSQL that runs them (issue 16 #16)."""

import pytest

from catalog.patterns import _offline_problem, pattern_problem

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        (r"\mn[0-9]+\M", None),
        (r"^\y[A-Z]{2}\y$", None),
        (r"\Y?", "quantifier operand invalid"),
        ("(?P<user>[^@]+)@", "invalid embedded option"),
        ("([a-z", "brackets [] not balanced"),
        ("a{3,1}", "invalid repetition count(s)"),
    ],
)
def test_postgresql_judges_a_pattern(pattern, problem):
    assert pattern_problem(pattern) == problem


@pytest.mark.parametrize(
    ("pattern", "accepted"),
    [(r"\mn[0-9]+\M", True), ("(?P<user>[^@]+)@", False), ("(?<user>x)", False), ("([a-z", False)],
)
def test_without_postgresql_the_offline_check_reads_patterns_as_postgresql_does(pattern, accepted):
    assert (_offline_problem(pattern) is None) == accepted

"""Quality as code: YAML out and back unchanged, rules created/updated/deleted with history, implied-rule
tuning, schedules and alerting, custom SQL permission, and every error reported with its location."""

import copy
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from catalog.choices import DataType
from catalog.models import DataStore, Entity
from catalog.services import catalog_object_save
from quality.as_code import (
    QualityApplied,
    QualityConfigError,
    quality_apply_config,
    quality_export,
    quality_yaml_dump,
    quality_yaml_load,
)
from quality.choices import ResultStatus, RuleOrigin
from quality.models import QualityAlerting, QualitySchedule, Rule
from quality.runner import check_run_execute
from quality.services import check_run_request
from tests.conftest import add_column
from tests.readme import readme_yaml

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
# The README's "Data quality" section; its ```yaml block must apply to the `dq` fixture's store.

CUSTOMER_IMPLIED = [
    "country_references_country",
    "customer_id_not_null",
    "email_not_null",
    "email_pattern",
    "email_unique",
    "primary_key_unique",
    "score_range",
    "tier_allowed_values",
]


def dq_catalog_make(steward) -> DataStore:
    """The `dq` fixture's catalog without its database (and so much faster): enough to apply files to."""
    store = catalog_object_save(
        obj=DataStore(name="dq", engine="postgresql", schema_name="app"), user=steward
    )
    country = catalog_object_save(obj=Entity(datastore=store, name="country"), user=steward)
    code = add_column(
        country, "code", DataType.CHAR, steward, length=2, primary_key_position=1, nullable=False
    )
    add_column(country, "name", DataType.VARCHAR, steward, length=100)
    customer = catalog_object_save(obj=Entity(datastore=store, name="customer"), user=steward)
    add_column(customer, "customer_id", DataType.INTEGER, steward, primary_key_position=1, nullable=False)
    email = {"nullable": False, "is_unique": True, "pattern": "^[^@]+@[^@]+$"}
    add_column(customer, "email", DataType.VARCHAR, steward, length=200, **email)
    add_column(customer, "country", DataType.CHAR, steward, length=2, references=code)
    add_column(customer, "score", DataType.INTEGER, steward, min_value="0", max_value="100")
    add_column(customer, "tier", DataType.VARCHAR, steward, length=20, allowed_values=["gold", "silver"])
    add_column(customer, "updated_at", DataType.TIMESTAMPTZ, steward)
    store.country, store.customer = country, customer
    return store


@pytest.fixture
def dq_catalog(db, steward):
    return dq_catalog_make(steward)


def dq_config() -> dict:
    """A config for the `dq` fixture's store touching every section; no custom SQL (see custom_sql_rule)."""
    return {
        "datastore": "dq",
        "alerting": {"emails": ["dq@example.com"], "webhook": "https://hooks.example.com/dq"},
        "schedules": [{"entity": "customer", "cron": "0 * * * *"}, {"cron": "30 3 * * *", "enabled": False}],
        "entities": {
            "country": {"rules": [{"name": "name_present", "kind": "not_null", "columns": ["name"]}]},
            "customer": {
                "rules": [
                    {
                        "name": "email_format",
                        "kind": "pattern",
                        "columns": ["email"],
                        "pattern": r"^[^@]+@[^@]+\.[a-z]+$",
                        "severity": "error",
                        "threshold_percent": 0.5,
                        "description": "An address with a domain.\nChecked nightly.",
                    },
                    {
                        "name": "fresh",
                        "kind": "freshness",
                        "columns": ["updated_at"],
                        "max_age_hours": 24,
                        "severity": "warn",
                    },
                    {
                        "name": "known_tier",
                        "kind": "allowed_values",
                        "columns": ["tier"],
                        "values": ["gold", "silver"],
                        "enabled": False,
                    },
                    {"name": "enough_rows", "kind": "volume", "min_rows": 50, "max_change_percent": 20},
                    {
                        "name": "country_known",
                        "kind": "referential",
                        "columns": ["country"],
                        "ref_entity": "country",
                        "ref_columns": ["code"],
                        "dimension": "accuracy",
                    },
                    {"name": "score_bounds", "kind": "range", "columns": ["score"], "min": 0, "max": 200},
                ],
                "implied": {
                    "email_not_null": {"severity": "warn", "threshold_percent": 5},
                    "tier_allowed_values": {"enabled": False},
                },
            },
        },
    }


def custom_sql_rule(**overrides) -> dict:
    return {
        "name": "big_scores",
        "kind": "custom_sql",
        "sql": "SELECT * FROM app.customer WHERE score > 100",
        "severity": "warn",
        **overrides,
    }


def history_rows() -> int:
    return Rule.history.count() + QualitySchedule.history.count() + QualityAlerting.history.count()


def manual_rules() -> dict[str, Rule]:
    return {r.name: r for r in Rule.objects.filter(origin=RuleOrigin.MANUAL)}


def problems_of(config: dict, user) -> list[str]:
    with pytest.raises(QualityConfigError) as caught:
        quality_apply_config(config, user=user)
    return caught.value.problems


def allowed_custom_sql(user):
    user.user_permissions.add(Permission.objects.get(codename="write_custom_sql"))
    return get_user_model().objects.get(pk=user.pk)  # a fresh object: permissions are cached per object


def docs_example() -> dict:
    return quality_yaml_load(readme_yaml("Data quality"))


# Round trip ----------------------------------------------------------------------------------------------


def test_export_then_apply_changes_nothing_and_writes_no_history(dq_catalog, superuser):
    config = dq_config()
    config["entities"]["customer"]["rules"].append(custom_sql_rule(sql="SELECT *\nFROM app.customer\n"))
    quality_apply_config(config, user=superuser)
    text = quality_yaml_dump(dq_catalog)
    rows = history_rows()

    assert quality_apply_config(quality_yaml_load(text), user=superuser) == QualityApplied(0, 0, 0, [])
    assert history_rows() == rows
    assert quality_yaml_dump(dq_catalog) == text
    assert text.startswith("# Custodian quality rules of data store 'dq'. Apply with: python manage.py")
    assert "\n  - {entity: customer, cron: 0 * * * *}\n" in text
    assert "\n      email_not_null: {severity: warn, threshold_percent: 5}\n" in text
    assert "    sql: |\n          SELECT *\n          FROM app.customer\n" in text


def test_export_is_stable_sorted_and_leaves_defaults_out(dq_catalog, superuser):
    quality_apply_config(dq_config(), user=superuser)
    exported = quality_export(dq_catalog)
    assert list(exported) == ["datastore", "alerting", "schedules", "entities"]
    assert exported["alerting"] == {
        "emails": ["dq@example.com"],
        "webhook": "https://hooks.example.com/dq",
        "score_drop_points": 10,
    }
    assert exported["schedules"] == [
        {"cron": "30 3 * * *", "enabled": False},
        {"entity": "customer", "cron": "0 * * * *"},
    ]
    assert list(exported["entities"]) == ["country", "customer"]
    customer = exported["entities"]["customer"]
    assert [r["name"] for r in customer["rules"]] == sorted(r["name"] for r in customer["rules"])
    assert {r["name"]: r for r in customer["rules"]}["score_bounds"] == {
        "name": "score_bounds",
        "kind": "range",
        "columns": ["score"],
        "min": 0,
        "max": 200,
        "severity": "error",
    }
    # Implied rules appear only with tuning that differs from the defaults, and only that tuning.
    assert customer["implied"] == {
        "email_not_null": {"severity": "warn", "threshold_percent": 5},
        "tier_allowed_values": {"enabled": False},
    }
    assert exported["entities"]["country"] == {
        "rules": [{"name": "name_present", "kind": "not_null", "columns": ["name"], "severity": "error"}],
        "implied": {},
    }


def test_exporting_a_store_whose_implied_rules_were_never_synced_writes_nothing(dq_catalog):
    rows = history_rows()
    exported = quality_export(dq_catalog)
    assert exported["entities"]["customer"] == {"rules": [], "implied": {}}
    assert exported["alerting"] is None and exported["schedules"] == []
    assert history_rows() == rows and not Rule.objects.exists()
    assert "\n  country: {rules: [], implied: {}}\n" in quality_yaml_dump(dq_catalog)


# Creating, updating, deleting -----------------------------------------------------------------------------


def test_rules_schedules_and_alerting_are_created_with_history_under_the_user(dq_catalog, steward):
    applied = quality_apply_config(dq_config(), user=steward)
    assert (applied.created, applied.updated, applied.deleted) == (7 + 2 + 1, 2, 0)
    assert (
        "entities.customer.rules.email_format: created (pattern on email, severity error)" in applied.changes
    )
    assert 'schedules: added every entity at "30 3 * * *" (disabled)' in applied.changes
    assert 'entities.customer.implied.email_not_null.severity: "error" → "warn"' in applied.changes
    assert applied.changes[0] == (
        "entities.country.implied: first brought in step with the catalog (2 created, 0 updated, 0 deleted)"
    )
    rules = manual_rules()
    assert set(rules) == {
        "name_present",
        "email_format",
        "fresh",
        "known_tier",
        "enough_rows",
        "country_known",
        "score_bounds",
    }
    email = rules["email_format"]
    assert email.params == {"pattern": r"^[^@]+@[^@]+\.[a-z]+$"} and email.threshold_percent == Decimal("0.5")
    assert email.dimension == "validity" and rules["country_known"].dimension == "accuracy"
    assert rules["known_tier"].enabled is False and rules["fresh"].severity == "warn"
    assert rules["enough_rows"].params == {"min_rows": 50, "max_change_percent": 20}
    assert {h.history_user for h in Rule.history.filter(origin=RuleOrigin.MANUAL)} == {steward}
    implied = Rule.objects.get(entity=dq_catalog.customer, name="email_not_null")
    assert (implied.severity, implied.threshold_percent) == ("warn", Decimal(5))
    assert implied.history.first().history_user == steward
    alerting = QualityAlerting.objects.get(datastore=dq_catalog)
    assert alerting.email_list == ["dq@example.com"] and alerting.history.get().history_user == steward
    schedules = QualitySchedule.objects.filter(datastore=dq_catalog)
    assert {(s.entity_id, s.cron, s.enabled) for s in schedules} == {
        (dq_catalog.customer.pk, "0 * * * *", True),
        (None, "30 3 * * *", False),
    }


def test_a_second_file_updates_and_deletes_and_says_so(dq_catalog, steward):
    quality_apply_config(dq_config(), user=steward)
    config = dq_config()
    rules = config["entities"]["customer"]["rules"]
    rules[0].update(severity="warn", threshold_percent=2, pattern="@")
    del rules[1]  # fresh
    config["schedules"][1]["enabled"] = True
    config["alerting"]["score_drop_points"] = 5
    applied = quality_apply_config(config, user=steward)
    assert applied.changes == [
        "entities.customer.rules.fresh: deleted (not in the file)",
        'entities.customer.rules.email_format.pattern: "^[^@]+@[^@]+\\\\.[a-z]+$" → "@"',
        'entities.customer.rules.email_format.severity: "error" → "warn"',
        "entities.customer.rules.email_format.threshold_percent: 0.5 → 2",
        'schedules: every entity at "30 3 * * *" enabled',
        "alerting.score_drop_points: 10 → 5",
    ]
    assert (applied.created, applied.updated, applied.deleted) == (0, 3, 1)
    assert "fresh" not in manual_rules()
    deleted = Rule.history.get(name="fresh", history_type="-")
    assert deleted.history_user == steward
    changed = Rule.history.filter(name="email_format").order_by("-history_id").first()
    assert (changed.history_type, changed.history_user, changed.severity) == ("~", steward, "warn")


def test_applying_the_same_file_twice_writes_no_history(dq_catalog, steward):
    quality_apply_config(dq_config(), user=steward)
    rows = history_rows()
    assert quality_apply_config(dq_config(), user=steward) == QualityApplied(0, 0, 0, [])
    assert history_rows() == rows


def test_an_unchanged_file_costs_the_same_queries_however_many_rules_it_holds(
    dq_catalog, steward, django_assert_max_num_queries
):
    config = dq_config()
    quality_apply_config(config, user=steward)
    with django_assert_max_num_queries(20):
        quality_apply_config(config, user=steward)
    config["entities"]["customer"]["rules"] += [
        {"name": f"tier_{i}", "kind": "not_null", "columns": ["tier"]} for i in range(20)
    ]
    quality_apply_config(config, user=steward)
    with django_assert_max_num_queries(20):
        quality_apply_config(config, user=steward)
    with django_assert_max_num_queries(15):
        quality_export(dq_catalog)


def test_what_the_file_leaves_out_is_left_as_it_is(dq_catalog, steward):
    quality_apply_config(dq_config(), user=steward)
    applied = quality_apply_config(
        {"datastore": "dq", "entities": {"customer": {"implied": {}}}}, user=steward
    )
    # Only the implied tuning went back to the defaults; rules, the other entity, schedules, alerting stay.
    assert sorted(applied.changes) == [
        'entities.customer.implied.email_not_null.severity: "warn" → "error"',
        "entities.customer.implied.email_not_null.threshold_percent: 5 → 0",
        "entities.customer.implied.tier_allowed_values.enabled: false → true",
    ]
    assert len(manual_rules()) == 7
    assert QualitySchedule.objects.count() == 2 and QualityAlerting.objects.exists()

    applied = quality_apply_config(
        {"datastore": "dq", "schedules": [], "alerting": None, "entities": {"country": {"rules": []}}},
        user=steward,
    )
    assert applied.changes == [
        "entities.country.rules.name_present: deleted (not in the file)",
        'schedules: removed every entity at "30 3 * * *"',
        'schedules: removed customer at "0 * * * *"',
        "alerting: removed",
    ]
    assert applied.deleted == 4 and not QualitySchedule.objects.exists()
    assert not QualityAlerting.objects.exists() and len(manual_rules()) == 6
    assert QualityAlerting.history.get(history_type="-").history_user == steward


def test_dry_run_reports_the_changes_and_saves_nothing(dq_catalog, steward):
    rows = history_rows()
    applied = quality_apply_config(dq_config(), user=steward, dry_run=True)
    assert applied.created == 10 and "alerting: created" in applied.changes[-1]
    assert history_rows() == rows and not Rule.objects.exists()
    assert not QualitySchedule.objects.exists() and not QualityAlerting.objects.exists()


def test_emails_may_be_one_comma_separated_text(dq_catalog, steward):
    config = {
        "datastore": "dq",
        "alerting": {"emails": "a@example.com, b@example.com", "score_drop_points": 2.5},
    }
    quality_apply_config(config, user=steward)
    alerting = QualityAlerting.objects.get()
    assert alerting.email_list == ["a@example.com", "b@example.com"] and alerting.score_drop_points == 2.5
    assert quality_export(dq_catalog)["alerting"] == {
        "emails": ["a@example.com", "b@example.com"],
        "score_drop_points": 2.5,
    }


# Implied rules --------------------------------------------------------------------------------------------


def test_implied_rules_are_synced_first_then_tuned(dq_catalog, steward):
    config = {"datastore": "dq", "entities": {"customer": {"implied": {"score_range": {"severity": "warn"}}}}}
    applied = quality_apply_config(config, user=steward)
    assert applied.changes == [
        "entities.customer.implied: first brought in step with the catalog (8 created, 0 updated, 0 deleted)",
        'entities.customer.implied.score_range.severity: "error" → "warn"',
    ]
    assert (
        sorted(Rule.objects.filter(entity=dq_catalog.customer).values_list("name", flat=True))
        == CUSTOMER_IMPLIED
    )
    tuned = Rule.objects.get(entity=dq_catalog.customer, name="score_range")
    assert tuned.severity == "warn" and tuned.params == {"min": "0", "max": "100"}  # the definition stays


def test_a_catalog_change_reaches_the_implied_rules_and_keeps_their_tuning(dq_catalog, steward):
    quality_apply_config(dq_config(), user=steward)
    column = dq_catalog.customer.columns.get(name="email")
    column.pattern = "@"
    catalog_object_save(obj=column, user=steward)
    applied = quality_apply_config(dq_config(), user=steward)
    assert applied.changes == [
        "entities.customer.implied: first brought in step with the catalog (0 created, 1 updated, 0 deleted)"
    ]
    assert Rule.objects.get(name="email_pattern").params == {"pattern": "@"}
    assert Rule.objects.get(name="email_not_null").severity == "warn"


# Custom SQL -----------------------------------------------------------------------------------------------


def with_custom_sql(**overrides) -> dict:
    config = dq_config()
    config["entities"]["customer"]["rules"].append(custom_sql_rule(**overrides))
    return config


def test_custom_sql_rules_need_their_own_permission(dq_catalog, steward):
    assert problems_of(with_custom_sql(), steward) == [
        "entities.customer.rules[6]: custom SQL rule 'big_scores' needs the permission "
        "quality.write_custom_sql, which user 'steward' does not have"
    ]
    assert problems_of(with_custom_sql(), None) == [
        "entities.customer.rules[6]: custom SQL rule 'big_scores' can only be written by a user with the "
        "permission quality.write_custom_sql; no user was given"
    ]
    assert not Rule.objects.exists()

    quality_apply_config(with_custom_sql(), user=allowed_custom_sql(steward))
    assert manual_rules()["big_scores"].history.get().history_user == steward


def test_without_the_permission_a_custom_rule_can_be_tuned_or_deleted_but_not_rewritten(
    dq, steward, superuser
):
    quality_apply_config(with_custom_sql(), user=superuser)
    applied = quality_apply_config(with_custom_sql(severity="error", description="Too high"), user=steward)
    assert 'entities.customer.rules.big_scores.severity: "warn" → "error"' in applied.changes
    assert problems_of(with_custom_sql(sql="SELECT * FROM app.customer"), steward) == [
        "entities.customer.rules[6]: custom SQL rule 'big_scores' needs the permission "
        "quality.write_custom_sql, which user 'steward' does not have"
    ]
    applied = quality_apply_config(dq_config(), user=steward)
    assert applied.changes == ["entities.customer.rules.big_scores: deleted (not in the file)"]


def test_custom_sql_that_writes_is_refused_where_it_is_written(dq_catalog, superuser):
    sql = "WITH d AS (DELETE FROM app.customer RETURNING *) SELECT * FROM d"
    assert problems_of(with_custom_sql(sql=sql), superuser) == [
        "entities.customer.rules[6].sql: Custom SQL must only read (no INSERT, UPDATE, DELETE, MERGE or DDL, "
        "not even inside WITH)."
    ]


# Every problem, with where it is --------------------------------------------------------------------------


def _customer_rule(config: dict, index: int) -> dict:
    return config["entities"]["customer"]["rules"][index]


def _set(path: str, value):
    """A mutation setting config[path] (dotted; [n] indexes a list)."""

    def mutate(config):
        *parents, last = re.findall(r"[^.\[\]]+", path)
        target = config
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if last.isdigit() and int(last) == len(target):
            target.append(value)
        elif last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value

    return mutate


def _rename_entity(config):
    config["entities"]["custmer"] = config["entities"].pop("customer")


def _duplicate_rule(config):
    config["entities"]["customer"]["rules"].append(
        {"name": "email_format", "kind": "not_null", "columns": ["tier"]}
    )


def _implied_name(config):
    config["entities"]["customer"]["rules"].append(
        {"name": "email_not_null", "kind": "not_null", "columns": ["email"]}
    )


R0 = "entities.customer.rules[0]"
KINDS = "not_null, unique, pattern, range, allowed_values, referential, freshness, volume, custom_sql"


PROBLEMS = [
    (_set("datastore", "dqq"), "datastore: no data store 'dqq' (did you mean 'dq'?) (known: dq)"),
    (_set("datastore", 12), "datastore: must be text, not a number (12)"),
    (
        _set("entitys", {}),
        "entitys: unknown key (did you mean 'entities'?); known keys: datastore, alerting, schedules, "
        "entities",
    ),
    (
        _rename_entity,
        "entities.custmer: no entity 'custmer' in data store 'dq' (did you mean 'customer'?)",
    ),
    (
        _set("entities.customer.rule", []),
        "entities.customer.rule: unknown key (did you mean 'rules'?); known keys: rules, implied",
    ),
    (
        _set("entities.customer.rules", {"name": "x"}),
        "entities.customer.rules: must be a list of rules (- name: ..., kind: ...), not a mapping",
    ),
    (
        _set("entities.customer.rules.0.pattern", "(a-z"),
        f"{R0}.pattern: PostgreSQL rejects the pattern: parentheses () not balanced.",
    ),
    (_set("entities.customer.rules.0.pattern", 123), f"{R0}.pattern: must be text, not a number (123)"),
    (
        _set("entities.customer.rules.0.kind", "patern"),
        f"{R0}.kind: 'patern' is not one of {KINDS} (did you mean 'pattern'?)",
    ),
    (_set("entities.customer.rules.0.kind", None), f"{R0}.kind: missing; one of {KINDS}"),
    (_set("entities.customer.rules.0.name", None), f"{R0}.name: missing"),
    (
        _set("entities.customer.rules.0.values", ["a"]),
        f"{R0}.values: a pattern rule does not take values (it takes pattern)",
    ),
    (
        _set("entities.customer.rules.1.severty", "warn"),
        "entities.customer.rules[1].severty: unknown key (did you mean 'severity'?); known keys: name, kind, "
        "columns, severity, threshold_percent, dimension, enabled, description, max_age_hours",
    ),
    (
        _set("entities.customer.rules.0.columns", ["emial"]),
        f"{R0}.columns: customer has no column emial.",
    ),
    (
        _set("entities.customer.rules.0.columns", "email"),
        f"{R0}.columns: must be a list of text, not text ('email')",
    ),
    (
        _set("entities.customer.rules.1.columns", ["tier"]),
        "entities.customer.rules[1].columns: Freshness needs a date or timestamp column.",
    ),
    (
        _set("entities.customer.rules.0.severity", "fatal"),
        f"{R0}.severity: 'fatal' is not one of warn, error",
    ),
    (
        _set("entities.customer.rules.0.dimension", "timeliness!"),
        f"{R0}.dimension: 'timeliness!' is not one of completeness, validity, uniqueness, consistency, "
        "timeliness, accuracy (did you mean 'timeliness'?)",
    ),
    (
        _set("entities.customer.rules.0.threshold_percent", 150),
        f"{R0}.threshold_percent: Ensure this value is less than or equal to 100.",
    ),
    (
        _set("entities.customer.rules.0.threshold_percent", "high"),
        f"{R0}.threshold_percent: must be a number, not text ('high')",
    ),
    (
        _set("entities.customer.rules.0.threshold_percent", 0.12345),
        f"{R0}.threshold_percent: Ensure that there are no more than 3 decimal places.",
    ),
    (
        _set("entities.customer.rules.0.enabled", "yes"),
        f"{R0}.enabled: must be true or false, not text ('yes')",
    ),
    (
        _set("entities.customer.rules.2.values", [True, False]),
        "entities.customer.rules[2].values: must be a list of text or numbers; it holds a boolean (true) "
        "(quote words such as NULL, yes, no, on and off: YAML reads them as null or booleans)",
    ),
    (
        _set("entities.customer.rules.2.values", []),
        "entities.customer.rules[2].values: An allowed-values rule needs values: a non-empty list.",
    ),
    (
        _set("entities.customer.rules.3.min_rows", -1),
        "entities.customer.rules[3].min_rows: must be 0 or more, not -1",
    ),
    (
        _set("entities.customer.rules.3.min_rows", 1.5),
        "entities.customer.rules[3].min_rows: must be a whole number, not a number (1.5)",
    ),
    (
        _set("entities.customer.rules.1.max_age_hours", 0),
        "entities.customer.rules[1].max_age_hours: A freshness rule needs max_age_hours, a positive number.",
    ),
    (
        _set("entities.customer.rules.4.ref_entity", "contry"),
        "entities.customer.rules[4].ref_entity: No entity 'contry' in data store dq.",
    ),
    (
        _set("entities.customer.rules.4.ref_columns", ["kode"]),
        "entities.customer.rules[4].ref_columns: country has no column kode.",
    ),
    (
        _set("entities.customer.rules.5.min", None),
        None,  # max alone is a valid range: no problem
    ),
    (
        _set("entities.customer.rules.5.max", {"a": 1}),
        "entities.customer.rules[5].max: must be a number, a date or text, not a mapping",
    ),
    (
        _duplicate_rule,
        "entities.customer.rules[6].name: 'email_format' appears twice (also entities.customer.rules[0])",
    ),
    (
        _implied_name,
        "entities.customer.rules[6].name: 'email_not_null' is the name of a rule the catalog implies; give "
        "this rule another name (tune the implied one under entities.customer.implied)",
    ),
    (
        _set("entities.customer.rules.6", "not_null"),
        "entities.customer.rules[6]: must be a mapping (name: ..., kind: ...), not text ('not_null')",
    ),
    (
        _set("entities.customer.implied.email_not_nul", {"severity": "warn"}),
        "entities.customer.implied.email_not_nul: no rule the catalog implies is named 'email_not_nul' (did "
        f"you mean 'email_not_null'?) (implied rules of customer: {', '.join(CUSTOMER_IMPLIED)})",
    ),
    (
        _set("entities.customer.implied.email_pattern", {"pattern": "@"}),
        "entities.customer.implied.email_pattern.pattern: the catalog defines the rules it implies; only "
        "severity, threshold_percent and enabled can be tuned here (change the catalog, or write a rule of "
        "your own)",
    ),
    (
        _set("entities.customer.implied.email_pattern", {"severity": "low"}),
        "entities.customer.implied.email_pattern.severity: 'low' is not one of warn, error",
    ),
    (
        _set("schedules.0.cron", "every hour"),
        "schedules[0].cron: Not a cron expression (minute hour day month weekday).",
    ),
    (_set("schedules.0.cron", None), "schedules[0].cron: missing"),
    (
        _set("schedules.0.cron", "* * * * *"),
        "schedules[0].cron: This schedule fires as often as every 1 min; quality checks may run at most "
        "every 15 min (e.g. '*/15 * * * *').",
    ),
    (
        _set("schedules.0.cron", "0,5 * * * *"),
        "schedules[0].cron: This schedule fires as often as every 5 min; quality checks may run at most "
        "every 15 min (e.g. '*/15 * * * *').",
    ),
    (
        _set("entities.customer.rules.0.pattern", "(?P<n>[^@]+)@"),
        "entities.customer.rules[0].pattern: PostgreSQL rejects the pattern: invalid embedded option.",
    ),
    (
        _set("schedules.0.entity", "custmer"),
        "schedules[0].entity: no entity 'custmer' in data store 'dq' (did you mean 'customer'?)",
    ),
    (
        _set("schedules.1", {"cron": "0  *  * * *", "entity": "customer"}),
        "schedules[1]: the same schedule as schedules[0]",
    ),
    (
        _set("schedules", {"cron": "0 * * * *"}),
        "schedules: must be a list of schedules ({cron: ...}), not a mapping",
    ),
    (
        _set("alerting.emails", ["dq@example.com", "not-an-address"]),
        "alerting.emails: 'not-an-address' is not an e-mail address.",
    ),
    (_set("alerting.webhook", "ftp:/hooks"), "alerting.webhook: Enter a valid URL."),
    (
        _set("alerting.score_drop_points", 101),
        "alerting.score_drop_points: Ensure this value is less than or equal to 100.",
    ),
    (
        _set("alerting.email", []),
        "alerting.email: unknown key (did you mean 'emails'?); known keys: emails, webhook, "
        "score_drop_points",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "problem"), PROBLEMS, ids=[(problem or "valid").split(":")[0] for _, problem in PROBLEMS]
)
def test_each_problem_is_reported_with_its_location(dq_catalog, steward, mutate, problem):
    config = dq_config()
    mutate(config)
    if problem is None:
        quality_apply_config(config, user=steward)
        return
    assert problem in problems_of(config, steward)
    assert not Rule.objects.exists() and not QualitySchedule.objects.exists()  # not even the implied sync


def test_every_problem_is_reported_at_once_and_nothing_changes(dq_catalog, steward):
    quality_apply_config(dq_config(), user=steward)
    rows = history_rows()
    config = dq_config()
    _rename_entity(config)
    config["entities"]["country"]["rules"][0]["columns"] = ["nam"]
    config["entities"]["country"]["rules"].append(
        {"name": "x", "kind": "range", "columns": ["name"], "pattern": "a"}
    )
    config["schedules"][0]["cron"] = "hourly"
    config["alerting"]["emails"] = ["nobody"]
    assert problems_of(config, steward) == [
        "entities.country.rules[1].pattern: a range rule does not take pattern (it takes min, max)",
        "entities.custmer: no entity 'custmer' in data store 'dq' (did you mean 'customer'?)",
        "entities.country.rules[0].columns: country has no column nam.",
        "schedules[0].cron: Not a cron expression (minute hour day month weekday).",
        "alerting.emails: 'nobody' is not an e-mail address.",
    ]
    assert history_rows() == rows and len(manual_rules()) == 7


def test_a_file_that_is_not_a_mapping_or_not_yaml_says_where(db):
    with pytest.raises(QualityConfigError, match=r"line 3, column 1: not valid YAML: expected ',' or ']'"):
        quality_yaml_load("datastore: dq\nentities: [a\n")
    with pytest.raises(QualityConfigError, match="file: it is empty"):
        quality_yaml_load("# nothing\n")
    with pytest.raises(QualityConfigError, match=r"file: it holds a list; a quality file is a mapping"):
        quality_yaml_load("- datastore: dq\n")
    assert problems_of({"entities": {}}, None) == ["datastore: missing"]


def test_a_copy_of_the_config_is_not_changed_by_applying_it(dq_catalog, steward):
    config = dq_config()
    original = copy.deepcopy(config)
    quality_apply_config(config, user=steward)
    assert config == original


# The README's example -------------------------------------------------------------------------------------


def test_the_documented_example_applies_round_trips_and_runs(dq, superuser):
    example = docs_example()
    applied = quality_apply_config(example, user=superuser)
    assert applied.created == 10 + 3 + 1  # rules, schedules, alerting
    assert quality_export(dq) == example  # the example is written exactly as the export writes it
    assert quality_apply_config(quality_yaml_load(quality_yaml_dump(dq)), user=superuser).changes == []
    run = check_run_execute(check_run_request(datastore=dq, enqueue=False).pk)
    results = {r.rule_name: r for r in run.results.all()}
    assert not [r.error for r in results.values() if r.status == ResultStatus.ERROR]
    assert results["big_scores"].failing_rows == 5 and results["big_scores"].status == ResultStatus.WARNED
    assert "score_at_most_half" not in results and "tier_allowed_values" not in results  # disabled
    assert results["country_known"].status == ResultStatus.PASSED  # 7% orphans, 10% tolerated


def test_entities_are_matched_within_the_named_store_only(dq_catalog, steward, datastore, customer):
    # `shop` (the conftest's other store) also has a customer entity; the file names dq.
    quality_apply_config(dq_config(), user=steward)
    assert not Rule.objects.filter(entity__datastore=datastore, origin=RuleOrigin.MANUAL).exists()
    assert Entity.objects.filter(name="customer").count() == 2

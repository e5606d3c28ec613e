"""Every rule kind against real PostgreSQL data with known counts of good and bad rows."""

import pytest
from django.core.exceptions import ValidationError

from catalog.services import catalog_object_save
from quality.choices import ResultStatus
from quality.models import Rule, RuleResult
from quality.runner import check_run_execute
from quality.services import check_run_request
from tests.quality.conftest import BAD, ROWS, run_sql, store_url

pytestmark = pytest.mark.django_db


def check(store, entity=None, user=None):
    run = check_run_request(datastore=store, entity=entity, user=user, enqueue=False)
    return check_run_execute(run.pk)


def results(run) -> dict[str, RuleResult]:
    return {r.rule_name: r for r in run.results.all()}


def test_rules_implied_by_the_catalog_find_the_known_bad_rows(dq, steward):
    run = check(dq, dq.customer, steward)
    found = results(run)
    assert set(found) == {
        "primary_key_unique",
        "customer_id_not_null",
        "email_not_null",
        "email_unique",
        "email_pattern",
        "country_references_country",
        "score_range",
        "tier_allowed_values",
    }
    expected = {
        "primary_key_unique": 0,
        "customer_id_not_null": 0,
        "email_not_null": BAD["null_email"],
        "email_unique": BAD["duplicate_rows"],
        "email_pattern": BAD["bad_pattern"],
        "country_references_country": BAD["orphans"],
        "score_range": BAD["out_of_range"],
        "tier_allowed_values": BAD["bad_tier"],
    }
    assert {name: r.failing_rows for name, r in found.items()} == expected
    assert all(r.total_rows == ROWS for r in found.values())
    assert found["email_pattern"].status == ResultStatus.FAILED
    assert found["primary_key_unique"].status == ResultStatus.PASSED
    assert found["email_unique"].measured == "2 duplicated keys over 4 rows"
    assert found["score_range"].failing_percent == pytest.approx(5.0)
    # The column rules shared one scan; its SQL is kept on each result.
    assert (
        found["email_not_null"].sql == found["score_range"].sql
        and "FILTER (WHERE" in found["score_range"].sql
    )
    assert run.rules_failed == 6 and run.rules_passed == 2


def test_samples_hold_at_most_ten_failing_rows_with_personal_data_masked(dq, steward):
    found = results(check(dq, dq.customer, steward))
    tier = found["tier_allowed_values"].samples
    assert len(tier) == BAD["bad_tier"] and {row["tier"] for row in tier} == {"platinum"}
    assert {row["customer_id"] for row in tier} == set(range(15, 21))
    pattern = found["email_pattern"].samples
    assert all(row["email"] == "[redacted]" for row in pattern) and len(pattern) == 2
    orphans = found["country_references_country"].samples
    assert {row["country"] for row in orphans} == {"XX"} and len(orphans) == 7
    duplicates = found["email_unique"].samples
    assert sorted(row["rows"] for row in duplicates) == [2, 2]


@pytest.mark.parametrize(
    ("kind", "columns", "params", "threshold", "failing", "status"),
    [
        ("not_null", ["country"], {}, 0, BAD["null_country"], ResultStatus.FAILED),
        ("not_null", ["country"], {}, 10, BAD["null_country"], ResultStatus.PASSED),  # completeness 92% ≥ 90%
        ("unique", ["country", "tier"], {}, 0, 92, ResultStatus.FAILED),  # 79 + 6 + 7 rows share 3 keys
        ("pattern", ["tier"], {"pattern": "^(gold|silver)$"}, 0, BAD["bad_tier"], ResultStatus.FAILED),
        ("range", ["score"], {"min": "10"}, 0, 10, ResultStatus.FAILED),  # rows 1-9 and 100
        ("allowed_values", ["country"], {"values": ["DE", "FR"]}, 0, BAD["orphans"], ResultStatus.FAILED),
        (
            "referential",
            ["country"],
            {"ref_entity": "country", "ref_columns": ["code"]},
            0,
            7,
            ResultStatus.FAILED,
        ),
        (
            "custom_sql",
            [],
            {"sql": "SELECT * FROM app.customer WHERE score > 100"},
            0,
            5,
            ResultStatus.FAILED,
        ),
    ],
)
def test_each_rule_kind_counts_failing_rows(dq, steward, kind, columns, params, threshold, failing, status):
    rule = catalog_object_save(
        obj=Rule(
            entity=dq.customer,
            name=f"my_{kind}",
            kind=kind,
            columns=columns,
            params=params,
            threshold_percent=threshold,
        ),
        user=steward,
    )
    result = results(check(dq, dq.customer, steward))[rule.name]
    assert (result.failing_rows, result.status) == (failing, status), result.error


def test_freshness_and_volume(dq, steward):
    fresh = catalog_object_save(
        obj=Rule(
            entity=dq.customer,
            name="fresh",
            kind="freshness",
            columns=["updated_at"],
            params={"max_age_hours": 2},
        ),
        user=steward,
    )
    stale = catalog_object_save(
        obj=Rule(
            entity=dq.customer,
            name="stale",
            kind="freshness",
            columns=["updated_at"],
            params={"max_age_hours": 0.5},
            severity="warn",
        ),
        user=steward,
    )
    volume = catalog_object_save(
        obj=Rule(
            entity=dq.customer,
            name="volume",
            kind="volume",
            params={"min_rows": 50, "max_change_percent": 20},
        ),
        user=steward,
    )
    first = results(check(dq, dq.customer, steward))
    assert first[fresh.name].status == ResultStatus.PASSED and "1.0 h old" in first[fresh.name].measured
    assert first[stale.name].status == ResultStatus.WARNED
    assert first[volume.name].status == ResultStatus.PASSED and first[volume.name].measured == "100 rows"
    run_sql(store_url(dq), "DELETE FROM app.customer WHERE customer_id > 70")
    second = results(check(dq, dq.customer, steward))
    assert second[volume.name].status == ResultStatus.FAILED
    assert "30.0% away from the mean of the last 1 checks" in second[volume.name].measured


def test_broken_rules_report_why_and_the_others_still_run(dq, steward):
    bad_regex = catalog_object_save(
        obj=Rule(
            entity=dq.customer,
            name="bad_regex",
            kind="pattern",
            columns=["email"],
            params={"pattern": "(?P<user>[^@]+)@"},
        ),
        user=steward,
    )
    # Writing functions never reach the store: the SQL gate refuses them when the rule is saved (what the
    # read-only transaction does with what a parser misses: tests/security/test_sql_gate.py).
    with pytest.raises(ValidationError, match="may not call nextval"):
        catalog_object_save(
            obj=Rule(
                entity=dq.customer,
                name="sneaky",
                kind="custom_sql",
                params={"sql": "SELECT nextval('app.ids')"},
            ),
            user=steward,
        )
    with pytest.raises(ValidationError, match="must only read"):
        catalog_object_save(
            obj=Rule(
                entity=dq.customer,
                name="deletes",
                kind="custom_sql",
                params={"sql": "WITH d AS (DELETE FROM app.customer RETURNING *) SELECT * FROM d"},
            ),
            user=steward,
        )
    slow = catalog_object_save(
        obj=Rule(
            entity=dq.customer,
            name="slow",
            kind="custom_sql",
            params={
                "sql": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000000) "
                "SELECT * FROM app.customer WHERE (SELECT count(*) FROM n) < 0",
                "timeout_seconds": 0.5,
            },
        ),
        user=steward,
    )
    gone = catalog_object_save(
        obj=Rule(entity=dq.customer, name="gone", kind="not_null", columns=["tier"]), user=steward
    )
    run_sql(store_url(dq), "ALTER TABLE app.customer DROP COLUMN tier")
    found = results(check(dq, dq.customer, steward))
    assert found[bad_regex.name].status == ResultStatus.ERROR
    assert "PostgreSQL rejects the regular expression" in found[bad_regex.name].error
    assert found[slow.name].status == ResultStatus.ERROR and "statement timeout" in found[slow.name].error
    assert found[gone.name].error.startswith("Column tier no longer exists in app.customer")
    assert found["email_not_null"].failing_rows == BAD["null_email"]  # unaffected
    assert found["score_range"].failing_rows == BAD["out_of_range"]


def test_an_unreachable_store_is_every_rules_result(dq, steward, monkeypatch):
    monkeypatch.setenv(dq.url_env, "postgresql://postgres@127.0.0.1:1/nowhere")
    run = check(dq, dq.customer, steward)
    assert run.status == "failed" and "Cannot reach data store 'dq'" in run.error
    assert {r.status for r in run.results.all()} == {ResultStatus.ERROR}


def test_an_implied_rule_steps_aside_when_stewards_took_its_names(dq, steward):
    for name in ("email_pattern", "email_pattern_catalog"):
        catalog_object_save(
            obj=Rule(entity=dq.customer, name=name, kind="not_null", columns=["email"]), user=steward
        )
    run = check(dq, dq.customer, steward)
    assert run.status == "succeeded"
    assert results(run)["email_pattern_catalog2"].failing_rows == BAD["bad_pattern"]


def test_a_rules_dimension_follows_its_kind_unless_it_was_chosen(dq, steward):
    from quality.choices import Dimension

    derived = catalog_object_save(
        obj=Rule(entity=dq.customer, name="score_set", kind="not_null", columns=["score"]), user=steward
    )
    chosen = catalog_object_save(
        obj=Rule(
            entity=dq.customer,
            name="score_chosen",
            kind="not_null",
            columns=["score"],
            dimension=Dimension.CONSISTENCY,
        ),
        user=steward,
    )
    assert (derived.dimension, chosen.dimension) == (Dimension.COMPLETENESS, Dimension.CONSISTENCY)
    for rule in (Rule.objects.get(pk=derived.pk), Rule.objects.get(pk=chosen.pk)):
        rule.kind, rule.params = "range", {"min": "0", "max": "100"}
        catalog_object_save(obj=rule, user=steward)
    assert Rule.objects.get(pk=derived.pk).dimension == Dimension.VALIDITY  # re-derived from the new kind
    assert Rule.objects.get(pk=chosen.pk).dimension == Dimension.CONSISTENCY  # kept: chosen on purpose

"""Custom SQL quality rules through the SQL gate: issue 15 finding 3 (quality part) and finding 4 (quality
examples). Each probe is what a steward with `write_custom_sql` sent in the security reviews: refused when the
rule is saved (admin form and YAML alike go through the model's checks), refused again at run time for a rule
stored before the gate, and never an example of a result.
"""

import uuid

import psycopg
import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from psycopg import sql

from catalog.services import catalog_object_save
from quality.as_code import QualityConfigError, quality_apply_config
from quality.choices import ResultStatus
from quality.models import Rule, RuleResult
from quality.runner import check_run_execute
from quality.services import check_run_request
from tests.catalog.schema.conftest import scratch_database, target_store  # noqa: F401
from tests.quality.conftest import dq as dq_fixture  # noqa: F401 - the `dq` store of tests/quality
from tests.quality.conftest import run_sql, store_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def dq(dq_fixture):  # noqa: F811 - the imported fixture, by name
    """The `dq` store of tests/quality: customer and country tables with known bad rows."""
    return dq_fixture


@pytest.fixture(autouse=True)
def steward_writes_sql(steward):
    """The probes come from a steward who holds the custom SQL permission: the gate is what stops them."""
    steward.user_permissions.add(Permission.objects.get(codename="write_custom_sql"))


PROBES = {
    "pg_read_file": ("SELECT pg_read_file('/etc/hostname') AS leak", "may not call pg_read_file()"),
    "lo_export": ("SELECT lo_export(1, '/tmp/custodian-probe') AS written", "may not call lo_export()"),
    "lo_import": ("SELECT lo_import('/etc/hostname') AS oid", "may not call lo_import()"),
    "pg_terminate_backend": (
        "SELECT pg_terminate_backend(customer_id) AS killed FROM app.customer",
        "may not call pg_terminate_backend()",
    ),
    "pg_shadow": ("SELECT usename, passwd FROM pg_shadow", "may not read system catalogs (pg_shadow)"),
    "django_session": (
        "SELECT session_key, session_data FROM public.django_session",
        "may only read tables of the data store's schema 'app'",
    ),
}


def check(store, entity):
    return check_run_execute(check_run_request(datastore=store, entity=entity, enqueue=False).pk)


def custom_rule(entity, name, query):
    return Rule(entity=entity, name=name, kind="custom_sql", params={"sql": query})


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_a_custom_sql_probe_is_refused_when_the_rule_is_saved(dq, steward, probe):
    query, refusal = PROBES[probe]
    with pytest.raises(ValidationError) as refused:
        catalog_object_save(obj=custom_rule(dq.customer, f"probe_{probe}", query), user=steward)
    assert list(refused.value.message_dict) == ["params"]
    assert refusal in refused.value.message_dict["params"][0]
    assert not Rule.objects.filter(name=f"probe_{probe}").exists()


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_a_custom_sql_probe_is_refused_in_a_yaml_file(dq, steward, probe):
    query, refusal = PROBES[probe]
    config = {
        "datastore": "dq",
        "entities": {"customer": {"rules": [{"name": "probe", "kind": "custom_sql", "sql": query}]}},
    }
    with pytest.raises(QualityConfigError) as refused:
        quality_apply_config(config, user=steward)
    assert any(refusal in problem for problem in refused.value.problems), refused.value.problems
    assert not Rule.objects.exists()


def test_probes_stored_before_the_gate_are_refused_at_run_time_and_never_run(dq, steward):
    """Rules written before the gate existed (here by a queryset update, which skips every check)."""
    for probe in PROBES:
        rule = catalog_object_save(
            obj=custom_rule(dq.customer, f"probe_{probe}", "SELECT * FROM app.customer WHERE false"),
            user=steward,
        )
        Rule.objects.filter(pk=rule.pk).update(params={"sql": PROBES[probe][0]})
    victim = psycopg.connect(store_url(dq).replace("postgresql+psycopg://", "postgresql://"))
    try:
        run = check(dq, dq.customer)
        assert victim.execute("SELECT 1").fetchone() == (1,)  # not terminated
    finally:
        victim.close()
    probes = RuleResult.objects.filter(check_run=run, rule_name__startswith="probe_")
    assert probes.count() == len(PROBES)
    for result in probes:
        query, refusal = PROBES[result.rule_name.removeprefix("probe_")]
        assert result.status == ResultStatus.ERROR
        assert result.error.startswith("Not run: Custom SQL") and refusal in result.error
        assert (result.samples, result.sql, result.failing_rows) == ([], "", None)
    with psycopg.connect(store_url(dq).replace("postgresql+psycopg://", "postgresql://")) as conn:
        assert conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone() == (0,)


@pytest.fixture
def read_role(dq):
    """A PostgreSQL role that may only read the store's schema, named on the data store."""
    role = f"custodian_reader_{uuid.uuid4().hex[:8]}"
    url = store_url(dq)
    run_sql(
        url,
        sql.SQL(
            "CREATE ROLE {r} NOLOGIN; GRANT USAGE ON SCHEMA app TO {r}; GRANT SELECT ON app.customer TO {r}"
        )
        .format(r=sql.Identifier(role))
        .as_string(),
    )
    dq.read_role = role
    dq.save()
    yield role
    run_sql(url, sql.SQL("DROP OWNED BY {r}; DROP ROLE {r}").format(r=sql.Identifier(role)).as_string())


def test_custom_sql_runs_as_the_stores_read_role_in_a_read_only_transaction(dq, steward, read_role):
    catalog_object_save(
        obj=custom_rule(
            dq.customer,
            "who_runs",
            "SELECT customer_id, current_user AS who FROM app.customer WHERE customer_id = 1",
        ),
        user=steward,
    )
    catalog_object_save(
        obj=custom_rule(dq.customer, "other_table", "SELECT * FROM app.country"), user=steward
    )
    found = {r.rule_name: r for r in check(dq, dq.customer).results.all()}
    assert found["who_runs"].samples == [{"customer_id": 1, "who": read_role}]
    # The role may read only what it was granted: the database refuses the rest.
    assert found["other_table"].status == ResultStatus.ERROR
    assert "permission denied for table country" in found["other_table"].error


def test_the_admin_form_shows_the_gates_refusal_on_the_parameters(role_client, dq):
    response = role_client("steward").post(
        "/admin/quality/rule/add/",
        {
            "entity": dq.customer.pk,
            "name": "probe",
            "kind": "custom_sql",
            "columns": "",
            "params": "sql: SELECT pg_read_file('/etc/hostname') AS leak",
            "threshold_percent": "0",
            "severity": "error",
            "enabled": "on",
        },
    )
    assert response.status_code == 200
    assert "may not call pg_read_file()" in " ".join(response.context["adminform"].form.errors["params"])
    assert not Rule.objects.exists()

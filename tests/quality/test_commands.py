"""The quality commands: apply and export YAML, and run checks with a table of results and an exit status."""

import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from catalog.models import DataStore
from catalog.services import catalog_object_save
from core.choices import RunStatus
from quality.as_code import quality_yaml_load
from quality.choices import CheckTrigger, ResultStatus
from quality.models import CheckRun, Rule
from tests.quality.conftest import BAD, store_url
from tests.quality.test_as_code import allowed_custom_sql, dq_catalog_make, dq_config, history_rows

ROOT = Path(__file__).resolve().parents[2]
# Every rule the catalog implies for the dq store, tuned to warn: no error-severity rule is left.
ALL_WARN = {
    "country": {
        "implied": {"primary_key_unique": {"severity": "warn"}, "code_not_null": {"severity": "warn"}}
    },
    "customer": {
        "implied": {
            name: {"severity": "warn"}
            for name in (
                "country_references_country",
                "customer_id_not_null",
                "email_not_null",
                "email_pattern",
                "email_unique",
                "primary_key_unique",
                "score_range",
                "tier_allowed_values",
            )
        }
    },
}


@pytest.fixture
def dq_catalog(db, steward):
    return dq_catalog_make(steward)


def command(*args, **kwargs) -> tuple[str, str]:
    """(stdout, stderr) of a management command."""
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err, **kwargs)
    return out.getvalue(), err.getvalue()


def failing(*args) -> tuple[CommandError, str]:
    """The CommandError a command ends with (exit status 1) and what it printed before."""
    out = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command(*args, stdout=out, stderr=io.StringIO())
    assert caught.value.returncode == 1  # what `manage.py` exits with
    return caught.value, out.getvalue()


def yaml_file(tmp_path, config: dict, name: str = "dq-quality.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# quality_apply ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
class TestQualityApply:
    def test_applies_then_reports_unchanged(self, dq_catalog, steward, tmp_path):
        path = yaml_file(tmp_path, dq_config())
        out, _ = command("quality_apply", str(path), "--user", "steward")
        assert out.startswith(
            "Quality configuration of data store 'dq' applied: 10 created, 2 updated, 0 deleted.\n"
        )
        assert "  entities.customer.rules.email_format: created (pattern on email, severity error)\n" in out
        assert Rule.objects.get(name="email_format").history.get().history_user == steward
        rows = history_rows()
        out, _ = command("quality_apply", str(path), "--user", "steward")
        assert out == "Quality configuration of data store 'dq' unchanged.\n"
        assert history_rows() == rows

    def test_dry_run_shows_what_would_change_and_saves_nothing(self, dq_catalog, tmp_path):
        path = yaml_file(tmp_path, dq_config())
        out, _ = command("quality_apply", str(path), "--dry-run")
        assert out.startswith(
            "Dry run, nothing saved: quality configuration of data store 'dq' would change (10 created, "
            "2 updated, 0 deleted).\n"
        )
        assert '  schedules: added customer at "0 * * * *"\n' in out
        assert not Rule.objects.exists() and history_rows() == 0

    def test_a_wrong_file_exits_1_listing_every_problem(self, dq_catalog, tmp_path):
        config = dq_config()
        config["entities"]["custmer"] = config["entities"].pop("customer")
        config["schedules"][0]["cron"] = "hourly"
        path = yaml_file(tmp_path, config)
        error, _ = failing("quality_apply", str(path))
        assert str(error) == (
            f"{path}: The quality configuration has 2 problems; nothing was changed:\n"
            "  - entities.custmer: no entity 'custmer' in data store 'dq' (did you mean 'customer'?)\n"
            "  - schedules[0].cron: Not a cron expression (minute hour day month weekday)."
        )
        assert not Rule.objects.exists()

    def test_custom_sql_needs_a_user_allowed_to_write_it(self, dq_catalog, steward, tmp_path):
        config = dq_config()
        config["entities"]["customer"]["rules"].append(
            {"name": "big", "kind": "custom_sql", "sql": "SELECT * FROM app.customer WHERE score > 100"}
        )
        path = yaml_file(tmp_path, config)
        error, _ = failing("quality_apply", str(path), "--user", "steward")
        assert "entities.customer.rules[6]: custom SQL rule 'big' needs the permission" in str(error)
        allowed_custom_sql(steward)
        out, _ = command("quality_apply", str(path), "--user", "steward")
        assert "entities.customer.rules.big: created (custom_sql, severity error)" in out

    def test_missing_file_broken_yaml_and_unknown_user(self, db, tmp_path):
        error, _ = failing("quality_apply", str(tmp_path / "nope.yaml"))
        assert str(error).endswith("nope.yaml does not exist or is not a file.")
        broken = tmp_path / "broken.yaml"
        broken.write_text("datastore: dq\nentities: [\n")
        error, _ = failing("quality_apply", str(broken))
        assert "line 3, column 1: not valid YAML" in str(error)
        error, _ = failing("quality_apply", str(broken), "--user", "ghost")
        assert str(error) == "No user named 'ghost'."


# quality_export --------------------------------------------------------------------------------------------


@pytest.mark.django_db
class TestQualityExport:
    def test_export_round_trips_through_apply_unchanged(self, dq_catalog, superuser, tmp_path):
        config = dq_config()
        config["entities"]["customer"]["rules"].append(
            {"name": "big", "kind": "custom_sql", "sql": "SELECT *\nFROM app.customer\nWHERE score > 100\n"}
        )
        quality_yaml_load(yaml.safe_dump(config))  # it is a valid file
        command("quality_apply", str(yaml_file(tmp_path, config)), "--user", "root")
        exported, _ = command("quality_export", "--datastore", "dq")
        target = tmp_path / "exported.yaml"
        _, err = command("quality_export", "--datastore", "dq", "-o", str(target))
        assert err == f"Wrote {target}.\n" and target.read_text() == exported
        rows = history_rows()
        out, _ = command("quality_apply", str(target), "--user", "root")
        assert out == "Quality configuration of data store 'dq' unchanged.\n"
        assert history_rows() == rows
        assert yaml.safe_load(exported)["entities"]["customer"]["implied"] == {
            "email_not_null": {"severity": "warn", "threshold_percent": 5},
            "tier_allowed_values": {"enabled": False},
        }

    def test_unknown_store(self, dq_catalog):
        error, _ = failing("quality_export", "--datastore", "dqq")
        assert str(error) == "No data store named 'dqq'. Did you mean 'dq'? Known: dq."


# run_quality -----------------------------------------------------------------------------------------------


def table_lines(out: str) -> dict[str, list[str]]:
    """{rule name: [status, failing/total, %, measured...]} of the printed tables."""
    rows = {}
    for line in out.splitlines():
        words = line.split()
        if line.startswith("  ") and words and words[0] in ("FAILED", "ERROR", "warned", "passed"):
            rows[words[1]] = [words[0], *words[2:]]
    return rows


@pytest.mark.django_db
class TestRunQuality:
    def test_sync_run_prints_the_failing_rules_and_exits_1(self, dq):
        error, out = failing("run_quality", "--datastore", "dq", "--sync")
        run = CheckRun.objects.get()
        assert run.trigger == CheckTrigger.COMMAND and run.status == RunStatus.SUCCEEDED
        assert (
            out.startswith(f"Check run #{run.pk} of 'dq' finished in ")
            and ": 6 failed, 0 could not run, 0 warned, 4 passed (10 rules).\n" in out
        )
        # Issue 16 #18: the rules of one shared scan share its time; it is shown once, not added up.
        assert "\n  one shared scan checked 5 rules in " in out
        rows = table_lines(out)
        assert rows["email_not_null"] == ["FAILED", "3/100", "3.00%", *"3 of 100 rows fail (3.000%)".split()]
        assert rows["score_range"][:3] == ["FAILED", f"{BAD['out_of_range']}/100", "5.00%"]
        assert rows["country_references_country"][:3] == ["FAILED", "7/100", "7.00%"]
        assert rows["code_not_null"][:3] == ["passed", "0/2", "0.00%"]
        assert "\n  status  rule " in out and "measured or error\n" in out
        assert "\ncustomer: score " in out and "(completeness " in out and "\ncountry: score 100.0" in out
        # Failures first, then the passing rules.
        customer = out.split("\ncustomer: ")[1].splitlines()
        statuses = [line.split()[0] for line in customer[2:] if line.strip() and "shared scan" not in line]
        assert statuses == sorted(statuses, key=["FAILED", "ERROR", "warned", "passed"].index)
        assert str(error).startswith("6 error-severity rule(s) failed: customer.country_references_country, ")

    def test_exits_0_when_only_warnings_fail(self, dq, steward, tmp_path):
        command("quality_apply", str(yaml_file(tmp_path, {"datastore": "dq", "entities": ALL_WARN})))
        out, _ = command(
            "run_quality", "--datastore", "dq", "--entity", "customer", "--sync", "--user", "steward"
        )
        run = CheckRun.objects.get()
        assert run.entity == dq.customer and run.requested_by == steward
        assert ": 0 failed, 0 could not run, 6 warned, 2 passed (8 rules).\n" in out
        assert table_lines(out)["email_pattern"][:3] == ["warned", "2/100", "2.00%"]
        assert "country" not in table_lines(out)

    def test_an_entity_name_found_in_one_store_needs_no_datastore(self, dq):
        out, _ = command("run_quality", "--entity", "country", "--sync")
        run = CheckRun.objects.get()
        assert run.entity == dq.country and run.datastore == dq
        assert out.startswith(f"Check run #{run.pk} of 'dq' (country) finished in ")
        assert ": 0 failed, 0 could not run, 0 warned, 2 passed (2 rules).\n" in out
        assert set(table_lines(out)) == {"code_not_null", "primary_key_unique"}

    def test_rules_that_cannot_run_are_shown_with_why_and_do_not_fail_the_exit(self, dq, steward, tmp_path):
        from tests.quality.conftest import run_sql

        command("quality_apply", str(yaml_file(tmp_path, {"datastore": "dq", "entities": ALL_WARN})))
        run_sql(store_url(dq), "ALTER TABLE app.customer DROP COLUMN tier")
        out, _ = command("run_quality", "--datastore", "dq", "--sync")
        row = table_lines(out)["tier_allowed_values"]
        assert row[:3] == ["ERROR", "—", "—"]
        assert " ".join(row[3:]).startswith("Column tier no longer exists in app.customer")

    def test_without_datastore_every_postgresql_store_is_checked(self, dq, steward, tmp_path):
        catalog_object_save(obj=DataStore(name="embedded", engine="sqlite", schema_name=""), user=steward)
        catalog_object_save(obj=DataStore(name="empty", engine="postgresql", schema_name="app"), user=steward)
        command("quality_apply", str(yaml_file(tmp_path, {"datastore": "dq", "entities": ALL_WARN})))
        out, err = command("run_quality", "--sync")
        assert err == (
            "Skipped data store 'embedded': quality checks run on PostgreSQL only.\n"
            "Skipped data store 'empty': it has no entities.\n"
        )
        assert (
            CheckRun.objects.get().entity is None and "\ncountry: score" in out and "\ncustomer: score" in out
        )

    def test_unknown_store_or_entity_exits_1_with_a_message(self, dq, datastore, customer):
        error, _ = failing("run_quality", "--datastore", "nowhere")
        assert str(error) == "No data store named 'nowhere'. Known: dq, shop."
        error, _ = failing("run_quality", "--datastore", "dq", "--entity", "custmer")
        assert str(error) == "No entity 'custmer' in data store 'dq'. Did you mean 'customer'?"
        error, _ = failing("run_quality", "--entity", "customer")
        assert str(error) == "Entity 'customer' is in several data stores (dq, shop): give --datastore."
        error, _ = failing("run_quality", "--entity", "orders")
        assert str(error) == "No entity named 'orders' in any data store."
        assert not CheckRun.objects.exists()

    def test_a_store_that_is_not_postgresql_exits_1_saying_so(self, dq, steward):
        catalog_object_save(obj=DataStore(name="embedded", engine="sqlite", schema_name=""), user=steward)
        error, _ = failing("run_quality", "--datastore", "embedded", "--sync")
        assert str(error).endswith("failed: Data store 'embedded' is SQLite; this needs PostgreSQL.")

    def test_unreachable_store_exits_1_saying_why(self, dq, monkeypatch):
        monkeypatch.setenv(dq.url_env, "postgresql://postgres@127.0.0.1:1/nowhere")
        error, out = failing("run_quality", "--datastore", "dq", "--sync")
        run = CheckRun.objects.get()
        assert run.status == RunStatus.FAILED
        assert "\n  Cannot reach data store 'dq': " in out
        assert str(error).startswith(f"check run #{run.pk} of 'dq' failed: Cannot reach data store 'dq': ")

    def test_a_user_who_may_not_run_checks_is_refused(self, dq, officer):
        error, _ = failing("run_quality", "--datastore", "dq", "--user", "officer")
        assert str(error) == "User 'officer' may not run quality checks (quality.run_quality)."
        assert not CheckRun.objects.exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_without_sync_the_check_is_queued_and_followed_until_a_worker_finishes_it(dq, settings):
    """Through Redis to `manage.py rqworker quality`, on a Redis database of this test's own."""
    import django_rq

    redis_url = "redis://127.0.0.1:6379/13"
    settings.CUSTODIAN_JOBS_SYNC = False
    settings.RQ_QUEUES = {
        name: {"URL": redis_url, "DEFAULT_TIMEOUT": 600} for name in ("etl", "quality", "default")
    }
    queue = django_rq.get_queue("quality")
    queue.empty()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
        "REDIS_URL": redis_url,
        dq.url_env: store_url(dq),
    }
    worker = {}

    def work():
        deadline = time.monotonic() + 60
        while not queue.count and time.monotonic() < deadline:
            time.sleep(0.1)
        worker["done"] = subprocess.run(
            [sys.executable, "manage.py", "rqworker", "quality", "--burst"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )

    thread = threading.Thread(target=work)
    thread.start()
    try:
        error, out = failing("run_quality", "--datastore", "dq", "--entity", "customer")
    finally:
        thread.join(timeout=240)
    assert worker["done"].returncode == 0, worker["done"].stderr
    run = CheckRun.objects.get()
    assert run.status == RunStatus.SUCCEEDED and run.rules_failed == 6
    assert table_lines(out)["email_pattern"][:3] == ["FAILED", "2/100", "2.00%"]
    assert str(error).startswith("6 error-severity rule(s) failed: ")
    assert run.results.filter(status=ResultStatus.PASSED).count() == 2

"""The pipeline commands: apply and export YAML, run with a progress bar, tick the schedules."""

import io

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from pipelines.as_code import pipeline_yaml_dump, pipeline_yaml_load
from pipelines.choices import RunStatus, RunTrigger
from pipelines.models import Pipeline, PipelineRun, PipelineState
from pipelines.runner import pipeline_run_execute
from pipelines.services import pipeline_run_request
from tests.pipelines.conftest import CUSTOMER_CSV, make_pipeline, query
from tests.pipelines.test_as_code import catalog_shop_make, customer_config, history_rows


@pytest.fixture
def shop_catalog(db, steward):
    return catalog_shop_make(steward)


def command(*args, **kwargs) -> tuple[str, str]:
    """(stdout, stderr) of a management command."""
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err, **kwargs)
    return out.getvalue(), err.getvalue()


def failing(*args) -> CommandError:
    with pytest.raises(CommandError) as caught:
        command(*args)
    assert caught.value.returncode == 1  # what `manage.py` exits with
    return caught.value


def yaml_file(tmp_path, config: dict, name: str = "pipeline.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.mark.django_db
class TestPipelineApply:
    def test_creates_then_updates_then_reports_unchanged(
        self, shop_catalog, import_root, tmp_path, platform_admin
    ):
        path = yaml_file(tmp_path, customer_config())
        out, _ = command("pipeline_apply", str(path), "--user", "platform")
        assert out.startswith("Pipeline 'crm_customers' (shop.customer) created.\n")
        assert "  mappings.email: added (field 'email', steps [trim, lower])\n" in out
        pipeline = Pipeline.objects.get(name="crm_customers")
        assert pipeline.history.get().history_user == platform_admin

        yaml_file(tmp_path, customer_config(batch_size=20_000, enabled=False))
        out, _ = command("pipeline_apply", str(path), "--user", "platform")
        assert out == (
            "Pipeline 'crm_customers' (shop.customer) updated.\n"
            "  enabled: true → false\n"
            "  batch_size: 10000 → 20000\n"
        )
        rows = history_rows()
        out, _ = command("pipeline_apply", str(path), "--user", "platform")
        assert out == "Pipeline 'crm_customers' (shop.customer) unchanged.\n"
        assert history_rows() == rows

    def test_dry_run_shows_what_would_change_and_saves_nothing(self, shop_catalog, import_root, tmp_path):
        path = yaml_file(tmp_path, customer_config())
        out, _ = command("pipeline_apply", str(path), "--dry-run")
        assert out.startswith(
            "Dry run, nothing saved: pipeline 'crm_customers' (shop.customer) would be created."
        )
        assert not Pipeline.objects.exists() and history_rows() == 0
        command("pipeline_apply", str(path))
        yaml_file(tmp_path, customer_config(schedule=""))
        out, _ = command("pipeline_apply", str(path), "--dry-run")
        assert "would be updated" in out and '  schedule: "30 2 * * *" → none' in out
        assert Pipeline.objects.get().schedule == "30 2 * * *"

    def test_a_wrong_file_exits_1_listing_every_problem(self, shop_catalog, import_root, tmp_path):
        config = customer_config(schedul="0 1 * * *", target={"datastore": "shop", "entity": "custmer"})
        error = failing("pipeline_apply", str(yaml_file(tmp_path, config)))
        assert str(error).splitlines() == [
            f"{tmp_path / 'pipeline.yaml'}: The pipeline configuration has 2 problems; nothing was changed:",
            "  - schedul: unknown key (did you mean 'schedule'?); known keys: batch_size, description, "
            "enabled, extract, load, mappings, max_retries, name, owner, reject_threshold_percent, "
            "run_after, run_quality, schedule, source, target",
            "  - target.entity: no entity 'custmer' in data store 'shop' (did you mean 'customer'?)",
        ]
        assert not Pipeline.objects.exists()

    def test_broken_yaml_missing_files_and_unknown_users_exit_1(self, shop_catalog, tmp_path):
        broken = tmp_path / "broken.yaml"
        broken.write_text("name: x\n  target: [1,\n")
        assert "line 2, column 9: not valid YAML" in str(failing("pipeline_apply", str(broken)))
        assert "does not exist" in str(failing("pipeline_apply", str(tmp_path / "missing.yaml")))
        path = yaml_file(tmp_path, customer_config())
        assert str(failing("pipeline_apply", str(path), "--user", "nobody")) == "No user named 'nobody'."


@pytest.mark.django_db
class TestPipelineExport:
    def test_export_writes_the_yaml_that_applies_unchanged(
        self, shop_catalog, import_root, tmp_path, platform_admin
    ):
        make_pipeline(shop_catalog.customer, platform_admin, schedule="0 3 * * *", owner=platform_admin)
        pipeline = Pipeline.objects.get(name="customers")
        out, _ = command("pipeline_export", "customers")
        assert out == pipeline_yaml_dump(pipeline)
        assert pipeline_yaml_load(out)["schedule"] == "0 3 * * *"
        target = tmp_path / "customers.yaml"
        out, err = command("pipeline_export", "customers", "-o", str(target))
        assert out == "" and f"Wrote {target}." in err
        assert target.read_text() == pipeline_yaml_dump(pipeline)
        rows = history_rows()
        out, _ = command("pipeline_apply", str(target), "--user", "platform")
        assert out == "Pipeline 'customers' (shop.customer) unchanged.\n" and history_rows() == rows

    def test_unknown_pipeline_names_the_known_ones(self, shop_catalog, import_root, platform_admin):
        make_pipeline(shop_catalog.customer, platform_admin)
        assert (
            str(failing("pipeline_export", "custmers"))
            == "No pipeline named 'custmers'. Did you mean 'customers'? Known: customers."
        )


@pytest.mark.django_db
class TestRunPipeline:
    # Without Redis (in-process jobs) a run is done in the command's process with or without --sync.
    @pytest.mark.parametrize("flags", [["--sync"], []])
    def test_run_here_loads_rows_with_a_progress_bar_and_prints_the_summary(
        self, shop, import_root, platform_admin, settings, flags
    ):
        settings.CUSTODIAN_JOBS_SYNC = True
        (import_root / "customers.csv").write_text(CUSTOMER_CSV)
        make_pipeline(shop.customer, platform_admin)
        out, err = command("run_pipeline", "customers", *flags, "--user", "platform")
        run = PipelineRun.objects.get()
        assert run.status == RunStatus.SUCCEEDED and run.trigger == RunTrigger.COMMAND
        assert run.requested_by == platform_admin
        assert query(shop, "SELECT count(*) FROM app.customer") == [(3,)]
        lines = out.splitlines()
        assert lines[0].startswith(f"Run #{run.pk} of 'customers' succeeded in ")
        assert lines[1] == "  rows: 3 extracted, 3 loaded, 0 rejected"
        assert lines[2].startswith("  timings: extract ") and " load " in lines[2] and " commit " in lines[2]
        assert lines[3].endswith(" rows/s")
        assert f"customers #{run.pk}" in err and "3 rows" in err and "100%" in err

    def test_sync_run_reports_quarantined_rows(self, shop, import_root, platform_admin):
        (import_root / "customers.csv").write_text(CUSTOMER_CSV.replace("ada@example.com", "ada-at-example"))
        make_pipeline(shop.customer, platform_admin, reject_threshold_percent=50)
        out, err = command("run_pipeline", "customers", "--sync")
        assert "  rows: 3 extracted, 2 loaded, 1 rejected (see the quarantine)" in out
        assert "1 rejected" in err

    def test_a_failing_run_exits_1_with_its_error(self, shop, import_root, platform_admin):
        make_pipeline(shop.customer, platform_admin)  # customers.csv was never written
        error = failing("run_pipeline", "customers", "--sync")
        run = PipelineRun.objects.get()
        assert run.status == RunStatus.FAILED
        assert str(error).startswith(f"Run #{run.pk} of 'customers' failed: No file 'customers.csv'")

    def test_a_run_over_the_reject_threshold_exits_1_and_loads_nothing(
        self, shop, import_root, platform_admin
    ):
        (import_root / "customers.csv").write_text(
            CUSTOMER_CSV.replace(",de,", ",xx,").replace(",fr,", ",yy,")
        )
        make_pipeline(shop.customer, platform_admin)
        error = failing("run_pipeline", "customers", "--sync")
        assert "2 of 3 rows were rejected" in str(error)
        assert query(shop, "SELECT count(*) FROM app.customer") == [(0,)]

    def test_a_busy_pipeline_is_refused(self, shop, import_root, platform_admin):
        pipeline = make_pipeline(shop.customer, platform_admin)
        queued = pipeline_run_request(pipeline, enqueue=False)
        error = failing("run_pipeline", "customers", "--sync")
        assert f"already queued or running (run #{queued.pk}, queued)" in str(error)

    def test_unknown_pipeline_is_refused(self, db):
        assert str(failing("run_pipeline", "nothing")) == "No pipeline named 'nothing'. Known: none yet."

    def test_queued_run_is_followed_until_a_worker_finishes_it(
        self, shop, import_root, platform_admin, monkeypatch, settings
    ):
        from pipelines.management.commands import run_pipeline

        settings.CUSTODIAN_JOBS_SYNC = False  # as with REDIS_URL: the run goes to the etl queue
        (import_root / "customers.csv").write_text(CUSTOMER_CSV)
        make_pipeline(shop.customer, platform_admin)
        polls = []

        def worker_meanwhile(seconds):
            # While the command waits between polls, a worker takes the queued run and runs it.
            polls.append(seconds)
            queued = PipelineRun.objects.filter(status=RunStatus.QUEUED).first()
            if queued is not None:
                pipeline_run_execute(queued.pk)

        monkeypatch.setattr(run_pipeline.time, "sleep", worker_meanwhile)
        out, _ = command("run_pipeline", "customers")
        assert polls == [1.0]
        assert "succeeded" in out.splitlines()[0] and "  rows: 3 extracted, 3 loaded, 0 rejected" in out


@pytest.mark.django_db
def test_pipelines_tick_queues_due_scheduled_runs(shop_catalog, import_root, platform_admin, settings):
    settings.CUSTODIAN_JOBS_SYNC = True
    pipeline = make_pipeline(shop_catalog.customer, platform_admin, schedule="*/5 * * * *")
    out, _ = command("pipelines_tick")
    assert out.splitlines() == [
        "No scheduled run was due.",
        "Jobs run in this process (no REDIS_URL): run this command every minute from cron.",
    ]
    PipelineState.objects.filter(pipeline=pipeline).update(
        next_run_at=timezone.now() - timezone.timedelta(minutes=1)
    )
    out, _ = command("pipelines_tick")
    run = PipelineRun.objects.get()
    assert out.splitlines()[0] == f"Queued 1 scheduled run(s): customers (run #{run.pk})."
    assert run.trigger == RunTrigger.SCHEDULE

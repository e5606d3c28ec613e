"""The pipelines admin: editing with mappings, Run now, dry runs, run pages, rejects, masking, lineage."""

import csv
import html
import io
import re

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from pipelines.choices import ErrorKind, RunStatus, RunTrigger
from pipelines.models import FieldMapping, LineageEdge, Pipeline, PipelineRun, RejectedRow
from pipelines.services import pipeline_run_request
from tests.admin_forms import change_form_data
from tests.pipelines.conftest import CUSTOMER_CSV, make_pipeline, query

# Row 4 breaks five columns at once; row 5 only its email (a personal-data column).
BAD_ROWS = (
    "4,not-an-email,Bad Row,xx,2024-13-01,150,maybe,2024-03-04 10:00:00\n"
    "5,ada-at-example.com,Ada Two,de,2024-01-06,10,yes,2024-03-05 10:00:00\n"
)
ROLES = ["steward", "officer", "platform"]


@pytest.fixture(autouse=True)
def jobs_in_process(settings):
    settings.CUSTODIAN_JOBS_SYNC = True


@pytest.fixture
def pipeline(shop, import_root, platform_admin):
    (import_root / "customers.csv").write_text(CUSTOMER_CSV)
    return make_pipeline(shop.customer, platform_admin)


@pytest.fixture
def tolerant_pipeline(shop, import_root, platform_admin):
    """Its source has two bad rows among five; the threshold lets the three good ones load."""
    (import_root / "customers.csv").write_text(CUSTOMER_CSV + BAD_ROWS)
    return make_pipeline(shop.customer, platform_admin, reject_threshold_percent=50)


def url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


def run_now(client, pipeline, capture):
    with capture(execute=True):
        response = client.post(url("pipelines_pipeline_run", pipeline.pk))
    return response


def finished_run(pipeline, user) -> PipelineRun:
    from pipelines.runner import pipeline_run_execute

    run = pipeline_run_request(pipeline, user=user, enqueue=False)
    return pipeline_run_execute(run.pk)


def edit_data(client, pipeline) -> dict:
    """The change page's POST data as shown; an empty upload is sent as no file, as a browser does."""
    data = change_form_data(client.get(url("pipelines_pipeline_change", pipeline.pk)))
    data.pop("source_file", None)
    return data


def steps_boxes(page: str) -> dict[str, str]:
    """Source field → the text of its mapping's steps box, as the change page shows them."""
    fields = dict(re.findall(r'name="mappings-(\d+)-source_field" value="([^"]*)"', page))
    boxes = dict(re.findall(r'<textarea name="mappings-(\d+)-steps"[^>]*>\n?(.*?)</textarea>', page, re.S))
    return {fields[i]: html.unescape(text) for i, text in boxes.items() if i in fields}


def shown_messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# Who sees what ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_page_renders_for_each_role_that_may_see_it(
    role_client, role, tolerant_pipeline, platform_admin
):
    run = finished_run(tolerant_pipeline, platform_admin)
    assert run.status == RunStatus.SUCCEEDED and run.rows_rejected == 2
    column = tolerant_pipeline.target.columns.get(name="email")
    client = role_client(role)
    pages = [
        url("pipelines_pipeline_changelist"),
        url("pipelines_pipeline_change", tolerant_pipeline.pk),
        url("pipelines_pipeline_dry_run", tolerant_pipeline.pk),
        url("pipelines_pipeline_history", tolerant_pipeline.pk),
        url("pipelines_pipelinerun_changelist"),
        url("pipelines_pipelinerun_change", run.pk),
        url("pipelines_pipelinerun_progress", run.pk),
        url("pipelines_pipelinerun_rejected_csv", run.pk),
        url("catalog_entity_change", tolerant_pipeline.target_id),
        url("catalog_column_change", column.pk),
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
    add = client.get(url("pipelines_pipeline_add"))
    assert add.status_code == (200 if role == "platform" else 403)


@pytest.mark.parametrize("role", ["steward", "officer"])
def test_readers_see_the_pipeline_owner_in_words_not_a_link_to_a_user_page_they_may_not_open(
    role_client, role, pipeline, platform_admin
):
    platform_admin.first_name, platform_admin.last_name = "Grace", "Hopper"
    platform_admin.save()
    Pipeline.objects.filter(pk=pipeline.pk).update(owner=platform_admin)
    page = html.unescape(
        role_client(role).get(url("pipelines_pipeline_change", pipeline.pk)).content.decode()
    )
    assert "platform (Grace Hopper)" in page
    assert reverse("admin:auth_user_change", args=[platform_admin.pk]) not in page


@pytest.mark.parametrize("role", ["steward", "officer"])
def test_readers_get_no_buttons_and_403_for_run_cancel_retry_and_edits(
    role_client, role, pipeline, platform_admin
):
    client = role_client(role)
    page = client.get(url("pipelines_pipeline_change", pipeline.pk)).content.decode()
    assert 'id="pipeline-dry-run"' not in page
    assert 'id="pipeline-run"' not in page
    assert 'name="_save"' not in page  # a read-only page

    assert client.post(url("pipelines_pipeline_run", pipeline.pk)).status_code == 403
    assert not PipelineRun.objects.exists()
    dry_run_page = client.get(url("pipelines_pipeline_dry_run", pipeline.pk)).content.decode()
    assert 'id="dry-run-not-allowed"' in dry_run_page and 'id="dry-run-start"' not in dry_run_page
    assert client.post(url("pipelines_pipeline_dry_run", pipeline.pk)).status_code == 403

    queued = pipeline_run_request(pipeline, user=platform_admin, enqueue=False)
    run_page = client.get(url("pipelines_pipelinerun_change", queued.pk)).content.decode()
    assert 'id="run-cancel"' not in run_page
    assert client.post(url("pipelines_pipelinerun_cancel", queued.pk)).status_code == 403
    queued.refresh_from_db()
    assert queued.status == RunStatus.QUEUED

    PipelineRun.objects.filter(pk=queued.pk).update(status=RunStatus.FAILED, error="lost")
    assert 'id="run-retry"' not in client.get(url("pipelines_pipelinerun_change", queued.pk)).content.decode()
    assert client.post(url("pipelines_pipelinerun_retry", queued.pk)).status_code == 403
    assert PipelineRun.objects.count() == 1

    edit = edit_data(client, pipeline)
    edit["description"] = "changed by a reader"
    assert client.post(url("pipelines_pipeline_change", pipeline.pk), edit).status_code == 403
    pipeline.refresh_from_db()
    assert pipeline.description == ""


def test_run_pages_take_no_get_for_actions(client, platform_admin, pipeline):
    client.force_login(platform_admin)
    run = pipeline_run_request(pipeline, user=platform_admin, enqueue=False)
    assert client.get(url("pipelines_pipeline_run", pipeline.pk)).status_code == 405
    assert client.get(url("pipelines_pipelinerun_cancel", run.pk)).status_code == 405
    assert client.get(url("pipelines_pipelinerun_retry", run.pk)).status_code == 405


@pytest.mark.parametrize("user_fixture", ["platform_admin", "superuser"])
def test_nobody_adds_changes_or_deletes_runs(client, request, user_fixture, pipeline, platform_admin):
    client.force_login(request.getfixturevalue(user_fixture))
    run = finished_run(pipeline, platform_admin)
    assert client.get(url("pipelines_pipelinerun_add")).status_code == 403
    assert client.post(url("pipelines_pipelinerun_delete", run.pk), {"post": "yes"}).status_code == 403
    assert PipelineRun.objects.filter(pk=run.pk).exists()
    assert "Save" not in client.get(url("pipelines_pipelinerun_change", run.pk)).content.decode()


# Editing ----------------------------------------------------------------------------------------------


def add_page_data(client, shop, **mappings) -> dict:
    page = client.get(url("pipelines_pipeline_add") + f"?target={shop.customer.pk}")
    assert page.status_code == 200
    data = change_form_data(page)
    data.update(
        {
            "name": "customers_admin",
            "target": shop.customer.pk,
            "source_kind": "csv",
            "source_path": "customers.csv",
            "null_markers": "[]",
            "mappings-TOTAL_FORMS": str(len(mappings)),
        }
    )
    columns = {c.name: c.pk for c in shop.customer.columns.all()}
    for i, (column, (source_field, steps)) in enumerate(mappings.items()):
        data.update(
            {
                f"mappings-{i}-position": str(i),
                f"mappings-{i}-column": columns[column],
                f"mappings-{i}-source_field": source_field,
                f"mappings-{i}-steps": steps,
            }
        )
    return data


REQUIRED_MAPPINGS = {
    "customer_id": ("id", ""),
    "email": ("email", "- trim\n- lower\n"),
    "full_name": ("name", "- regex_replace: {pattern: '\\s+', replacement: ' '}\n- trim\n"),
}


def test_platform_admin_creates_a_pipeline_with_mappings_and_yaml_steps(
    client, platform_admin, shop, import_root, django_capture_on_commit_callbacks
):
    (import_root / "customers.csv").write_text(CUSTOMER_CSV)
    client.force_login(platform_admin)
    response = client.post(url("pipelines_pipeline_add"), add_page_data(client, shop, **REQUIRED_MAPPINGS))
    assert response.status_code == 302, response.context and response.context["errors"]
    pipeline = Pipeline.objects.get(name="customers_admin")
    steps = {m.column.name: m.steps for m in pipeline.mappings.select_related("column")}
    assert steps == {
        "customer_id": [],
        "email": [{"op": "trim"}, {"op": "lower"}],
        "full_name": [{"op": "regex_replace", "pattern": "\\s+", "replacement": " "}, {"op": "trim"}],
    }
    assert FieldMapping.history.filter(pipeline_id=pipeline.pk, history_user=platform_admin).count() == 3
    # The steps are shown again as YAML, one step a line.
    page = client.get(url("pipelines_pipeline_change", pipeline.pk)).content.decode()
    assert steps_boxes(page) == {
        "id": "",
        "email": "- trim\n- lower\n",
        "name": "- regex_replace: {pattern: \\s+, replacement: ' '}\n- trim\n",
    }

    run_now(client, pipeline, django_capture_on_commit_callbacks)
    assert query(shop, "SELECT full_name FROM app.customer ORDER BY customer_id")[0] == ("Ada Lovelace",)


@pytest.mark.parametrize(
    "steps, message",
    [
        ("- trim\n  - lower: [", "The steps are not valid YAML (line"),
        ("- shout\n", "Step 1: unknown step &#x27;shout&#x27;"),
        ("- regex_replace: {replacement: x}\n", "Step 1: Step &#x27;regex_replace&#x27; needs pattern."),
    ],
)
def test_bad_steps_are_refused_on_their_field(client, platform_admin, shop, steps, message):
    client.force_login(platform_admin)
    mappings = {**REQUIRED_MAPPINGS, "email": ("email", steps)}
    response = client.post(url("pipelines_pipeline_add"), add_page_data(client, shop, **mappings))
    assert response.status_code == 200
    body = response.content.decode()
    assert message in body
    errors = response.context["inline_admin_formsets"][0].formset.errors
    assert errors[1]["steps"], errors
    assert not Pipeline.objects.filter(name="customers_admin").exists()


def test_a_column_of_another_entity_is_refused_on_the_add_page(client, platform_admin, shop, steward):
    from tests.pipelines.conftest import customer_entity

    other = customer_entity(shop, steward, name="prospect")
    client.force_login(platform_admin)
    data = add_page_data(client, shop, **REQUIRED_MAPPINGS)
    data["mappings-0-column"] = other.columns.get(name="customer_id").pk
    response = client.post(url("pipelines_pipeline_add"), data)
    assert response.status_code == 200
    assert not Pipeline.objects.filter(name="customers_admin").exists()


def test_saving_a_pipeline_checks_the_mappings_submitted_with_it(client, platform_admin, pipeline):
    """A required column unmapped in the database but mapped in this save is not an error, and vice versa."""
    FieldMapping.objects.filter(pipeline=pipeline, column__name="email").delete()
    client.force_login(platform_admin)
    data = edit_data(client, pipeline)
    total = int(data["mappings-TOTAL_FORMS"])
    last = total - 1  # the empty extra row
    data.update(
        {
            f"mappings-{last}-column": pipeline.target.columns.get(name="email").pk,
            f"mappings-{last}-source_field": "email",
            f"mappings-{last}-steps": "- trim",
            f"mappings-{last}-position": "9",
        }
    )
    response = client.post(url("pipelines_pipeline_change", pipeline.pk), data)
    assert response.status_code == 302, response.context and response.context["errors"]
    assert pipeline.mappings.filter(column__name="email", steps=[{"op": "trim"}]).exists()

    # Deleting the mapping of a NOT NULL column is refused in place, and nothing is deleted.
    data = edit_data(client, pipeline)
    email_row = next(k for k, v in data.items() if k.endswith("-source_field") and v == "email")
    data[email_row.replace("source_field", "DELETE")] = "on"
    response = client.post(url("pipelines_pipeline_change", pipeline.pk), data)
    assert response.status_code == 200
    assert "Field mappings: Required (NOT NULL, no default) columns are not mapped: email" in (
        response.content.decode()
    )
    assert pipeline.mappings.filter(column__name="email").exists()


def test_an_upsert_key_column_left_unmapped_is_refused_on_the_key_field(client, platform_admin, pipeline):
    client.force_login(platform_admin)
    data = edit_data(client, pipeline)
    id_row = next(k for k, v in data.items() if k.endswith("-source_field") and v == "id")
    data.update({id_row.replace("source_field", "DELETE"): "on", "load_mode": "upsert"})
    response = client.post(url("pipelines_pipeline_change", pipeline.pk), data)
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors["key_columns"] == ["Key columns must be mapped: customer_id."]
    assert "Field mappings: Required (NOT NULL, no default) columns are not mapped: customer_id." in (
        form.non_field_errors()
    )
    pipeline.refresh_from_db()
    assert pipeline.load_mode == "append" and pipeline.mappings.filter(column__name="customer_id").exists()


def test_a_pipeline_added_without_mappings_is_saved_and_told_what_it_lacks(
    client, platform_admin, shop, import_root
):
    (import_root / "customers.csv").write_text(CUSTOMER_CSV)
    client.force_login(platform_admin)
    response = client.post(url("pipelines_pipeline_add"), add_page_data(client, shop), follow=True)
    assert response.status_code == 200
    pipeline = Pipeline.objects.get(name="customers_admin")
    assert (pipeline.mappings.count(), pipeline.history.count()) == (0, 1)
    assert any(
        "is saved but cannot run yet: mappings: Map at least one target column." in message
        for message in shown_messages(response)
    )


def test_editing_one_mapping_saves_only_that_row_and_the_log_says_so(client, platform_admin, pipeline):
    from django.contrib.admin.models import LogEntry

    client.force_login(platform_admin)
    data = edit_data(client, pipeline)
    email_row = next(k for k, v in data.items() if k.endswith("-source_field") and v == "email")
    data[email_row.replace("source_field", "steps")] = "- trim\n"
    data["null_markers"] = "[]"  # as the page shows it (change_form_data encodes a JSON field twice)
    versions = {m.pk: m.version for m in pipeline.mappings.all()}
    response = client.post(url("pipelines_pipeline_change", pipeline.pk), data)
    assert response.status_code == 302, response.context and response.context["errors"]
    email = pipeline.mappings.get(column__name="email")
    assert email.steps == [{"op": "trim"}]
    assert {m.pk: m.version for m in pipeline.mappings.all()} == {
        **versions,
        email.pk: versions[email.pk] + 1,
    }
    assert email.history.first().history_user == platform_admin
    assert Pipeline.objects.get(pk=pipeline.pk).version == pipeline.version  # the pipeline itself unchanged
    logged = LogEntry.objects.filter(object_id=str(pipeline.pk)).latest("action_time")
    assert f"Changed steps for field mapping “{email}”." in logged.get_change_message()


def test_an_editor_who_may_only_view_the_mappings_keeps_them_when_saving_the_pipeline(client, pipeline):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    editor = get_user_model().objects.create_user("pipeline_editor", is_staff=True)
    codenames = ["view_pipeline", "change_pipeline", "view_fieldmapping"]
    editor.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client.force_login(editor)
    data = edit_data(client, pipeline)
    data["description"] = "edited"
    response = client.post(url("pipelines_pipeline_change", pipeline.pk), data)
    assert response.status_code == 302, response.context and response.context["errors"]
    pipeline.refresh_from_db()
    assert (pipeline.description, pipeline.mappings.count()) == ("edited", 8)


def test_a_source_query_the_sql_gate_refuses_is_shown_on_the_query_field(
    client, platform_admin, pipeline, shop
):
    client.force_login(platform_admin)
    data = edit_data(client, pipeline)
    data.update(
        source_kind="sql_query",
        source_path="",
        source_datastore=shop.pk,
        source_query="SELECT customer_id AS id, pg_read_file('/etc/hostname') AS email FROM customer",
    )
    response = client.post(url("pipelines_pipeline_change", pipeline.pk), data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["source_query"] == [
        "The source query may not call pg_read_file(): only functions that "
        "compute on values (text, numbers, dates, aggregates, window functions) "
        "are allowed."
    ]
    pipeline.refresh_from_db()
    assert pipeline.source_kind == "csv" and pipeline.source_query == ""


def test_second_admin_saving_a_stale_pipeline_is_refused(client, platform_admin, pipeline):
    from catalog.roles import PLATFORM_ADMIN
    from tests.conftest import make_user

    other = make_user("other_platform", PLATFORM_ADMIN)
    client.force_login(platform_admin)
    stale = edit_data(client, pipeline)
    client.force_login(other)
    fresh = edit_data(client, pipeline)
    fresh["description"] = "from the other admin"
    assert client.post(url("pipelines_pipeline_change", pipeline.pk), fresh).status_code == 302

    client.force_login(platform_admin)
    stale["description"] = "from the first admin"
    response = client.post(url("pipelines_pipeline_change", pipeline.pk), stale)
    assert response.status_code == 200
    assert "was changed by other_platform" in response.content.decode()
    pipeline.refresh_from_db()
    assert pipeline.description == "from the other admin"


# Run now, cancel, retry -------------------------------------------------------------------------------


def test_run_now_loads_the_rows_and_leads_to_the_run_page(
    client, platform_admin, pipeline, shop, django_capture_on_commit_callbacks
):
    client.force_login(platform_admin)
    response = run_now(client, pipeline, django_capture_on_commit_callbacks)
    run = PipelineRun.objects.get()
    assert response.status_code == 302
    assert response.url == url("pipelines_pipelinerun_change", run.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.requested_by == platform_admin and run.trigger == RunTrigger.MANUAL
    assert query(shop, "SELECT customer_id, email FROM app.customer ORDER BY customer_id") == [
        (1, "ada@example.com"),
        (2, "alan@example.com"),
        (3, "grace@example.com"),
    ]
    page = client.get(response.url).content.decode()
    assert 'class="run-badge run-succeeded"' in page
    assert 'id="run-rows-loaded">3<' in page
    assert 'id="run-timings"' in page and "Lineage" in page and "Configuration as run" in page
    assert 'data-active="0"' in page and "<script>" not in page  # a finished run does not poll


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_run_now_without_redis_names_the_dependent_runs_it_started(client, platform_admin, pipeline):
    """Without Redis the run and the runs that follow it (run_after, in turn) happen in the request."""
    follower = make_pipeline(
        pipeline.target, platform_admin, name="customers-again", load_mode="upsert", run_after=pipeline
    )
    second = make_pipeline(
        pipeline.target, platform_admin, name="customers-third", load_mode="upsert", run_after=follower
    )
    make_pipeline(pipeline.target, platform_admin, name="customers-off", run_after=pipeline, enabled=False)
    client.force_login(platform_admin)
    response = client.post(url("pipelines_pipeline_run", pipeline.pk))
    run = PipelineRun.objects.get(pipeline=pipeline)
    runs = [PipelineRun.objects.get(pipeline=p) for p in (follower, second)]
    assert [r.status for r in (run, *runs)] == [RunStatus.SUCCEEDED] * 3
    assert not PipelineRun.objects.filter(pipeline__name="customers-off").exists()
    assert shown_messages(response) == [
        f'<a href="{url("pipelines_pipelinerun_change", run.pk)}">Run #{run.pk}</a> of customers succeeded: '
        "3 rows loaded, 0 rejected. It started 2 dependent runs: "
        f'<a href="{url("pipelines_pipelinerun_change", runs[0].pk)}">#{runs[0].pk}</a> '
        "(customers-again, succeeded), "
        f'<a href="{url("pipelines_pipelinerun_change", runs[1].pk)}">#{runs[1].pk}</a> '
        "(customers-third, succeeded)."
    ]


def test_run_now_with_redis_names_the_dependent_pipelines_it_queues_when_it_succeeds(
    client, platform_admin, pipeline, settings
):
    settings.CUSTODIAN_JOBS_SYNC = False  # the job waits for a worker (never, here: the test rolls back)
    make_pipeline(
        pipeline.target, platform_admin, name="customers-again", load_mode="upsert", run_after=pipeline
    )
    make_pipeline(pipeline.target, platform_admin, name="customers-off", run_after=pipeline, enabled=False)
    client.force_login(platform_admin)
    response = client.post(url("pipelines_pipeline_run", pipeline.pk))
    run = PipelineRun.objects.get()
    assert run.status == RunStatus.QUEUED
    assert shown_messages(response) == [
        f'<a href="{url("pipelines_pipelinerun_change", run.pk)}">Run #{run.pk}</a> of customers is queued; '
        "its page shows its progress. When it succeeds, it queues its dependent pipeline customers-again."
    ]


def test_run_page_computes_rows_per_second_from_the_rows_and_duration_it_shows(
    client, platform_admin, pipeline, import_root
):
    from django.template.defaultfilters import floatformat

    succeeded = finished_run(pipeline, platform_admin)
    (import_root / "customers.csv").write_text(CUSTOMER_CSV + BAD_ROWS)  # 2 of 5 rows: over the threshold
    failed = finished_run(pipeline, platform_admin)
    assert failed.error_kind == ErrorKind.THRESHOLD
    client.force_login(platform_admin)
    for run in (succeeded, failed):
        assert run.rows_per_second == round(run.rows_extracted / run.duration, 1)
        page = client.get(url("pipelines_pipelinerun_change", run.pk)).content.decode()
        assert 'id="run-rows-per-second-label">Rows/s</dt>' in page
        assert f'id="run-rows-per-second">{floatformat(run.rows_per_second, "0g")}</dd>' in page


def test_second_run_now_while_one_is_queued_says_busy(
    client, platform_admin, pipeline, django_capture_on_commit_callbacks
):
    client.force_login(platform_admin)
    queued = pipeline_run_request(pipeline, user=platform_admin, enqueue=False)
    response = run_now(client, pipeline, django_capture_on_commit_callbacks)
    assert response.status_code == 302
    assert response.url == url("pipelines_pipelinerun_change", queued.pk)
    assert any("already queued or running" in m for m in shown_messages(response))
    assert PipelineRun.objects.count() == 1

    page = client.get(response.url).content.decode()
    assert 'id="run-cancel"' in page and 'data-active="1"' in page
    assert url("pipelines_pipelinerun_progress", queued.pk) in page
    progress = client.get(url("pipelines_pipelinerun_progress", queued.pk)).json()
    assert progress["status"] == "queued" and progress["finished"] is False


def test_cancel_of_a_queued_run_marks_it_cancelled(client, platform_admin, pipeline):
    client.force_login(platform_admin)
    queued = pipeline_run_request(pipeline, user=platform_admin, enqueue=False)
    response = client.post(url("pipelines_pipelinerun_cancel", queued.pk))
    assert response.status_code == 302
    queued.refresh_from_db()
    assert queued.status == RunStatus.CANCELLED and queued.error_kind == ErrorKind.CANCELLED
    assert f"Run #{queued.pk} was cancelled before it started." in shown_messages(response)
    # Cancelling again says why not.
    again = client.post(url("pipelines_pipelinerun_cancel", queued.pk))
    assert any("has already finished" in m for m in shown_messages(again))


def test_retry_of_a_failed_run_creates_a_linked_run_that_runs(
    client, platform_admin, pipeline, import_root, shop, django_capture_on_commit_callbacks
):
    (import_root / "customers.csv").unlink()
    failed = finished_run(pipeline, platform_admin)
    assert failed.status == RunStatus.FAILED
    client.force_login(platform_admin)
    page = client.get(url("pipelines_pipelinerun_change", failed.pk)).content.decode()
    assert 'id="run-retry"' in page and 'id="run-error"' in page

    (import_root / "customers.csv").write_text(CUSTOMER_CSV)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url("pipelines_pipelinerun_retry", failed.pk))
    retry = PipelineRun.objects.exclude(pk=failed.pk).get()
    assert response.url == url("pipelines_pipelinerun_change", retry.pk)
    assert retry.retry_of == failed and retry.trigger == RunTrigger.RETRY and retry.attempt == 2
    assert retry.status == RunStatus.SUCCEEDED
    assert query(shop, "SELECT count(*) FROM app.customer") == [(3,)]
    old_page = client.get(url("pipelines_pipelinerun_change", failed.pk)).content.decode()
    assert f"run #{retry.pk}" in old_page


def test_a_succeeded_run_cannot_be_retried(client, platform_admin, pipeline):
    run = finished_run(pipeline, platform_admin)
    client.force_login(platform_admin)
    response = client.post(url("pipelines_pipelinerun_retry", run.pk))
    assert response.url == url("pipelines_pipelinerun_change", run.pk)
    assert any("Only failed or cancelled runs can be retried" in m for m in shown_messages(response))
    assert PipelineRun.objects.count() == 1


# Dry run ----------------------------------------------------------------------------------------------


@pytest.fixture
def pii_operator(db):
    """A platform admin who may also see personal data unmasked."""
    from django.contrib.auth.models import Permission

    from catalog.roles import PLATFORM_ADMIN
    from tests.conftest import make_user

    user = make_user("pii_operator", PLATFORM_ADMIN)
    user.user_permissions.add(Permission.objects.get(codename="view_pii", content_type__app_label="catalog"))
    return user


def test_dry_run_page_starts_nothing_until_its_button_is_pressed(client, platform_admin, pipeline, shop):
    client.force_login(platform_admin)
    page = client.get(url("pipelines_pipeline_change", pipeline.pk)).content.decode()
    assert 'id="pipeline-dry-run"' in page
    response = client.get(url("pipelines_pipeline_dry_run", pipeline.pk))
    body = response.content.decode()
    assert 'id="dry-run-start"' in body and 'name="csrfmiddlewaretoken"' in body
    assert "rows" not in response.context and 'id="dry-run-counts"' not in body
    assert client.put(url("pipelines_pipeline_dry_run", pipeline.pk)).status_code == 405
    ran = client.post(url("pipelines_pipeline_dry_run", pipeline.pk))
    assert ran.status_code == 200 and len(ran.context["rows"]) == 3


def test_dry_run_page_says_what_it_reads_and_styles_its_button(client, platform_admin, pipeline, shop):
    client.force_login(platform_admin)
    body = client.get(url("pipelines_pipeline_dry_run", pipeline.pk)).content.decode()
    # The Start button is one of the admin's buttons, not the browser's bare one.
    assert re.search(r'<button type="submit" id="dry-run-start" class="button default">', body)
    reads = re.search(r'id="dry-run-reads">(.*?)</span>', body).group(1)
    assert "the file <code>customers.csv</code>" in reads and "query" not in reads
    by_query = Pipeline.objects.create(
        name="customers_by_query",
        target=shop.customer,
        source_kind="sql_query",
        source_datastore=shop,
        source_query="SELECT 1 AS customer_id",
    )
    body = client.get(url("pipelines_pipeline_dry_run", by_query.pk)).content.decode()
    reads = re.search(r'id="dry-run-reads">(.*?)</span>', body).group(1)
    assert f"the result of its query, which runs on the data store {shop.name}" in reads
    assert "file" not in reads


def test_the_csv_fields_are_labelled_in_a_readers_words(client, platform_admin, pipeline):
    client.force_login(platform_admin)
    page = client.get(url("pipelines_pipeline_change", pipeline.pk)).content.decode()
    assert re.search(r'<label [^>]*for="id_csv_delimiter">CSV delimiter:</label>', page)
    assert re.search(r'<label [^>]*for="id_csv_quotechar">CSV quote character:</label>', page)
    assert "Csv" not in page


def test_dry_run_shows_transformed_rows_and_the_rejects(client, pii_operator, tolerant_pipeline, shop):
    client.force_login(pii_operator)
    response = client.post(url("pipelines_pipeline_dry_run", tolerant_pipeline.pk))
    assert response.status_code == 200
    assert len(response.context["rows"]) == 3
    assert [r["row_number"] for r in response.context["rejects"]] == [4, 5]
    body = response.content.decode()
    assert "Ada Lovelace" in body  # collapse_whitespace ran
    assert "&#x27;not-an-email&#x27; does not match the pattern @" in body  # the officer may see it
    assert "&#x27;xx&#x27; is not one of: DE, FR, US" in body or "XX" in body
    assert 'id="dry-run-masked"' not in body
    assert query(shop, "SELECT count(*) FROM app.customer") == [(0,)]  # nothing was loaded


def test_dry_run_cuts_long_values_keeping_them_whole_in_the_tooltip(client, pii_operator, shop, import_root):
    long_name = "Augusta Ada King, Countess of Lovelace, née Byron"
    (import_root / "customers.csv").write_text(
        CUSTOMER_CSV + f'4,ada@example.org,"{long_name}",gb,2024-01-05,91.5,yes,2024-03-01 10:00:00\n'
    )
    pipeline = make_pipeline(shop.customer, pii_operator, reject_threshold_percent=50)
    client.force_login(pii_operator)
    body = client.post(url("pipelines_pipeline_dry_run", pipeline.pk)).content.decode()
    assert 'id="dry-run-counts">3 passed, <a href="#dry-run-rejects">1 rejected</a>.' in body
    # In the rejected row's cells (the transformed rows have the same value cut the same way).
    assert f'<span title="{html.escape(long_name)}">{html.escape(long_name[:39])}…</span>' in body


def test_dry_run_masks_personal_data_for_users_without_view_pii(client, platform_admin, tolerant_pipeline):
    client.force_login(platform_admin)
    body = client.post(url("pipelines_pipeline_dry_run", tolerant_pipeline.pk)).content.decode()
    assert 'id="dry-run-masked"' in body
    assert "not-an-email" not in body and "ada@example.com" not in body
    assert "&#x27;[redacted]&#x27; does not match the pattern @" in body
    assert "Alan Turing" in body  # not personal data


def test_dry_run_shows_why_it_could_not_read_the_source(client, platform_admin, pipeline, import_root):
    (import_root / "customers.csv").write_text("id;mail\n1;x\n")
    client.force_login(platform_admin)
    response = client.post(url("pipelines_pipeline_dry_run", pipeline.pk))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="dry-run-error"' in body and "The source has no field" in body


# Rejected rows ----------------------------------------------------------------------------------------


def download(client, run) -> list[dict]:
    response = client.get(url("pipelines_pipelinerun_rejected_csv", run.pk))
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="customers-run-{run.pk}-rejected.csv"'
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_rejected_rows_csv_masks_personal_data_for_a_platform_admin_not_for_an_officer(
    client, platform_admin, officer, tolerant_pipeline
):
    run = finished_run(tolerant_pipeline, platform_admin)
    client.force_login(platform_admin)
    masked = download(client, run)
    assert list(masked[0])[:3] == ["row_number", "reasons", "id"]
    assert [row["row_number"] for row in masked] == ["4", "5"]
    assert [row["email"] for row in masked] == ["[redacted]", "[redacted]"]
    assert masked[0]["name"] == "Bad Row"  # not personal data
    assert "email ← email: '[redacted]' does not match the pattern @" in masked[0]["reasons"]
    assert "country ← country: 'XX' is not one of: DE, FR, US" in masked[0]["reasons"]
    assert "not-an-email" not in str(masked)

    client.force_login(officer)
    plain = download(client, run)
    assert [row["email"] for row in plain] == ["not-an-email", "ada-at-example.com"]
    assert "'not-an-email' does not match the pattern @" in plain[0]["reasons"]


def test_run_page_pages_the_rejected_rows_and_masks_them(client, platform_admin, officer, shop, import_root):
    rows = "".join(
        f"{i},bad{i}-no-at,Name {i},DE,2024-01-01,1,yes,2024-01-01 00:00:00\n" for i in range(4, 64)
    )
    (import_root / "customers.csv").write_text(CUSTOMER_CSV + rows)
    pipeline = make_pipeline(shop.customer, platform_admin, reject_threshold_percent=99)
    run = finished_run(pipeline, platform_admin)
    assert run.rows_rejected == 60 and RejectedRow.objects.filter(run=run).count() == 60

    client.force_login(platform_admin)
    first = client.get(url("pipelines_pipelinerun_change", run.pk))
    assert [r["row_number"] for r in first.context["rejects"]] == list(range(4, 54))
    body = first.content.decode()
    assert 'id="run-masked"' in body and "bad4-no-at" not in body
    assert "rows 1–50 of 60" in body and 'id="run-rejects-download"' in body
    second = client.get(url("pipelines_pipelinerun_change", run.pk) + "?rejects_page=2")
    assert [r["row_number"] for r in second.context["rejects"]] == list(range(54, 64))

    client.force_login(officer)
    body = client.get(url("pipelines_pipelinerun_change", run.pk)).content.decode()
    assert "bad4-no-at" in body and 'id="run-masked"' not in body
    assert len(download(client, run)) == 60


def test_run_page_says_how_long_rejected_rows_are_kept_and_when_they_were_purged(
    client, platform_admin, shop, import_root, settings
):
    from datetime import timedelta

    from pipelines.services import quarantine_purge

    settings.CUSTODIAN_QUARANTINE_DAYS = 30
    (import_root / "customers.csv").write_text(CUSTOMER_CSV + "4,no-at,Bad,DE,,,,2024-01-01 00:00:00\n")
    run = finished_run(
        make_pipeline(shop.customer, platform_admin, reject_threshold_percent=50), platform_admin
    )
    client.force_login(platform_admin)
    page = url("pipelines_pipelinerun_change", run.pk)
    body = client.get(page).content.decode()
    kept_until = (run.finished_at + timedelta(days=30)).strftime("%Y-%m-%d")
    assert f"Kept until {kept_until} (30 days after the run)" in body and 'id="run-rejects-download"' in body

    PipelineRun.objects.filter(pk=run.pk).update(finished_at=run.finished_at - timedelta(days=31))
    assert quarantine_purge() == 1
    body = client.get(page).content.decode()
    assert 'id="run-rejects-purged"' in body and "deleted 30 days after the run" in body
    assert 'id="run-rejects-download"' not in body and "Rejected rows (1)" in body


def test_csv_cells_that_would_run_as_formulas_are_neutralised(
    client, officer, shop, import_root, platform_admin
):
    (import_root / "customers.csv").write_text(
        CUSTOMER_CSV + '4,x,"=HYPERLINK(""http://evil"")",DE,2024-01-01,-5,yes,2024-01-01 00:00:00\n'
    )
    pipeline = make_pipeline(shop.customer, platform_admin, reject_threshold_percent=50)
    run = finished_run(pipeline, platform_admin)
    client.force_login(officer)
    (row,) = download(client, run)
    assert row["name"] == '\'=HYPERLINK("http://evil")' and row["score"] == "-5"


# Lineage on catalog pages -----------------------------------------------------------------------------


def test_entity_and_column_pages_show_where_the_data_comes_from_after_a_run(
    client, steward, pipeline, platform_admin
):
    client.force_login(steward)
    entity_page = client.get(url("catalog_entity_change", pipeline.target_id)).content.decode()
    assert "Where this data comes from" in entity_page and "No pipeline has loaded" in entity_page

    run = finished_run(pipeline, platform_admin)
    assert run.status == RunStatus.SUCCEEDED
    assert LineageEdge.objects.filter(pipeline=pipeline).count() == 8
    entity_page = client.get(url("catalog_entity_change", pipeline.target_id))
    rows = entity_page.context["lineage_rows"]
    assert {(r.column, r.source_field) for r in rows} >= {("email", "email"), ("full_name", "name")}
    body = entity_page.content.decode()
    assert url("pipelines_pipeline_change", pipeline.pk) in body
    assert url("pipelines_pipelinerun_change", run.pk) in body
    assert "trim → lower" in body

    column = pipeline.target.columns.get(name="full_name")
    column_page = client.get(url("catalog_column_change", column.pk))
    (row,) = column_page.context["lineage_rows"]
    assert (row.source_field, row.steps, row.via) == ("name", "collapse_whitespace", "pipeline customers")
    assert "customers.csv" in row.source


def test_lineage_cuts_a_long_source_keeping_it_whole_in_the_tooltip(client, steward, shop, import_root):
    source = "customers_full_export_from_the_crm_2024_q4.csv"
    (import_root / source).write_text(CUSTOMER_CSV)
    pipeline = make_pipeline(shop.customer, steward, source_path=source)
    assert finished_run(pipeline, steward).status == RunStatus.SUCCEEDED
    client.force_login(steward)
    body = client.get(url("catalog_entity_change", pipeline.target_id)).content.decode()
    assert f'<td title="file:{source}">file:{source[:34]}…</td>' in body
    assert '<td class="lineage-steps">trim → lower</td>' in body  # wraps (admin.css), never cut


def test_lineage_costs_one_query_per_page_however_many_columns(
    client, steward, pipeline, platform_admin, django_assert_max_num_queries
):
    client.force_login(steward)
    page = url("catalog_entity_change", pipeline.target_id)
    with CaptureQueriesContext(connection) as before:
        client.get(page)
    finished_run(pipeline, platform_admin)
    with django_assert_max_num_queries(len(before)):
        client.get(page)


# List pages -------------------------------------------------------------------------------------------


def many_runs(pipelines: list[Pipeline], per_pipeline: int, user) -> None:
    PipelineRun.objects.bulk_create(
        PipelineRun(
            pipeline=p,
            pipeline_version=1,
            status=RunStatus.SUCCEEDED if i % 2 else RunStatus.FAILED,
            requested_by=user,
            rows_loaded=i,
        )
        for p in pipelines
        for i in range(per_pipeline)
    )


def more_pipelines(count: int, entity, user, start: int) -> list[Pipeline]:
    """Pipelines written in bulk (history is not what is measured); every other one runs after another."""
    made = Pipeline.objects.bulk_create(
        Pipeline(name=f"p{start + i}", target=entity, source_path="customers.csv", owner=user)
        for i in range(count)
    )
    for follower, leader in zip(made[1::2], made[::2], strict=False):
        follower.run_after = leader
    Pipeline.objects.bulk_update(made[1::2], ["run_after"])
    return made


@pytest.mark.parametrize("page", ["pipelines_pipeline_changelist", "pipelines_pipelinerun_changelist"])
def test_list_page_query_count_does_not_grow_with_pipelines_and_runs(
    client, platform_admin, shop, import_root, page, django_assert_max_num_queries
):
    client.force_login(platform_admin)
    many_runs(more_pipelines(2, shop.customer, platform_admin, 0), 2, platform_admin)
    with CaptureQueriesContext(connection) as small:
        assert client.get(url(page)).status_code == 200
    many_runs(more_pipelines(40, shop.customer, platform_admin, 100), 5, platform_admin)
    with django_assert_max_num_queries(len(small)):
        response = client.get(url(page))
    assert response.status_code == 200
    assert "run-badge" in response.content.decode()


def columns(page: str) -> list[str]:
    """The list page's columns, as their header classes name them."""
    return re.findall(r'<th scope="col" class="[^"]*column-(\w+)', page)


def test_pipeline_list_fits_beside_its_filters_cutting_long_text_into_tooltips(client, platform_admin, shop):
    query_text = "SELECT customer_id, email, full_name FROM app.customer WHERE active ORDER BY customer_id"
    leader = Pipeline.objects.create(
        name="customers_nightly_full_reload_from_crm",
        target=shop.customer,
        source_kind="sql_query",
        source_datastore=shop,
        source_query=query_text,
    )
    Pipeline.objects.create(name="follows", target=shop.customer, source_path="f.csv", run_after=leader)
    Pipeline.objects.create(
        name="resting", target=shop.customer, source_path="r.csv", schedule="0 2 * * *", enabled=False
    )
    client.force_login(platform_admin)
    page = client.get(url("pipelines_pipeline_changelist")).content.decode()
    assert columns(page) == [
        "name_display",
        "target_display",
        "source_display",
        "schedule_display",
        "last_run",
    ]
    assert '<span title="customers_nightly_full_reload_from_crm">customers_nightly_ful…</span>' in page
    assert f'<span title="query shop: {query_text}">query shop: SELECT custom…</span>' in page
    assert '<span title="after customers_nightly_full_reload_from_crm">after customers_night…</span>' in page
    assert '<span class="quiet" title="Disabled: 0 2 * * * is idle.">disabled</span>' in page


def test_run_list_fits_beside_its_filters_and_leaves_rows_per_second_to_the_run_page(
    client, platform_admin, pipeline
):
    run = finished_run(pipeline, platform_admin)
    client.force_login(platform_admin)
    page = client.get(url("pipelines_pipelinerun_changelist")).content.decode()
    assert columns(page) == [
        "run_label",
        "pipeline_display",
        "status_badge",
        "trigger_display",
        "started_display",
        "duration_display",
        "loaded_display",
        "rejected_display",
    ]
    assert 'Run now <span class="quiet">by platform</span>' in page
    assert timezone.localtime(run.started_at).strftime("%Y-%m-%d %H:%M") in page

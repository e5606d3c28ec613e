"""The wide admin pages fit a 1280 px window: nothing scrolls sideways, neither the page nor a table's box,
with the long names, queries and numbers a real catalog has."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from catalog.models import DataStore, Entity, StorageSample
from catalog.roles import DATA_STEWARD, PLATFORM_ADMIN
from pipelines.choices import LoadMode, RunStatus, RunTrigger, SourceKind
from pipelines.models import Pipeline, PipelineRun
from pipelines.runner import pipeline_run_execute
from pipelines.services import pipeline_run_request
from tests.conftest import make_user
from tests.e2e.conftest import queues_clear
from tests.pipelines.conftest import CUSTOMER_CSV, CUSTOMER_MAPPINGS, make_pipeline, shop  # noqa: F401
from tests.quality.conftest import dq  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

WINDOW = 1280
SOURCE_FILE = "customers_full_export_from_the_crm_2024_q4.csv"
LONG_NAME = "Augusta Ada King, Countess of Lovelace, née Byron"
# A hash a masking step would load, and rows the validation rejects, with their long reasons.
SOURCE_ROWS = (
    f'4,ada.king@example.org,"{LONG_NAME}",de,2024-01-05,91.5,yes,2024-03-01 10:00:00\n'
    "5,not-an-email-address-at-all-9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08,"
    "Bad Row,xx,2024-13-01,150,maybe,2024-03-04 10:00:00\n"
)
# Steps long enough to wrap in the lineage table.
LONG_STEPS = {
    "email": [{"op": "regex_replace", "pattern": r"\+[^@]*@", "replacement": "@"}],
    "full_name": [{"op": "regex_replace", "pattern": r"^(?i:mr|mrs|ms|dr)\.?\s+", "replacement": ""}],
}
MAPPINGS = [(column, field, steps + LONG_STEPS.get(column, [])) for column, field, steps in CUSTOMER_MAPPINGS]
QUERY = (
    "SELECT customer_id, email, full_name, country, signup_date FROM app.customer "
    "WHERE active AND updated_at > now() - interval '1 day' ORDER BY customer_id"
)

# The boxes of tables (a list page's, and the ones made to scroll) that must not scroll sideways either.
TABLE_BOXES = "#changelist .results, .table-scroll"


def catalog_build(store: DataStore, user):
    """Pipelines with long names, sources and schedules, one real run with rejects and lineage, a hundred
    finished runs by a user with a long name, and storage samples of big entities with long names. The
    pipelines that run after the real run are made after it, so that it queues none of them."""
    main = make_pipeline(
        store.customer,
        user,
        MAPPINGS,
        name="customers_nightly_full_reload_from_crm",
        source_path=SOURCE_FILE,
        reject_threshold_percent=50,
    )
    run = pipeline_run_execute(pipeline_run_request(main, user=user, enqueue=False).pk)
    assert run.status == RunStatus.SUCCEEDED and run.rows_rejected == 1, run.error
    others = [
        Pipeline.objects.create(
            name="customers_from_the_shop_database_by_query",
            target=store.customer,
            source_kind=SourceKind.SQL_QUERY,
            source_datastore=store,
            source_query=QUERY,
            schedule="*/15 6-22 * * 1-5",
        ),
        Pipeline.objects.create(
            name="customer_history_after_the_nightly_reload",
            target=store.customer,
            source_path="exports/crm/customer_history_snapshot.jsonl",
            source_kind=SourceKind.JSONL,
            load_mode=LoadMode.SCD2,
            run_after=main,
        ),
        Pipeline.objects.create(
            name="customers_archive_resting_until_next_year",
            target=store.customer,
            source_path="archive.csv",
            enabled=False,
            run_after=main,
        ),
    ]
    now = timezone.now()
    PipelineRun.objects.bulk_create(
        PipelineRun(
            pipeline=others[i % 3],
            pipeline_version=1,
            status=[RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED][i % 3],
            trigger=[RunTrigger.MANUAL, RunTrigger.DEPENDENCY, RunTrigger.RETRY][i % 3],
            requested_by=user if i % 3 != 1 else None,
            started_at=now - timedelta(hours=i, minutes=30),
            finished_at=now - timedelta(hours=i),
            rows_loaded=12_345_678 + i,
            rows_rejected=1_234_567,
            rows_per_second=123_456.7,
        )
        for i in range(100)
    )
    warehouse = DataStore.objects.create(name="analytics_warehouse", engine="postgresql")
    for i, name in enumerate(["customer_lifetime_value_snapshots", "order_line_items_by_fulfilment_centre"]):
        entity = Entity.objects.create(datastore=warehouse, name=name)
        StorageSample.objects.bulk_create(
            [
                StorageSample(entity=entity, bytes=900 * 1024**3, sampled_at=now - timedelta(days=8)),
                StorageSample(
                    entity=entity, bytes=(1000 + i) * 1024**3, rows_estimate=9_876_543_210, sampled_at=now
                ),
            ]
        )
    return main, run


@pytest.fixture
def queues_empty():
    """Jobs go through Redis here (the dashboard shows its queues): none is left for a later test's worker."""
    queues_clear()
    yield
    queues_clear()


def overflow(page, path: str, boxes: str, press: tuple[str, str] | None = None) -> dict:
    """How `path` scrolls sideways at 1280 px: the page's width, and each of `boxes` wider than itself.
    With `press` (a button, and what the page it leads to shows), the button is pressed first and the
    page it leads to is measured."""
    response = page.goto(path)
    assert response.ok, f"{path} answered {response.status}"
    if press:
        button, shown = press
        with page.expect_navigation():
            page.click(button)
        assert page.locator(shown).count() == 1, f"{path}: {button} did not lead to {shown}"
    page.wait_for_load_state("networkidle")
    return page.evaluate(
        """(selector) => ({
            page: document.documentElement.scrollWidth,
            boxes: [...document.querySelectorAll(selector)]
                .filter((box) => box.scrollWidth > box.clientWidth + 1)
                .map((box) => `${box.closest("[id]").id}: ${box.scrollWidth} px in ${box.clientWidth} px`),
        })""",
        boxes,
    )


def test_pipeline_and_run_lists_dry_run_lineage_and_storage_fit_a_1280_px_window(
    open_page,
    shop,  # noqa: F811
    import_root,
    queues_empty,
):
    (import_root / SOURCE_FILE).write_text(CUSTOMER_CSV + SOURCE_ROWS)
    operator = make_user("platform_operations_admin", PLATFORM_ADMIN)
    main, run = catalog_build(shop, operator)
    email = shop.customer.columns.get(name="email")
    # name: (page, the boxes that must not scroll, whether the page itself must fit)
    # The dry run starts with its button (a POST): its results are what must fit.
    pressed = {"dry run": ("#dry-run-start", "#dry-run-counts")}
    pages = {
        "pipelines": (reverse("admin:pipelines_pipeline_changelist"), TABLE_BOXES, True),
        "dry run": (reverse("admin:pipelines_pipeline_dry_run", args=[main.pk]), TABLE_BOXES, True),
        "runs": (reverse("admin:pipelines_pipelinerun_changelist"), TABLE_BOXES, True),
        "run": (reverse("admin:pipelines_pipelinerun_change", args=[run.pk]), TABLE_BOXES, True),
        # The jobs card's table may scroll in its box: a running run's bar and phase need more than its card.
        "dashboard": (reverse("admin:index"), "#dash-storage .table-scroll", True),
        # The entity's Columns inline may scroll in its own box (a dozen fields a row); the page must not.
        "entity lineage": (
            reverse("admin:catalog_entity_change", args=[shop.customer.pk]),
            TABLE_BOXES,
            True,
        ),
        "column lineage": (reverse("admin:catalog_column_change", args=[email.pk]), TABLE_BOXES, True),
    }
    page = open_page(operator)
    assert page.viewport_size["width"] == WINDOW
    too_wide = {}
    for name, (path, boxes, whole_page) in pages.items():
        found = overflow(page, path, boxes, pressed.get(name))
        if (whole_page and found["page"] > WINDOW) or found["boxes"]:
            too_wide[name] = found
    assert too_wide == {}

    # A steward edits the entity: every column a row of a dozen form fields, wider than the window. The
    # Columns inline scrolls in its own box; the page does not.
    steward = open_page(make_user("catalog_data_steward", DATA_STEWARD))
    found = overflow(steward, reverse("admin:catalog_entity_change", args=[shop.customer.pk]), TABLE_BOXES)
    assert found["page"] <= WINDOW and not found["boxes"], found
    columns_box = steward.evaluate(
        """() => { const box = document.querySelector("#columns-group fieldset.module");
                   return [box.scrollWidth, box.clientWidth]; }"""
    )
    assert columns_box[1] <= WINDOW, columns_box


def wide_catalog(steward):
    """An entity with the long names of a real catalog: a dozen columns, personal data, foreign keys."""
    from catalog.choices import DataType, OnDelete, PIICategory
    from catalog.models import Index, RetentionPolicy
    from catalog.services import catalog_object_save, index_columns_set
    from tests.conftest import add_column

    store = catalog_object_save(
        obj=DataStore(name="customer_relationship_management", engine="postgresql", schema_name="crm"),
        user=steward,
    )
    accounts = catalog_object_save(obj=Entity(datastore=store, name="customer_accounts_master"), user=steward)
    key = add_column(
        accounts, "customer_account_id", DataType.BIGINT, steward, primary_key_position=1, nullable=False
    )
    contacts = catalog_object_save(
        obj=Entity(datastore=store, name="customer_contact_points_history", owner=steward, legal_hold=True),
        user=steward,
    )
    add_column(contacts, "contact_point_id", DataType.BIGINT, steward, primary_key_position=1, nullable=False)
    add_column(
        contacts,
        "customer_account_id",
        DataType.BIGINT,
        steward,
        references=key,
        on_delete=OnDelete.CASCADE,
    )
    for name, pii in [
        ("primary_email_address", PIICategory.DIRECT_IDENTIFIER),
        ("secondary_email_address", PIICategory.DIRECT_IDENTIFIER),
        ("postal_address_line_1", PIICategory.QUASI_IDENTIFIER),
        ("payment_card_last_four_digits", PIICategory.FINANCIAL),
    ]:
        add_column(
            contacts, name, DataType.VARCHAR, steward, length=320, pii_category=pii, masking_strategy="hash"
        )
    recorded = add_column(contacts, "recorded_at_timestamp", DataType.TIMESTAMPTZ, steward, nullable=False)
    policy = RetentionPolicy(entity=contacts, name="contact_history", anchor_column=recorded, keep_for=2)
    catalog_object_save(obj=policy, user=steward)
    index = catalog_object_save(
        obj=Index(entity=contacts, name="customer_contact_points_history_account_recorded_idx"), user=steward
    )
    index_columns_set(
        index=index,
        key_columns=[("customer_account_id", "asc"), ("recorded_at_timestamp", "desc")],
        included_columns=["primary_email_address"],
        user=steward,
    )
    return store, contacts


def right_edges(page, selector: str) -> list[float]:
    return page.evaluate(
        "(s) => [...document.querySelectorAll(s)].map((e) => e.getBoundingClientRect().right)", selector
    )


def test_catalog_lists_and_the_entity_columns_inline_show_every_column_in_a_1280_px_window(open_page):
    steward = make_user("catalog_data_steward", DATA_STEWARD)
    store, contacts = wide_catalog(steward)
    page = open_page(steward)
    lists = {
        "entities": (reverse("admin:catalog_entity_changelist"), "th.column-legal_hold"),
        "columns": (reverse("admin:catalog_column_changelist"), "#result_list thead th:last-child"),
    }
    cut_off = {}
    for name, (path, last_header) in lists.items():
        found = overflow(page, path, TABLE_BOXES)
        if found["page"] > WINDOW or found["boxes"] or max(right_edges(page, last_header)) > WINDOW:
            cut_off[name] = {**found, "last header": right_edges(page, last_header)}
    # The entity's columns inline: the foreign key and the Delete box of every row are on screen.
    found = overflow(page, reverse("admin:catalog_entity_change", args=[contacts.pk]), TABLE_BOXES)
    edges = right_edges(page, "#columns-group tr.has_original td.field-references") + right_edges(
        page, "#columns-group tr.has_original td.delete"
    )
    box = page.evaluate(
        """() => { const box = document.querySelector("#columns-group fieldset.module");
                   return [box.scrollWidth, box.clientWidth]; }"""
    )
    if found["page"] > WINDOW or box[0] > box[1] + 1 or max(edges) > WINDOW:
        cut_off["entity columns inline"] = {**found, "box": box, "right edges": max(edges)}
    # The entity's indexes inline on the same page: the description and the Delete box of every row too.
    edges = right_edges(page, "#indexes-group tr.has_original td.field-description") + right_edges(
        page, "#indexes-group tr.has_original td.delete"
    )
    box = page.evaluate(
        """() => { const box = document.querySelector("#indexes-group fieldset.module");
                   return [box.scrollWidth, box.clientWidth]; }"""
    )
    if len(edges) != 2 or box[0] > box[1] + 1 or max(edges) > WINDOW:
        cut_off["entity indexes inline"] = {"box": box, "right edges": edges}
    assert cut_off == {}


def contrast(foreground: list[float], background: list[float]) -> float:
    def luminance(rgb):
        channels = [c / 255 for c in rgb[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted([luminance(foreground), luminance(background)], reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_pii_overviews_none_is_readable(open_page):
    from catalog.roles import COMPLIANCE_OFFICER

    steward = make_user("catalog_data_steward", DATA_STEWARD)
    store, _contacts = wide_catalog(steward)
    page = open_page(make_user("officer", COMPLIANCE_OFFICER))
    page.goto(reverse("admin:compliance_compliancereport_changelist") + f"?datastore={store.pk}")
    colours = page.evaluate(
        """() => {
            const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
            const none = document.querySelector(".compliance-ok");
            let box = none, background = "rgba(0, 0, 0, 0)";
            while (box && rgb(background)[3] === 0) {
                background = getComputedStyle(box).backgroundColor; box = box.parentElement;
            }
            return {text: none.textContent, fg: rgb(getComputedStyle(none).color), bg: rgb(background)};
        }"""
    )
    assert colours["text"] == "none"
    assert contrast(colours["fg"], colours["bg"]) >= 4.5, colours


def test_the_import_preview_and_the_er_diagram_fit_a_1280_px_window(open_page, tmp_path):
    """Issue 16 #8: a wide import preview made the page 2,243 px wide; the ER diagram was cut off unless
    'fit to page width' was ticked."""
    steward = make_user("catalog_data_steward", DATA_STEWARD)
    store, contacts = wide_catalog(steward)
    page = open_page(steward)
    header = "datastore,entity,name,data_type,length,nullable,description,pii_category,masking_strategy\n"
    rows = "".join(
        f"{store.name},{contacts.name},imported_column_with_a_long_name_{n},varchar,320,yes,"
        f"{'A description long enough to widen its cell considerably ' * 3},none,none\n"
        for n in range(5)
    )
    upload = tmp_path / "columns.csv"
    upload.write_text(header + rows)
    page.goto(reverse("admin:catalog_column_import"))
    page.set_input_files("input[name=import_file]", str(upload))
    page.select_option("select[name=format]", label="csv")
    with page.expect_navigation():
        page.click("input[type=submit]")
    assert page.locator("table.import-preview").count() == 1
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= WINDOW, f"the import preview page is {width} px wide"

    page.goto(reverse("admin:catalog_datastore_er_diagram", args=[store.pk]))
    if page.locator("#diagram-error").count():
        pytest.fail(page.locator("#diagram-error").inner_text())
    diagram = page.evaluate(
        """() => { const box = document.querySelector("#diagram");
                   return [box.scrollWidth, box.clientWidth]; }"""
    )
    assert page.is_checked("#diagram-fit-toggle")
    assert diagram[0] <= diagram[1] + 1, f"the ER diagram is cut off: {diagram}"


def test_quality_pages_and_lists_fit_a_1280_px_window(open_page, dq):  # noqa: F811
    """The trial's rules table hid its Checked column at 1280 px; a check run's results, and the Rules,
    Check runs and Incidents lists, ran past the window too."""
    from catalog.models import Column
    from quality.models import Rule
    from quality.runner import check_run_execute
    from quality.services import check_run_request

    steward = make_user("catalog_data_steward_for_quality", DATA_STEWARD)
    customer = dq.customer
    for column in Column.objects.filter(entity=customer):
        Rule.objects.create(
            entity=customer,
            name=f"{column.name}_written_by_the_steward_after_the_quarterly_review",
            kind="not_null",
            columns=[column.name],
            description="A rule with the long name a real catalog has.",
        )
    runs = [
        check_run_execute(check_run_request(datastore=dq, entity=customer, user=steward, enqueue=False).pk)
        for _ in range(2)
    ]
    assert runs[-1].status == "succeeded", runs[-1].error
    pages = {
        "entity quality": reverse("admin:quality_entity", args=[customer.pk]),
        "check run": reverse("admin:quality_checkrun_change", args=[runs[-1].pk]),
        "rules": reverse("admin:quality_rule_changelist"),
        "check runs": reverse("admin:quality_checkrun_changelist"),
        "incidents": reverse("admin:quality_incident_changelist"),
    }
    page = open_page(steward)
    too_wide = {}
    for name, path in pages.items():
        found = overflow(page, path, TABLE_BOXES)
        if found["page"] > WINDOW or found["boxes"]:
            too_wide[name] = found
    assert too_wide == {}


def test_a_pipelines_description_shows_its_lines_whole(open_page, shop):  # noqa: F811
    """The trial's Description box was two rows high, its text clipped mid-line."""
    description = (
        "Demo: the product list a supplier sends as CSV (decimal commas, dd.mm.yyyy dates), upserted into "
        "the shop's products; its 40 rows include two errors (a negative price, a 31 February) and a SKU "
        "with a trailing space."
    )
    pipeline = Pipeline.objects.create(name="demo_products", target=shop.customer, description=description)
    page = open_page(make_user("platform_operations_admin", PLATFORM_ADMIN))
    page.goto(reverse("admin:pipelines_pipeline_change", args=[pipeline.pk]))
    box = page.evaluate(
        """() => { const box = document.querySelector("textarea[name=description]");
                   return [box.scrollHeight, box.clientHeight]; }"""
    )
    assert box[0] <= box[1], f"the description needs {box[0]} px in a box of {box[1]} px"


def test_the_dashboards_retention_card_shows_its_when_column_in_a_1280_px_window(open_page):
    from catalog.roles import COMPLIANCE_OFFICER
    from compliance.models import RetentionExecution

    # The demo's dry runs: the card's table cut its WHEN column off
    for name, entity, status in [
        ("old addresses", "addresses", "blocked"),
        ("closed accounts", "customers", "blocked"),
        ("inactive accounts", "users", "failed"),
        ("card data", "payments", "succeeded"),
    ]:
        RetentionExecution.objects.create(
            policy_version=1,
            policy_name=name,
            datastore_name="shop",
            entity_name=entity,
            action="anonymize",
            status=status,
            dry_run=True,
        )
    page = open_page(make_user("officer", COMPLIANCE_OFFICER))
    found = overflow(page, reverse("admin:index"), "#dash-retention .table-scroll")
    last_header = right_edges(page, "#dash-retention-table thead th:last-child")
    card = right_edges(page, "#dash-retention")
    assert found["page"] <= WINDOW and not found["boxes"] and last_header[0] <= card[0], (found, last_header)


def test_a_subject_requests_found_rows_show_every_column_in_a_1280_px_window(
    open_page,
    target_store,  # noqa: F811
):
    from catalog.roles import COMPLIANCE_OFFICER
    from catalog.schema.apply import schema_apply_execute
    from catalog.schema.releases import release_publish
    from compliance.subjects import subject_request_create, subject_request_find
    from tests.catalog.schema.conftest import run_sql
    from tests.compliance.conftest import ROWS, _catalog
    from tests.pipelines.conftest import store_url

    # The compliance tests' shop, its customers' masked e-mail a 64-character hash: the table ran past its
    # box, its last column cut off
    steward = make_user("catalog_data_steward", DATA_STEWARD)
    store = target_store("shop", "app")
    _catalog(store, steward)
    release_publish(datastore=store, user=steward, message="shop")
    schema_apply_execute(datastore=store, target_version=1, user=steward)
    run_sql(store_url(store), ROWS)
    officer = make_user("officer", COMPLIANCE_OFFICER)
    request = subject_request_create(datastore=store, identifier="ada@example.com", user=officer)
    subject_request_find(request=request, user=officer)
    page = open_page(officer)
    found = overflow(page, reverse("admin:compliance_subjectrequest_change", args=[request.pk]), TABLE_BOXES)
    tables = page.evaluate("() => document.querySelectorAll('.request-rows .table-scroll').length")
    assert tables >= 4 and found["page"] <= WINDOW and not found["boxes"], found

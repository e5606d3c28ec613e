"""Schema admin pages on real PostgreSQL: DDL, publishing and reading releases, applies, drift, roles."""

import html
import os

import pytest
import sqlalchemy as sa
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import strip_tags

from catalog.demo import demo_load
from catalog.models import DataStore, Entity, SchemaApply, SchemaRelease
from catalog.schema.ddl import ddl_render, schema_ddl
from catalog.schema.dialects import profile_for
from catalog.schema.releases import release_publish
from catalog.schema.snapshot import snapshot_build
from catalog.services import catalog_object_save, column_delete
from core.choices import RunStatus
from tests.catalog.schema.conftest import run_sql
from tests.conftest import add_column

OK, DENIED, MOVED = 200, 403, 302


def url(name, *args):
    return reverse(f"admin:{name}", args=args)


def shown(response, start_marker: str = "") -> str:
    """The page's text as a reader sees it (tags dropped, entities decoded), from `start_marker` on."""
    page = response.content.decode()
    if start_marker:
        assert start_marker in page, f"{start_marker!r} not on the page"
        page = page[page.index(start_marker) :]
    return html.unescape(strip_tags(page))


def messages_of(response) -> list[str]:
    return [strip_tags(str(m)) for m in response.context["messages"]]


@pytest.fixture
def demo(db):
    demo_load()
    return DataStore.objects.get(name="shop")


def build_target(store, steward) -> None:
    """customer(id PK, email varchar(100), nickname varchar(20)) in a data store."""
    customer = catalog_object_save(obj=Entity(datastore=store, name="customer"), user=steward)
    add_column(customer, "id", "bigint", steward, primary_key_position=1, nullable=False)
    add_column(customer, "email", "varchar", steward, length=100)
    add_column(customer, "nickname", "varchar", steward, length=20)


def target_tables(store, schema: str = "app") -> dict[str, list[str]]:
    engine = sa.create_engine(os.environ[store.url_env])
    inspector = sa.inspect(engine)
    tables = {
        table: [c["name"] for c in inspector.get_columns(table, schema=schema)]
        for table in inspector.get_table_names(schema=schema)
    }
    engine.dispose()
    return tables


# DDL preview


@pytest.mark.parametrize(
    "dialect, create_orders",
    [
        ("postgresql", 'CREATE TABLE "shop"."orders"'),
        ("sqlite", 'CREATE TABLE "orders"'),
        ("mysql", "CREATE TABLE `shop`.`orders`"),
        ("sqlserver", "CREATE TABLE [shop].[orders]"),
    ],
)
def test_data_store_ddl_page_shows_highlighted_sql_in_every_dialect(
    client, demo, steward, dialect, create_orders
):
    client.force_login(steward)
    response = client.get(url("catalog_datastore_ddl", demo.pk), {"dialect": dialect})
    assert response.status_code == 200
    page = response.content.decode()
    assert '<div class="ddl"><pre>' in page and '<span class="k">CREATE</span>' in page
    assert ".ddl .k {" in page  # the formatter's style rules come with the page
    script = shown(response, '<div id="ddl-script">')
    assert create_orders in script
    for table in ("users", "customers", "addresses", "products", "order_items", "payments"):
        assert table in script
    assert 'id="ddl-error"' not in page


def test_ddl_page_defaults_to_the_engine_of_the_store_and_downloads_the_same_script(client, demo, officer):
    client.force_login(officer)
    page = client.get(url("catalog_datastore_ddl", demo.pk))
    assert page.context["dialect"] == "postgresql"
    download = client.get(url("catalog_datastore_ddl", demo.pk), {"dialect": "sqlite", "download": "1"})
    assert download.status_code == 200
    assert download["Content-Disposition"] == 'attachment; filename="shop_sqlite.sql"'
    expected = ddl_render(schema_ddl(snapshot_build(demo), profile_for("sqlite")))
    assert download.content.decode() == expected


def test_what_a_dialect_cannot_express_is_an_error_on_the_page(client, demo, steward):
    products = Entity.objects.get(datastore=demo, name="products")
    add_column(products, "notes", "text", steward, is_unique=True)
    client.force_login(steward)
    response = client.get(url("catalog_datastore_ddl", demo.pk), {"dialect": "mysql"})
    assert response.status_code == 200
    assert "MySQL cannot key or make unique the notes column" in shown(response, 'id="ddl-error"')
    assert 'id="ddl-script"' not in response.content.decode()
    # A download of what cannot be written is the page with the error, not an empty file.
    download = client.get(url("catalog_datastore_ddl", demo.pk), {"dialect": "mysql", "download": "1"})
    assert "Content-Disposition" not in download and 'id="ddl-error"' in download.content.decode()


def test_an_unknown_dialect_is_an_error_on_the_page(client, demo, steward):
    client.force_login(steward)
    response = client.get(url("catalog_datastore_ddl", demo.pk), {"dialect": "oracle<script>"})
    assert response.status_code == 200
    assert "is not a supported dialect" in shown(response, 'id="ddl-error"')
    assert "oracle<script>" not in response.content.decode()


def test_entity_ddl_page_shows_only_that_entity(client, demo, steward):
    orders = Entity.objects.get(datastore=demo, name="orders")
    client.force_login(steward)
    response = client.get(url("catalog_entity_ddl", orders.pk))
    script = shown(response, '<div id="ddl-script">')
    assert 'CREATE TABLE "shop"."orders"' in script
    assert 'CREATE INDEX "orders_open_idx"' in script
    assert 'REFERENCES "shop"."customers"' in script
    assert 'CREATE TABLE "shop"."customers"' not in script and '"shop"."payments"' not in script
    download = client.get(url("catalog_entity_ddl", orders.pk), {"dialect": "mysql", "download": "1"})
    assert download["Content-Disposition"] == 'attachment; filename="shop_orders_mysql.sql"'


@pytest.mark.parametrize(
    "page, link_id",
    [("catalog_datastore_change", "datastore-ddl"), ("catalog_entity_change", "entity-ddl")],
)
def test_change_pages_link_to_their_ddl(client, customer, officer, page, link_id):
    client.force_login(officer)
    obj = customer.datastore if page == "catalog_datastore_change" else customer
    response = client.get(url(page, obj.pk))
    ddl_page = "catalog_datastore_ddl" if page == "catalog_datastore_change" else "catalog_entity_ddl"
    assert f'href="{url(ddl_page, obj.pk)}" id="{link_id}"' in response.content.decode()


# Publishing


def publish_url(store) -> str:
    return f"{url('catalog_schemarelease_publish')}?datastore={store.pk}"


def test_steward_previews_and_publishes_the_first_release(client, customer, steward):
    store = customer.datastore
    client.force_login(steward)
    page = client.get(publish_url(store))
    assert page.status_code == 200
    text = shown(page, 'id="release-changes"')
    assert "table customer added (3 columns)" in text
    assert 'CREATE TABLE "public"."customer"' in shown(page, 'id="publish-up-sql"')
    assert "confirm_errors" not in page.context["form"].fields
    response = client.post(
        publish_url(store), {"message": "First cut", "checksum": page.context["preview"].checksum}
    )
    release = SchemaRelease.objects.get(datastore=store)
    assert response.status_code == MOVED and response["Location"] == url(
        "catalog_schemarelease_change", release.pk
    )
    assert (release.version, release.message, release.created_by) == (1, "First cut", steward)
    assert not release.has_lint_errors and not release.destructive_confirmed
    followed = client.get(response["Location"])
    assert "Published shop v1: First cut" in messages_of(followed)


def drop_created_at(customer, steward) -> str:
    release_publish(datastore=customer.datastore, user=steward, message="First cut")
    column_delete(column=customer.columns.get(name="created_at"), user=steward)
    return "Dropping customer.created_at deletes its values"


def test_a_destructive_release_without_confirmation_shows_the_lint_error_and_makes_nothing(
    client, customer, steward
):
    finding = drop_created_at(customer, steward)
    client.force_login(steward)
    page = client.get(publish_url(customer.datastore))
    assert finding in shown(page, 'id="release-findings"')
    assert 'class="lint-badge lint-error"' in page.content.decode()
    assert "confirm_errors" in page.context["form"].fields
    checksum = page.context["preview"].checksum
    response = client.post(
        publish_url(customer.datastore), {"message": "Drop created_at", "checksum": checksum}
    )
    assert response.status_code == 200
    errors = shown(response, 'id="publish-form-errors"')
    assert "Release 2 of 'shop' needs confirmation" in errors and finding in errors
    assert list(SchemaRelease.objects.values_list("version", flat=True)) == [1]


def test_a_confirmed_destructive_release_records_the_confirmation(client, customer, steward):
    drop_created_at(customer, steward)
    client.force_login(steward)
    checksum = client.get(publish_url(customer.datastore)).context["preview"].checksum
    response = client.post(
        publish_url(customer.datastore),
        {"message": "Drop created_at", "checksum": checksum, "confirm_errors": "on"},
    )
    assert response.status_code == MOVED
    release = SchemaRelease.objects.get(version=2)
    assert release.has_lint_errors and release.destructive_confirmed
    assert 'DROP COLUMN "created_at"' in release.up_sql


def test_a_catalog_changed_since_the_preview_is_not_published_unseen(client, customer, steward):
    client.force_login(steward)
    checksum = client.get(publish_url(customer.datastore)).context["preview"].checksum
    add_column(customer, "nickname", "varchar", steward, length=20)
    response = client.post(publish_url(customer.datastore), {"message": "First cut", "checksum": checksum})
    assert response.status_code == 200
    assert "changed after you opened this page" in shown(response, 'id="publish-form-errors"')
    assert "table customer added (4 columns)" in shown(response, 'id="release-changes"')
    assert not SchemaRelease.objects.exists()


def test_nothing_to_publish_shows_no_form(client, customer, steward):
    release_publish(datastore=customer.datastore, user=steward, message="First cut")
    client.force_login(steward)
    page = client.get(publish_url(customer.datastore))
    assert "Nothing changed in 'shop' since version 1" in shown(page, 'id="publish-unchanged"')
    assert page.context["form"] is None
    response = client.post(publish_url(customer.datastore), {"message": "Again", "checksum": "x"})
    assert response.status_code == 200 and SchemaRelease.objects.count() == 1


def test_a_store_the_dialect_cannot_express_shows_the_error_instead_of_a_preview(client, customer, steward):
    store = customer.datastore
    store.engine, store.schema_name = "mysql", "shop"
    catalog_object_save(obj=store, user=steward)
    add_column(customer, "notes", "text", steward, is_unique=True)
    client.force_login(steward)
    page = client.get(publish_url(store))
    assert page.status_code == 200
    assert "MySQL cannot key or make unique the notes column" in shown(page, 'id="publish-error"')
    assert page.context["form"] is None


def test_the_release_list_and_add_button_lead_to_the_publish_page(client, customer, steward):
    client.force_login(steward)
    listing = client.get(url("catalog_schemarelease_changelist"))
    assert f'href="{url("catalog_schemarelease_publish")}"' in listing.content.decode()
    assert client.get(url("catalog_schemarelease_add"))["Location"] == url("catalog_schemarelease_publish")
    store_page = client.get(url("catalog_datastore_change", customer.datastore_id)).content.decode()
    assert f'href="{publish_url(customer.datastore)}"' in store_page


# Reading releases


@pytest.fixture
def two_releases(customer, steward):
    v1 = release_publish(datastore=customer.datastore, user=steward, message="First cut")
    column_delete(column=customer.columns.get(name="created_at"), user=steward)
    v2 = release_publish(
        datastore=customer.datastore, user=steward, message="Drop created_at!", allow_destructive=True
    )
    return v1, v2


def test_release_page_shows_changes_findings_and_both_scripts(client, two_releases, officer):
    _v1, v2 = two_releases
    client.force_login(officer)
    response = client.get(url("catalog_schemarelease_change", v2.pk))
    assert response.status_code == 200
    assert "customer.created_at dropped" in shown(response, 'id="release-changes"')
    assert "Dropping customer.created_at deletes its values" in shown(response, 'id="release-findings"')
    assert '<span class="lint-badge lint-error">error</span>' in response.content.decode()
    up = shown(response, 'id="release-up-sql"')
    assert 'ALTER TABLE "public"."customer" DROP COLUMN "created_at"' in up
    down = shown(response, 'id="release-down-sql"')
    assert 'ALTER TABLE "public"."customer" ADD COLUMN "created_at"' in down
    page = response.content.decode()
    assert "V2__drop_created_at.sql" in page and "U2__drop_created_at.sql" in page
    assert 'id="release-apply"' not in page  # officers read releases; platform admins apply them


@pytest.mark.parametrize(
    "direction, filename", [("up", "V2__drop_created_at.sql"), ("down", "U2__drop_created_at.sql")]
)
def test_release_downloads_are_flyway_files(client, two_releases, steward, direction, filename):
    _v1, v2 = two_releases
    client.force_login(steward)
    response = client.get(url("catalog_schemarelease_download", v2.pk, direction))
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{filename}"'
    assert response.content.decode() == (v2.up_sql if direction == "up" else v2.down_sql)
    assert client.get(url("catalog_schemarelease_download", v2.pk, "sideways")).status_code == 404


@pytest.mark.parametrize("who", ["steward", "platform", "superuser"])
def test_nobody_changes_or_deletes_a_release(client, two_releases, who, request):
    _v1, v2 = two_releases
    client.force_login(request.getfixturevalue({"platform": "platform_admin"}.get(who, who)))
    page = client.get(url("catalog_schemarelease_change", v2.pk))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert url("catalog_schemarelease_delete", v2.pk) not in page.content.decode()
    changed = client.post(url("catalog_schemarelease_change", v2.pk), {"message": "rewritten"})
    assert changed.status_code == DENIED
    assert client.post(url("catalog_schemarelease_delete", v2.pk), {"post": "yes"}).status_code == DENIED
    v2.refresh_from_db()
    assert v2.message == "Drop created_at!" and SchemaRelease.objects.count() == 2


# Applying


@pytest.fixture
def jobs_in_process(settings):
    settings.CUSTODIAN_JOBS_SYNC = True


def post_apply(client, release, django_capture_on_commit_callbacks):
    # The job is queued on commit; the test's transaction never commits, so run its callbacks here.
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(url("catalog_schemarelease_apply", release.pk), {"confirm": "1"})


def test_platform_admin_applies_a_release_to_the_target(
    client, target_store, steward, platform_admin, jobs_in_process, django_capture_on_commit_callbacks
):
    store = target_store()
    build_target(store, steward)
    v1 = release_publish(datastore=store, user=steward, message="First cut")
    client.force_login(platform_admin)
    page = client.get(url("catalog_schemarelease_change", v1.pk))
    assert "No apply to 'target' has succeeded yet." in shown(page, 'id="release-apply"')
    assert 'value="Apply to target"' in page.content.decode()
    response = post_apply(client, v1, django_capture_on_commit_callbacks)
    run = SchemaApply.objects.get()
    assert response.status_code == MOVED and response["Location"] == url("catalog_schemaapply_change", run.pk)
    assert (run.status, run.release, run.requested_by, run.from_version) == (
        RunStatus.SUCCEEDED,
        v1,
        platform_admin,
        0,
    )
    assert run.statements_run == len(v1.up_statements) > 0
    assert target_tables(store)["customer"] == ["id", "email", "nickname"]
    run_page = client.get(response["Location"])
    assert "Succeeded" in shown(run_page)
    assert 'CREATE TABLE "app"."customer"' in shown(run_page, 'id="apply-log"')
    again = client.get(url("catalog_schemarelease_change", v1.pk))
    assert "was last brought to version 1" in shown(again, 'id="release-apply"')


def test_applying_an_older_release_rolls_the_target_back(
    client, target_store, steward, platform_admin, jobs_in_process, django_capture_on_commit_callbacks
):
    store = target_store()
    build_target(store, steward)
    v1 = release_publish(datastore=store, user=steward, message="First cut")
    add_column(Entity.objects.get(datastore=store, name="customer"), "score", "integer", steward)
    v2 = release_publish(datastore=store, user=steward, message="Score")
    client.force_login(platform_admin)
    post_apply(client, v2, django_capture_on_commit_callbacks)
    assert target_tables(store)["customer"] == ["id", "email", "nickname", "score"]
    page = client.get(url("catalog_schemarelease_change", v1.pk))
    assert "Applying this release rolls it back to version 1" in shown(page, 'id="release-apply"')
    post_apply(client, v1, django_capture_on_commit_callbacks)
    rollback = SchemaApply.objects.get(release=v1)
    assert (rollback.status, rollback.from_version) == (RunStatus.SUCCEEDED, 2), rollback.error
    assert target_tables(store)["customer"] == ["id", "email", "nickname"]


def test_an_unreachable_store_is_a_failed_run_with_its_reason(
    client,
    target_store,
    steward,
    platform_admin,
    jobs_in_process,
    django_capture_on_commit_callbacks,
    monkeypatch,
):
    store = target_store()
    build_target(store, steward)
    v1 = release_publish(datastore=store, user=steward, message="First cut")
    monkeypatch.delenv(store.url_env)
    client.force_login(platform_admin)
    response = post_apply(client, v1, django_capture_on_commit_callbacks)
    run = SchemaApply.objects.get()
    assert run.status == RunStatus.FAILED
    reason = f"reads its URL from ${store.url_env}, which is not set in this process's environment"
    assert reason in run.error
    run_page = client.get(response["Location"])
    assert "Failed" in shown(run_page) and reason in shown(run_page, 'id="apply-error"')


def test_a_second_apply_while_one_is_queued_is_refused_with_the_reason(client, two_releases, platform_admin):
    _v1, v2 = two_releases
    client.force_login(platform_admin)
    client.post(url("catalog_schemarelease_apply", v2.pk), {"confirm": "1"})  # stays queued: never committed
    response = client.post(url("catalog_schemarelease_apply", v2.pk), {"confirm": "1"}, follow=True)
    assert "An apply to 'shop' is already queued or running." in messages_of(response)
    assert SchemaApply.objects.count() == 1


def test_apply_is_a_post(client, two_releases, platform_admin):
    client.force_login(platform_admin)
    assert client.get(url("catalog_schemarelease_apply", two_releases[1].pk)).status_code == 405
    assert not SchemaApply.objects.exists()


def test_data_store_action_applies_the_newest_release(
    client, target_store, steward, platform_admin, jobs_in_process, django_capture_on_commit_callbacks
):
    store = target_store()
    build_target(store, steward)
    v1 = release_publish(datastore=store, user=steward, message="First cut")
    client.force_login(platform_admin)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            url("catalog_datastore_changelist"),
            {"action": "apply_newest_release", "_selected_action": [store.pk]},
        )
    assert SchemaApply.objects.get().release == v1
    assert SchemaApply.objects.get().status == RunStatus.SUCCEEDED
    assert "customer" in target_tables(store)


@pytest.mark.parametrize("role", ["steward", "officer"])
def test_data_store_apply_action_is_only_for_platform_admins(role_client, two_releases, role):
    listing = role_client(role).get(url("catalog_datastore_changelist"))
    assert "apply_newest_release" not in listing.content.decode()
    role_client(role).post(
        url("catalog_datastore_changelist"),
        {"action": "apply_newest_release", "_selected_action": [two_releases[1].datastore_id]},
    )
    assert not SchemaApply.objects.exists()


# Drift


def test_drift_page_of_a_store_never_applied_shows_the_reason(client, target_store, steward):
    store = target_store()
    client.force_login(steward)
    response = client.post(url("catalog_datastore_drift", store.pk))
    assert response.status_code == 200
    assert response.context["error"] and response.context["error"] in html.unescape(response.content.decode())
    assert 'id="drift-none"' not in response.content.decode()


def test_drift_page_lists_what_differs_after_a_manual_change(
    client, target_store, steward, platform_admin, jobs_in_process, django_capture_on_commit_callbacks
):
    store = target_store()
    build_target(store, steward)
    v1 = release_publish(datastore=store, user=steward, message="First cut")
    client.force_login(platform_admin)
    post_apply(client, v1, django_capture_on_commit_callbacks)
    offered = client.get(url("catalog_datastore_drift", store.pk))  # opening the page connects to nothing
    assert 'id="drift-check"' in offered.content.decode() and offered.context["report"] is None
    clean = client.post(url("catalog_datastore_drift", store.pk))
    assert "No drift" in shown(clean, 'id="drift-none"')
    run_sql(os.environ[store.url_env], "ALTER TABLE app.customer ADD COLUMN sneaky integer")
    drifted = client.post(url("catalog_datastore_drift", store.pk))
    assert "sneaky" in shown(drifted, 'id="drift-report"')
    assert 'id="drift-none"' not in drifted.content.decode()


# Roles


@pytest.fixture
def schema_objects(customer, steward):
    release = release_publish(datastore=customer.datastore, user=steward, message="First cut")
    run = SchemaApply.objects.create(datastore=customer.datastore, release=release, requested_by=steward)
    return {"store": customer.datastore, "entity": customer, "release": release, "run": run}


ALL = {"steward": OK, "officer": OK, "platform": OK}
# page -> (URL from the objects, expected status of a GET per role)
PAGES = {
    "store DDL": (lambda o: url("catalog_datastore_ddl", o["store"].pk), ALL),
    "entity DDL": (lambda o: url("catalog_entity_ddl", o["entity"].pk), ALL),
    "drift": (lambda o: url("catalog_datastore_drift", o["store"].pk), ALL),
    "release list": (lambda o: url("catalog_schemarelease_changelist"), ALL),
    "release page": (lambda o: url("catalog_schemarelease_change", o["release"].pk), ALL),
    "release download": (lambda o: url("catalog_schemarelease_download", o["release"].pk, "up"), ALL),
    "publish": (
        lambda o: publish_url(o["store"]),
        {"steward": OK, "officer": DENIED, "platform": DENIED},
    ),
    "release add": (
        lambda o: url("catalog_schemarelease_add"),
        {"steward": MOVED, "officer": DENIED, "platform": DENIED},
    ),
    "release delete": (
        lambda o: url("catalog_schemarelease_delete", o["release"].pk),
        {"steward": DENIED, "officer": DENIED, "platform": DENIED},
    ),
    "apply list": (lambda o: url("catalog_schemaapply_changelist"), ALL),
    "apply page": (lambda o: url("catalog_schemaapply_change", o["run"].pk), ALL),
    "apply add": (
        lambda o: url("catalog_schemaapply_add"),
        {"steward": DENIED, "officer": DENIED, "platform": DENIED},
    ),
}


@pytest.mark.parametrize(
    "page, role, expected",
    [(page, role, status) for page, (_url, roles) in PAGES.items() for role, status in roles.items()],
)
def test_role_schema_page_access(role_client, schema_objects, page, role, expected):
    page_url, _roles = PAGES[page]
    assert role_client(role).get(page_url(schema_objects)).status_code == expected


@pytest.mark.parametrize("role, expected", [("steward", DENIED), ("officer", DENIED), ("platform", MOVED)])
def test_role_apply(role_client, schema_objects, role, expected):
    response = role_client(role).post(
        url("catalog_schemarelease_apply", schema_objects["release"].pk), {"confirm": "1"}
    )
    assert response.status_code == expected
    # The fixture's run is still queued, so even the platform admin's request records no second one.
    assert SchemaApply.objects.count() == 1


# Which schema links a role sees on a data store's page and on a release's page.
LINKS = [
    ("datastore-publish", {"steward": True, "officer": False, "platform": False}),
    ("datastore-drift", {"steward": True, "officer": True, "platform": True}),
    ("datastore-releases", {"steward": True, "officer": True, "platform": True}),
    ("release-apply", {"steward": False, "officer": False, "platform": True}),
]


@pytest.mark.parametrize(
    "link, role, visible", [(link, role, shown) for link, roles in LINKS for role, shown in roles.items()]
)
def test_role_schema_links(role_client, schema_objects, link, role, visible):
    page = "catalog_datastore_change" if link.startswith("datastore") else "catalog_schemarelease_change"
    obj = schema_objects["store"] if link.startswith("datastore") else schema_objects["release"]
    response = role_client(role).get(url(page, obj.pk))
    assert (f'id="{link}"' in response.content.decode()) is visible


# Query counts


def add_releases(store, user, count: int) -> None:
    """`count` more releases and applies of `store`, in bulk, each carrying large scripts."""
    start = SchemaRelease.objects.filter(datastore=store).count()
    big = "-- filler\n" * 5000
    releases = SchemaRelease.objects.bulk_create(
        SchemaRelease(
            datastore=store,
            version=start + i + 1,
            message=f"Release {start + i + 1}",
            dialect="postgresql",
            snapshot={"filler": big},
            checksum=f"{start + i:064d}",
            changes=[{"kind": "table_added", "entity": "t", "text": "table t added"}],
            up_sql=big,
            down_sql=big,
            up_statements=[big],
            down_statements=[big],
            created_by=user,
        )
        for i in range(count)
    )
    SchemaApply.objects.bulk_create(
        SchemaApply(datastore=store, release=release, requested_by=user, status=RunStatus.SUCCEEDED, log=big)
        for release in releases
    )


def list_queries(client, page) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url(page))
    assert response.status_code == 200
    return [query["sql"] for query in captured]


@pytest.mark.parametrize("page", ["catalog_schemarelease_changelist", "catalog_schemaapply_changelist"])
def test_release_and_apply_lists_cost_the_same_queries_for_2_and_30_rows(client, superuser, page):
    stores = [
        catalog_object_save(obj=DataStore(name=name, engine="postgresql"), user=superuser)
        for name in ("a", "b")
    ]
    client.force_login(superuser)
    add_releases(stores[0], superuser, 1)
    add_releases(stores[1], superuser, 1)
    small = list_queries(client, page)
    add_releases(stores[0], superuser, 14)
    add_releases(stores[1], superuser, 14)
    large = list_queries(client, page)
    assert len(large) == len(small)
    print(f"{page}: {len(small)} queries")
    table = "catalog_schemarelease" if "schemarelease" in page else "catalog_schemaapply"
    listing = next(sql for sql in large if sql.split(maxsplit=2)[:2] == ["SELECT", f'"{table}"."id",'])
    for column in ("up_sql", "down_sql", "snapshot", "up_statements", "down_statements", '"log"'):
        assert column not in listing, f"the list loads {column}"


def test_apply_without_the_confirmation_changes_nothing(client, two_releases, platform_admin):
    _v1, v2 = two_releases
    client.force_login(platform_admin)
    response = client.post(url("catalog_schemarelease_apply", v2.pk), follow=True)
    assert any(m.startswith("Nothing was applied") for m in messages_of(response))
    assert not SchemaApply.objects.exists()

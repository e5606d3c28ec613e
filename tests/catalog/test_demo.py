"""The demo catalog loads, is realistic, and loading it again changes nothing."""

import io

from django.contrib.auth import get_user_model
from django.core.management import call_command

from catalog.models import Column, Entity, RetentionPolicy
from catalog.selectors import audit_models


def history_rows() -> int:
    return sum(model.objects.count() for model in audit_models().values())


def test_load_demo_is_idempotent_and_writes_no_history_the_second_time(db):
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    assert "2 data stores, 11 entities" in out.getvalue()
    before = history_rows()
    call_command("load_demo", stdout=io.StringIO())
    assert history_rows() == before


def test_demo_has_both_stores_pii_retention_owners_and_foreign_keys(db):
    call_command("load_demo", stdout=io.StringIO())
    shop = set(Entity.objects.filter(datastore__name="shop").values_list("name", flat=True))
    assert shop == {"users", "customers", "addresses", "products", "orders", "order_items", "payments"}
    warehouse = set(Entity.objects.filter(datastore__name="warehouse").values_list("name", flat=True))
    assert warehouse == {"fact_sales", "dim_customer", "dim_product", "dim_date"}
    assert Column.objects.exclude(pii_category="none").count() >= 10
    assert not Entity.objects.filter(owner__isnull=True).exists()
    assert RetentionPolicy.objects.filter(regulation__code="GDPR").exists()
    fk = Column.objects.get(entity__name="orders", name="customer_id")
    assert str(fk.references) == "customers.id" and fk.on_delete == "restrict"
    assert Column.objects.filter(entity__name="order_items", primary_key_position__isnull=False).count() == 2


def test_demo_admin_prints_a_password_that_signs_in(db, client):
    call_command("load_demo", stdout=io.StringIO())
    out = io.StringIO()
    call_command("demo_admin", stdout=out)
    password = out.getvalue().strip().rsplit(" ", 1)[-1]
    assert client.login(username="admin", password=password)
    assert client.login(username="demo_officer", password=password)
    assert get_user_model().objects.get(username="admin").is_superuser


def test_demo_database_is_created_once_and_an_unreachable_server_only_says_so():
    import io
    import uuid

    import psycopg
    import psycopg.sql
    from django.core.management import call_command

    name = f"custodian_demo_test_{uuid.uuid4().hex[:8]}"
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"

    def run(target: str) -> str:
        out = io.StringIO()
        call_command("demo_database", target, stdout=out)
        return out.getvalue()

    try:
        assert f"Created the demo database {name}." in run(url)
        assert f"The demo database {name} is there." in run(url)
    finally:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as server:
            server.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {}").format(psycopg.sql.Identifier(name)))
    assert "No demo database (" in run("postgresql://postgres@127.0.0.1:1/custodian_demo")


def test_the_demo_comes_with_the_quality_rules_its_catalog_implies(db):
    from quality.models import Rule

    out = io.StringIO()
    call_command("load_demo", stdout=out)
    implied = Rule.objects.filter(origin="catalog")
    assert implied.filter(entity__name="fact_sales").count() == 12  # as its quality page would show
    assert f"{implied.count()} implied quality rules" in out.getvalue()
    call_command("load_demo", stdout=io.StringIO())
    assert Rule.objects.filter(origin="catalog").count() == implied.count()


def test_running_make_run_again_changes_nothing_that_is_already_there(db, client):
    """load_demo and demo_admin, as `make run` starts them again: a steward's edits stay, no history row is
    written and a signed-in session still works."""
    from catalog.models import Domain, Index
    from catalog.services import catalog_object_save
    from pipelines.models import Pipeline
    from quality.models import Rule

    call_command("load_demo", stdout=io.StringIO())
    first = io.StringIO()
    call_command("demo_admin", stdout=first)
    password = first.getvalue().strip().rsplit(" ", 1)[-1]
    steward = get_user_model().objects.get(username="demo_steward")
    assert client.login(username="demo_steward", password=password)
    # The steward's edits, one per kind of object the demo adds
    domain = Domain.objects.get(name="Customers")
    domain.description = "Edited by the steward."
    catalog_object_save(obj=domain, user=steward)
    entity = Entity.objects.get(datastore__name="shop", name="customers")
    entity.description, entity.owner = "Our customers.", None
    catalog_object_save(obj=entity, user=steward)
    column = Column.objects.get(entity=entity, name="phone")
    column.length, column.references = 40, None
    catalog_object_save(obj=column, user=steward)
    fk = Column.objects.get(entity__name="orders", name="customer_id")
    fk.on_delete = "cascade"
    catalog_object_save(obj=fk, user=steward)
    index = Index.objects.get(name="orders_open_idx")
    index.condition = "status = 'new'"
    catalog_object_save(obj=index, user=steward)
    policy = RetentionPolicy.objects.get(name="closed accounts")
    policy.keep_for = 3
    catalog_object_save(obj=policy, user=steward)
    pipeline = Pipeline.objects.get(name="demo_products")
    pipeline.description = "Edited pipeline."
    catalog_object_save(obj=pipeline, user=steward)
    rule = Rule.objects.filter(entity=entity, origin="catalog").order_by("pk").first()
    rule.enabled = False
    catalog_object_save(obj=rule, user=steward)
    before = history_rows()

    call_command("load_demo", stdout=io.StringIO())
    again = io.StringIO()
    call_command("demo_admin", stdout=again)

    assert history_rows() == before
    assert Domain.objects.get(name="Customers").description == "Edited by the steward."
    entity.refresh_from_db()
    assert (entity.description, entity.owner) == ("Our customers.", None)
    assert Column.objects.get(entity=entity, name="phone").length == 40
    assert Column.objects.get(entity__name="orders", name="customer_id").on_delete == "cascade"
    assert Index.objects.get(name="orders_open_idx").condition == "status = 'new'"
    assert RetentionPolicy.objects.get(name="closed accounts").keep_for == 3
    assert Pipeline.objects.get(name="demo_products").description == "Edited pipeline."
    assert Rule.objects.get(pk=rule.pk).enabled is False
    # Nobody was signed out and the password is where the output says
    assert "password: " not in again.getvalue()
    assert "kept the password they had" in again.getvalue() and "--reset-passwords" in again.getvalue()
    assert client.get("/admin/").status_code == 200
    assert client.login(username="demo_officer", password=password)


def test_running_the_demo_again_adds_back_only_what_is_missing(db):
    call_command("load_demo", stdout=io.StringIO())
    entity = Entity.objects.get(datastore__name="shop", name="customers")
    Column.objects.get(entity=entity, name="segment").delete()
    RetentionPolicy.objects.get(name="card data").delete()

    call_command("load_demo", stdout=io.StringIO())

    assert Column.objects.filter(entity=entity, name="segment").exists()
    assert RetentionPolicy.objects.get(name="card data").keep_for == 13


def test_demo_admin_reset_passwords_sets_a_new_password_for_everyone(db, client):
    call_command("load_demo", stdout=io.StringIO())
    call_command("demo_admin", stdout=io.StringIO())
    out = io.StringIO()
    call_command("demo_admin", "--reset-passwords", stdout=out)
    assert "Sign in as admin, demo_steward, demo_officer, demo_platform with password: " in out.getvalue()
    password = out.getvalue().strip().rsplit(" ", 1)[-1]
    assert client.login(username="demo_platform", password=password)

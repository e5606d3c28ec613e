"""Where users get generated code: the admin's Generate code page (preview, ZIP) and schema_codegen."""

import io
import zipfile

import pytest
from django.core.management import call_command
from django.urls import reverse

from catalog.codegen.base import CodegenError
from catalog.codegen.service import TARGETS, codegen_generate, codegen_zip
from catalog.models import DataStore, Entity


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_every_target_generates_deterministic_files_for_the_demo(demo_snapshot, target):
    store = DataStore.objects.get(name="shop")
    first = codegen_generate(datastore=store, target=target)
    assert first and all(f.content.strip() for f in first)
    assert codegen_zip(first) == codegen_zip(codegen_generate(datastore=store, target=target))


def test_unknown_target_and_entity_are_clear_errors(demo_snapshot):
    store = DataStore.objects.get(name="shop")
    with pytest.raises(CodegenError, match="'cobol' is not a code target"):
        codegen_generate(datastore=store, target="cobol")
    with pytest.raises(CodegenError, match="no entity 'ghost'"):
        codegen_generate(datastore=store, target="sqlalchemy", entity_names=["ghost"])


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_steward_previews_and_downloads_code_from_the_admin(client, steward, demo_snapshot, target):
    client.force_login(steward)
    store = DataStore.objects.get(name="shop")
    url = reverse("admin:catalog_datastore_code", args=[store.pk])
    page = client.get(url, {"target": target})
    assert page.status_code == 200 and page.context["previews"], page.context.get("error")
    download = client.get(url, {"target": target, "download": 1})
    assert download["Content-Disposition"] == f'attachment; filename="shop_{target}.zip"'
    names = zipfile.ZipFile(io.BytesIO(download.content)).namelist()
    assert sorted(names) == sorted(path for path, _html in page.context["previews"])


def test_entity_page_generates_only_that_entity(client, steward, demo_snapshot):
    client.force_login(steward)
    orders = Entity.objects.get(datastore__name="shop", name="orders")
    page = client.get(reverse("admin:catalog_entity_code", args=[orders.pk]), {"target": "mongodb"})
    paths = [path for path, _html in page.context["previews"]]
    assert any("orders" in path for path in paths) and not any("customers" in path for path in paths)
    assert (
        "Generate code"
        in client.get(reverse("admin:catalog_entity_change", args=[orders.pk])).content.decode()
    )


def test_schema_codegen_command_writes_files(tmp_path, demo_snapshot, capsys):
    call_command(
        "schema_codegen",
        "--datastore",
        "shop",
        "--target",
        "jpa",
        "--namespace",
        "javax",
        "--out",
        str(tmp_path),
    )
    assert "Wrote" in capsys.readouterr().out
    java = list(tmp_path.rglob("*.java"))
    assert java and any("javax.persistence" in path.read_text() for path in java)
    with pytest.raises(Exception, match="No data store named 'nope'"):
        call_command("schema_codegen", "--datastore", "nope", "--target", "jpa")


# Their catalogs come from fixtures chosen at run time: marked so they run before transactional tests.
pytestmark = pytest.mark.django_db


def test_one_domain_generates_only_its_entities(demo_snapshot):
    store = DataStore.objects.get(name="shop")
    files = codegen_generate(datastore=store, target="mongodb", domain="Product")
    assert [f.path for f in files if f.path.endswith(".json")] == ["products.validator.json"]
    with pytest.raises(CodegenError, match="no entity in domain 'Nowhere'"):
        codegen_generate(datastore=store, target="mongodb", domain="Nowhere")

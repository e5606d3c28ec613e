"""ER diagrams and lineage graphs: what they show, that no catalog name can break them, and who sees them."""

import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from django.urls import reverse

from catalog.choices import DataType, PIICategory
from catalog.demo import demo_load
from catalog.diagrams import DiagramError, dot_render, er_diagram, er_source, svg_sanitize
from catalog.lineage import (
    LineageRow,
    lineage_by_column,
    lineage_by_column_providers,
    lineage_providers,
    register_lineage_by_column,
    register_lineage_provider,
)
from catalog.lineage_graph import lineage_graph
from catalog.models import Column, DataStore, Domain, Entity
from tests.conftest import make_user

SVG = "{http://www.w3.org/2000/svg}"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
XLINK_TITLE = "{http://www.w3.org/1999/xlink}title"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session", autouse=True)
def graphviz_installed():
    # A fresh machine lacks dot: install it the way `make test` does, rather than skip these tests.
    if shutil.which("dot") is None:
        subprocess.run(["bash", str(REPO / ".ci" / "graphviz.sh")], check=True)
    assert shutil.which("dot"), "Graphviz's dot is needed for the diagram tests; run .ci/graphviz.sh."


@pytest.fixture
def demo(db):
    demo_load()
    return {store.name: store for store in DataStore.objects.all()}


# Reading the SVG back


def parse(svg: bytes) -> ET.Element:
    return ET.fromstring(svg)


def group(root: ET.Element, element_id: str) -> ET.Element:
    found = [g for g in root.iter(f"{SVG}g") if g.get("id") == element_id]
    assert len(found) == 1, f"no single <g id={element_id!r}> in the SVG"
    return found[0]


def texts(element: ET.Element) -> list[str]:
    return [(text.text or "").strip() for text in element.iter(f"{SVG}text")]


def text_element(element: ET.Element, content: str) -> ET.Element:
    return next(text for text in element.iter(f"{SVG}text") if (text.text or "").strip() == content)


def row_texts(entity_group: ET.Element, column_name: str) -> set[str]:
    """The words on a column's row of an entity table (within a few points of the name's baseline)."""
    baseline = float(text_element(entity_group, column_name).get("y"))
    row = [t for t in entity_group.iter(f"{SVG}text") if abs(float(t.get("y")) - baseline) < 4]
    return {(t.text or "").strip() for t in row} - {""}


def links(element: ET.Element) -> set[str]:
    return {a.get(XLINK_HREF) for a in element.iter(f"{SVG}a") if a.get(XLINK_HREF)}


# ER diagram: content


@pytest.mark.parametrize("store_name", ["shop", "warehouse"])
def test_store_diagram_shows_every_entity_and_column_of_the_demo(demo, store_name):
    root = parse(er_diagram(demo[store_name]))
    for entity in Entity.objects.filter(datastore=demo[store_name]).prefetch_related("columns"):
        shown = texts(group(root, f"entity-{entity.pk}"))
        assert entity.name in shown
        for column in entity.columns.all():
            assert column.name in shown, f"{column} missing from the diagram"
            assert column.sql_type in " ".join(shown)


def test_keys_and_personal_data_are_marked_on_their_rows(demo):
    customers = Entity.objects.get(datastore=demo["shop"], name="customers")
    entity_group = group(parse(er_diagram(demo["shop"])), f"entity-{customers.pk}")
    assert row_texts(entity_group, "id") == {"PK", "id", "bigint not null"}
    assert row_texts(entity_group, "user_id") == {"FK", "user_id", "bigint"}
    assert row_texts(entity_group, "email") == {"UQ", "PII", "email", "varchar(254) not null"}
    assert row_texts(entity_group, "segment") == {"segment", "varchar(20) not null"}
    email = text_element(entity_group, "email")
    assert email.get("font-style") == "italic" and email.get("fill") == "#ba2121"
    assert text_element(entity_group, "segment").get("font-style") is None


def expected_ends(column: Column) -> tuple[str, str]:
    one_to_one = column.is_unique or (
        column.primary_key_position is not None
        and column.entity.columns.filter(primary_key_position__isnull=False).count() == 1
    )
    return ("1" if one_to_one else "N"), ("0..1" if column.nullable else "1")


@pytest.mark.parametrize("store_name", ["shop", "warehouse"])
def test_every_foreign_key_is_one_edge_with_its_cardinality(demo, store_name):
    root = parse(er_diagram(demo[store_name]))
    foreign_keys = Column.objects.filter(entity__datastore=demo[store_name], references__isnull=False)
    assert foreign_keys.count() >= 3
    edges = [g for g in root.iter(f"{SVG}g") if g.get("class") == "edge"]
    assert len(edges) == foreign_keys.count()
    for column in foreign_keys.select_related("entity"):
        assert sorted(texts(group(root, f"fk-{column.pk}"))) == sorted(expected_ends(column))


def test_cardinality_reads_many_to_one_one_to_one_and_optional(demo):
    shop = demo["shop"]
    orders = Entity.objects.get(datastore=shop, name="orders")
    invoice = Entity.objects.create(datastore=shop, name="invoice")
    Column.objects.create(
        entity=invoice, name="id", data_type=DataType.BIGINT, primary_key_position=1, nullable=False
    )
    one_to_one = Column.objects.create(
        entity=invoice,
        name="order_id",
        data_type=DataType.BIGINT,
        nullable=False,
        is_unique=True,
        references=orders.columns.get(name="id"),
    )
    root = parse(er_diagram(shop))
    assert sorted(texts(group(root, f"fk-{one_to_one.pk}"))) == ["1", "1"]
    required = orders.columns.get(name="customer_id")
    assert sorted(texts(group(root, f"fk-{required.pk}"))) == ["1", "N"]
    optional = orders.columns.get(name="shipping_address_id")
    assert sorted(texts(group(root, f"fk-{optional.pk}"))) == ["0..1", "N"]
    # Crow's foot at the referencing end of a many-to-one key, bars at the referenced end.
    source = er_source(datastore=shop)
    ends = 'taillabel="N", headlabel="0..1", arrowtail="crowodot", arrowhead="teeodot"'
    assert f'id="fk-{optional.pk}", {ends}' in source


def test_entity_names_link_to_their_admin_pages(demo):
    root = parse(er_diagram(demo["warehouse"]))
    for entity in Entity.objects.filter(datastore=demo["warehouse"]):
        assert reverse("admin:catalog_entity_change", args=[entity.pk]) in links(
            group(root, f"entity-{entity.pk}")
        )


def test_links_are_left_out_for_a_user_who_may_not_view_entities(demo):
    nobody = make_user("nobody")
    root = parse(er_diagram(demo["warehouse"], user=nobody))
    assert not links(root)


def test_domain_diagram_shows_its_entities_and_greys_what_they_reference_outside(demo):
    sales = Domain.objects.get(name="Sales")
    root = parse(er_diagram(domain=sales))
    shown = {g.get("id") for g in root.iter(f"{SVG}g") if (g.get("id") or "").startswith("entity-")}
    inside = set(Entity.objects.filter(domain=sales).values_list("pk", flat=True))
    referenced = set(
        Column.objects.filter(entity__domain=sales, references__isnull=False)
        .exclude(references__entity__domain=sales)
        .values_list("references__entity_id", flat=True)
    )
    assert referenced and shown == {f"entity-{pk}" for pk in inside | referenced}
    for pk in inside:
        assert "#26505e" in {p.get("fill") for p in group(root, f"entity-{pk}").iter(f"{SVG}polygon")}
    for pk in referenced:
        assert "#d5d9dc" in {p.get("fill") for p in group(root, f"entity-{pk}").iter(f"{SVG}polygon")}
    # Outside entities show only the keys pointed at, not their other columns (customers.email).
    customers = Entity.objects.get(name="customers")
    assert texts(group(root, f"entity-{customers.pk}")) == ["customers", "PK", "id", "bigint not null"]
    assert "data store shop" in texts(root) and "data store warehouse" in texts(root)


def test_png_download_is_a_png(demo):
    assert er_diagram(demo["shop"], format="png").startswith(PNG_SIGNATURE)
    assert lineage_graph(demo["shop"], format="png").startswith(PNG_SIGNATURE)


def test_dot_format_returns_the_source(demo):
    assert er_diagram(demo["shop"], format="dot").startswith(b'digraph "er" {')
    with pytest.raises(ValueError, match="Unknown diagram format 'pdf'"):
        er_diagram(demo["shop"], format="pdf")


# Hostile names

HOSTILE_NAMES = [
    'say "hi"',
    "<b>bold</b>",
    "<script>alert(1)</script>",
    "fish & chips",
    "back\\slash \\N \\l \\G",
    "ends in a backslash\\",
    '"];\n"injected" [label="x',
    "}} digraph { a -> b",
    "tab\there ' apostrophe",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_are_escaped_and_the_svg_stays_well_formed(db, name):
    # Imports and introspection can bring names the form would refuse; the drawing must survive them.
    store = DataStore.objects.create(name="odd")
    domain = Domain.objects.create(name=name)
    parent = Entity.objects.create(datastore=store, name=name, description=name)
    key = Column.objects.create(
        entity=parent, name=name, data_type=DataType.BIGINT, primary_key_position=1, nullable=False
    )
    child = Entity.objects.create(datastore=store, name=f"{name} child", domain=domain, description=name)
    Column.objects.create(
        entity=child, name=f"{name}_fk", data_type=DataType.BIGINT, references=key, description=name
    )
    words = " ".join(name.split())  # dot lays a tab or newline out as a space
    for svg in (er_diagram(store), er_diagram(domain=domain)):
        root = parse(svg)  # well-formed XML, or this raises
        assert not list(root.iter(f"{SVG}script"))
        assert len([g for g in root.iter(f"{SVG}g") if g.get("class") == "node"]) == 2
        parent_texts = [" ".join(t.split()) for t in texts(group(root, f"entity-{parent.pk}"))]
        assert parent_texts[0] == words and words in parent_texts
        child_texts = [" ".join(t.split()) for t in texts(group(root, f"entity-{child.pk}"))]
        assert child_texts[:2] == [f"{words} child", "FK"] and f"{words}_fk" in child_texts
        titles = {" ".join(a.get(XLINK_TITLE, "").split()) for a in root.iter(f"{SVG}a")}
        assert words in titles  # the description, as the entity's tooltip
    legend = " ".join(" ".join(texts(parse(er_diagram(domain=domain)))).split())
    assert f"outside domain {words} that" in legend


def test_hostile_lineage_text_is_escaped(db, lineage_provider):
    store = DataStore.objects.create(name="odd")
    entity = Entity.objects.create(datastore=store, name="target")
    column = Column.objects.create(entity=entity, name="value", data_type=DataType.TEXT)
    lineage_provider.rows[column.pk] = [
        LineageRow(
            column="value",
            via='pipeline "p" <b>&',
            via_url="javascript:alert(1)",
            source="<script>x</script> & \\N",
            source_field='a"b<c>',
            steps="trim → lower",
        )
    ]
    root = parse(lineage_graph(store))
    shown = texts(root)
    assert "<script>x</script> & \\N" in shown and 'pipeline "p" <b>&' in shown and 'a"b<c>' in shown
    assert not any("javascript" in href for href in links(root))


def test_sanitizing_drops_scripts_handlers_and_foreign_links():
    svg = (
        b'<?xml version="1.0"?><!DOCTYPE svg><svg xmlns="http://www.w3.org/2000/svg" '
        b'xmlns:xlink="http://www.w3.org/1999/xlink"><script>alert(1)</script>'
        b'<g onclick="alert(2)"><a xlink:href="javascript:alert(3)"><text>x</text></a>'
        b'<a xlink:href="//evil.example/"><text>y</text></a>'
        b'<a xlink:href="/admin/catalog/entity/1/change/"><text>z</text></a>'
        b"<foreignObject><div>html</div></foreignObject></g></svg>"
    )
    clean = svg_sanitize(svg)
    assert "script" not in clean and "onclick" not in clean and "javascript" not in clean
    assert "evil" not in clean and "foreignObject" not in clean
    assert 'xlink:href="/admin/catalog/entity/1/change/"' in clean
    with pytest.raises(DiagramError, match="not well-formed"):
        svg_sanitize(b"<svg><g></svg>")


def test_a_missing_dot_is_reported_with_how_to_install_it(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(DiagramError, match=r"\.ci/graphviz\.sh"):
        dot_render('digraph "x" { }', format="svg")


# Size


def sixty_entity_store() -> DataStore:
    """60 entities in a snowflake: each of 6 columns, with 1-2 foreign keys to earlier entities."""
    store = DataStore.objects.create(name="big")
    entities = Entity.objects.bulk_create(
        [Entity(datastore=store, name=f"entity_{i:02d}") for i in range(60)]
    )
    keys = Column.objects.bulk_create(
        [
            Column(
                entity=e,
                name="id",
                position=1,
                data_type=DataType.BIGINT,
                primary_key_position=1,
                nullable=False,
            )
            for e in entities
        ]
    )
    columns = []
    for i, entity in enumerate(entities):
        columns += [
            Column(entity=entity, name="name", position=2, data_type=DataType.VARCHAR, length=100),
            Column(
                entity=entity,
                name="email",
                position=3,
                data_type=DataType.TEXT,
                pii_category=PIICategory.DIRECT_IDENTIFIER,
            ),
            Column(
                entity=entity, name="created_at", position=4, data_type=DataType.TIMESTAMPTZ, nullable=False
            ),
        ]
        if i:
            columns.append(
                Column(
                    entity=entity,
                    name="parent_id",
                    position=5,
                    data_type=DataType.BIGINT,
                    references=keys[(i - 1) // 2],
                )
            )
        if i >= 3:
            columns.append(
                Column(
                    entity=entity,
                    name="other_id",
                    position=6,
                    data_type=DataType.BIGINT,
                    nullable=False,
                    references=keys[i % 3],
                )
            )
    Column.objects.bulk_create(columns)
    return store


def test_sixty_entity_diagram_renders_in_reasonable_time(db, django_assert_max_num_queries):
    store = sixty_entity_store()
    started = time.monotonic()
    with django_assert_max_num_queries(3):
        source = er_source(datastore=store)
    svg = dot_render(source, format="svg")
    elapsed = time.monotonic() - started
    root = parse(svg)
    assert len([g for g in root.iter(f"{SVG}g") if g.get("class") == "node"]) == 60
    assert len([g for g in root.iter(f"{SVG}g") if g.get("class") == "edge"]) == 59 + 57
    assert elapsed < 20, f"60 entities took {elapsed:.1f}s to draw"
    assert er_diagram(store, format="png").startswith(PNG_SIGNATURE)


# Lineage graph


class FakeProvider:
    """A lineage provider as an app would register one: rows for the columns it is asked about."""

    def __init__(self):
        self.rows: dict[int, list[LineageRow]] = {}
        self.calls = 0

    def __call__(self, columns, *, user=None):
        self.calls += 1
        return [row for column in columns for row in self.rows.get(column.pk, [])]

    def by_column(self, columns, *, user=None):
        self.calls += 1
        return [(column.pk, row) for column in columns for row in self.rows.get(column.pk, [])]


@pytest.fixture
def lineage_provider():
    provider = FakeProvider()
    register_lineage_provider(provider)
    yield provider
    lineage_providers.remove(provider)
    lineage_by_column_providers.pop(provider, None)


def load_rows(store: DataStore, provider: FakeProvider) -> dict[str, Column]:
    orders = Entity.objects.get(datastore=store, name="orders")
    customers = Entity.objects.get(datastore=store, name="customers")
    url = "/admin/pipelines/pipeline/7/change/"
    columns = {
        "orders.id": orders.columns.get(name="id"),
        "orders.status": orders.columns.get(name="status"),
        "customers.id": customers.columns.get(name="id"),
        "customers.email": customers.columns.get(name="email"),
    }

    def row(column, via, source, field, steps=""):
        return LineageRow(
            column=column.name, via=via, via_url=url, source=source, source_field=field, steps=steps
        )

    provider.rows = {
        columns["orders.id"].pk: [
            row(columns["orders.id"], "pipeline orders_csv", "file orders.csv", "order_no")
        ],
        columns["orders.status"].pk: [
            row(columns["orders.status"], "pipeline orders_csv", "file orders.csv", "state", "trim → lower")
        ],
        columns["customers.id"].pk: [
            row(columns["customers.id"], "pipeline crm_sync", "crm:public.contacts", "id")
        ],
        columns["customers.email"].pk: [
            row(columns["customers.email"], "pipeline crm_sync", "crm:public.contacts", "mail", "lower")
        ],
    }
    return columns


def edge_ends(root: ET.Element) -> list[str]:
    return [g.find(f"{SVG}title").text for g in root.iter(f"{SVG}g") if g.get("class") == "edge"]


def test_store_lineage_runs_from_sources_through_pipelines_to_columns(demo, lineage_provider):
    columns = load_rows(demo["shop"], lineage_provider)
    root = parse(lineage_graph(demo["shop"]))
    shown = texts(root)
    for label in ["file orders.csv", "crm:public.contacts", "pipeline orders_csv", "pipeline crm_sync"]:
        assert label in shown
    ends = edge_ends(root)
    assert "source:file orders.csv->via:pipeline orders_csv" in ends
    assert "source:crm:public.contacts->via:pipeline crm_sync" in ends
    assert len(ends) == 2 + 4
    # One edge per lineage row into its column's row, labelled with the source field.
    into_email = group(root, f"loads-{columns['customers.email'].pk}-0")
    assert into_email.find(f"{SVG}title").text == "via:pipeline crm_sync->entity:shop.customers:w"
    assert texts(into_email) == ["mail"]
    assert texts(group(root, f"loads-{columns['orders.status'].pk}-0")) == ["state"]
    # Only what something loads: no products, no unloaded columns of a store-wide graph.
    products = Entity.objects.get(datastore=demo["shop"], name="products")
    assert not [g for g in root.iter(f"{SVG}g") if g.get("id") == f"entity-{products.pk}"]
    assert "total_amount" not in shown
    hrefs = links(root)
    assert "/admin/pipelines/pipeline/7/change/" in hrefs
    for column in columns.values():
        assert reverse("admin:catalog_column_change", args=[column.pk]) in hrefs
        assert reverse("admin:catalog_entity_change", args=[column.entity_id]) in hrefs


def test_entity_lineage_lists_all_its_columns_and_greys_the_unloaded(demo, lineage_provider):
    columns = load_rows(demo["shop"], lineage_provider)
    orders = columns["orders.id"].entity
    root = parse(lineage_graph(entity=orders))
    entity_group = group(root, f"entity-{orders.pk}")
    assert [t for t in texts(entity_group)] == ["orders", *orders.columns.values_list("name", flat=True)]
    assert text_element(entity_group, "total_amount").get("fill") == "#9aa3aa"
    assert text_element(entity_group, "status").get("fill") == "#1f2328"
    assert "pipeline crm_sync" not in texts(root)


def test_a_graph_with_no_lineage_says_so(demo):
    root = parse(lineage_graph(demo["warehouse"]))
    assert any("No pipeline has loaded data store warehouse yet" in t for t in texts(root))


def test_lineage_by_column_asks_a_provider_once_when_it_can_answer_by_column(demo, lineage_provider):
    columns = load_rows(demo["shop"], lineage_provider)
    store_columns = Column.objects.filter(entity__datastore=demo["shop"])
    entity_by_entity = lineage_by_column(store_columns)
    calls = lineage_provider.calls
    assert calls == Entity.objects.filter(datastore=demo["shop"]).count()
    register_lineage_by_column(lineage_provider, lineage_provider.by_column)
    by_column = lineage_by_column(store_columns)
    assert lineage_provider.calls == calls + 1
    assert by_column == entity_by_entity
    assert set(by_column) == {column.pk for column in columns.values()}


# Admin pages


def diagram_urls(demo) -> dict[str, str]:
    shop = demo["shop"]
    orders = Entity.objects.get(datastore=shop, name="orders")
    return {
        "store ER": reverse("admin:catalog_datastore_er_diagram", args=[shop.pk]),
        "domain ER": reverse("admin:catalog_domain_er_diagram", args=[Domain.objects.get(name="Sales").pk]),
        "store lineage": reverse("admin:catalog_datastore_lineage", args=[shop.pk]),
        "entity lineage": reverse("admin:catalog_datastore_lineage", args=[shop.pk]) + f"?entity={orders.pk}",
    }


@pytest.mark.parametrize("role", ["steward", "officer", "platform"])
def test_every_role_that_views_the_catalog_sees_the_diagrams_inline(demo, role_client, role):
    client = role_client(role)
    for page, url in diagram_urls(demo).items():
        response = client.get(url)
        assert response.status_code == 200, page
        body = response.content.decode()
        assert '<div class="diagram" id="diagram"><svg' in body, page
        assert "<?xml" not in body and "<!DOCTYPE svg" not in body
        assert 'id="diagram-download-svg"' in body and 'id="diagram-download-png"' in body


def test_store_diagram_page_embeds_links_to_entity_pages(demo, role_client):
    body = role_client("steward").get(diagram_urls(demo)["store ER"]).content.decode()
    orders = Entity.objects.get(datastore=demo["shop"], name="orders")
    assert f'xlink:href="{reverse("admin:catalog_entity_change", args=[orders.pk])}"' in body


def test_anonymous_visitors_are_sent_to_sign_in_and_users_without_view_rights_are_refused(demo, client):
    for url in diagram_urls(demo).values():
        response = client.get(url)
        assert response.status_code == 302 and reverse("admin:login") in response["Location"]
        assert client.get(url + ("&" if "?" in url else "?") + "format=png").status_code == 302
    client.force_login(make_user("nobody"))
    for url in diagram_urls(demo).values():
        assert client.get(url).status_code == 403
        assert client.get(url + ("&" if "?" in url else "?") + "format=svg").status_code == 403


@pytest.mark.parametrize(
    "page, fmt, content_type, filename",
    [
        ("store ER", "svg", "image/svg+xml", "shop_er.svg"),
        ("store ER", "png", "image/png", "shop_er.png"),
        ("domain ER", "png", "image/png", "sales_er.png"),
        ("store lineage", "svg", "image/svg+xml", "shop_lineage.svg"),
        ("entity lineage", "png", "image/png", "shop_orders_lineage.png"),
    ],
)
def test_downloads_have_their_content_type_and_file_name(
    demo, role_client, page, fmt, content_type, filename
):
    url = diagram_urls(demo)[page]
    response = role_client("officer").get(url + ("&" if "?" in url else "?") + f"format={fmt}")
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"] == f'attachment; filename="{filename}"'
    if fmt == "png":
        assert response.content.startswith(PNG_SIGNATURE)
    else:
        root = parse(response.content)
        assert root.tag == f"{SVG}svg"


def test_unknown_entity_or_format_is_not_found(demo, role_client):
    client = role_client("steward")
    store_lineage = diagram_urls(demo)["store lineage"]
    assert client.get(store_lineage + "?entity=999999").status_code == 404
    assert client.get(store_lineage + "?entity=abc").status_code == 404
    assert client.get(diagram_urls(demo)["store ER"] + "?format=pdf").status_code == 404


def test_change_pages_offer_the_diagrams_as_object_tools(demo, role_client):
    client = role_client("officer")
    shop = demo["shop"]
    body = client.get(reverse("admin:catalog_datastore_change", args=[shop.pk])).content.decode()
    assert f'href="{reverse("admin:catalog_datastore_er_diagram", args=[shop.pk])}"' in body
    assert f'href="{reverse("admin:catalog_datastore_lineage", args=[shop.pk])}"' in body
    sales = Domain.objects.get(name="Sales")
    body = client.get(reverse("admin:catalog_domain_change", args=[sales.pk])).content.decode()
    assert f'href="{reverse("admin:catalog_domain_er_diagram", args=[sales.pk])}"' in body

"""The admin's own frame (templates/admin/base_site.html): every page links Custodian's favicon."""

from xml.etree import ElementTree

from django.contrib.staticfiles import finders
from django.templatetags.static import static
from django.urls import reverse

FAVICON = "catalog/favicon.svg"


def test_every_kind_of_admin_page_links_the_favicon(client, platform_admin, customer):
    link = f'<link rel="icon" href="{static(FAVICON)}" type="image/svg+xml">'
    assert link in client.get(reverse("admin:login")).content.decode()
    client.force_login(platform_admin)
    for page in [
        reverse("admin:index"),
        reverse("admin:pipelines_pipeline_changelist"),  # change_list.html adds to the head too
        reverse("admin:catalog_entity_change", args=[customer.pk]),
        reverse("admin:catalog_entity_ddl", args=[customer.pk]),  # one of Custodian's own pages
    ]:
        response = client.get(page)
        assert response.status_code == 200, page
        assert response.content.decode().count(link) == 1, page


def test_the_favicon_is_a_static_svg():
    path = finders.find(FAVICON)
    assert path, f"no static file {FAVICON}"
    root = ElementTree.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("viewBox") == "0 0 32 32"

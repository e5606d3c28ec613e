"""The demo in a browser: a steward's edit survives `make run` starting again, and so does the sign-in."""

import io
import re

import pytest
from django.core.management import call_command
from django.urls import reverse
from playwright.sync_api import expect

from catalog.models import Domain

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

PASSWORD = "demo-journey-pw"


def make_run_again() -> str:
    """What `make run` does to the catalog when it starts again: load_demo, then demo_admin."""
    out = io.StringIO()
    call_command("load_demo", "--no-apply", stdout=out)
    call_command("demo_admin", stdout=out)
    return out.getvalue()


def test_a_stewards_domain_edit_and_sign_in_survive_the_demo_loading_again(open_page):
    call_command("load_demo", "--no-apply", stdout=io.StringIO())
    call_command("demo_admin", "--password", PASSWORD, stdout=io.StringIO())
    page = open_page()
    page.goto("/admin/login/")
    page.fill("#id_username", "demo_steward")
    page.fill("#id_password", PASSWORD)
    page.click("#login-form input[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))
    domain = Domain.objects.get(name="Customers")
    page.goto(reverse("admin:catalog_domain_change", args=[domain.pk]))
    page.fill("#id_description", "Customers, their accounts and addresses (edited by the steward).")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist .success")).to_contain_text("was changed successfully")
    history = Domain.history.filter(id=domain.pk).count()

    output = make_run_again()

    page.reload()
    expect(page).to_have_url(re.compile(reverse("admin:catalog_domain_change", args=[domain.pk])))
    expect(page.locator("#id_description")).to_have_value(
        "Customers, their accounts and addresses (edited by the steward)."
    )
    expect(page.locator("#user-tools")).to_contain_text("demo_steward")
    assert Domain.history.filter(id=domain.pk).count() == history  # the re-run wrote nothing
    assert "kept the password they had" in output

"""enforce_retention and subject_request: what they print and how they exit."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from compliance.choices import RequestStatus
from compliance.models import RetentionExecution, SubjectRequest
from tests.compliance.conftest import hold, policy, snapshot, table


def command(*args) -> tuple[str, str]:
    """(stdout, stderr) of a management command."""
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def failing(*args) -> CommandError:
    with pytest.raises(CommandError) as caught:
        command(*args)
    assert caught.value.returncode == 1  # what `manage.py` exits with
    return caught.value


@pytest.fixture
def policies(shop, officer):
    return [
        policy(shop.orders, officer, "bookkeeping", "ordered_at", 10),
        policy(shop.tickets, officer, "old tickets", "opened_at", 5, action="archive"),
    ]


@pytest.mark.django_db
class TestEnforceRetention:
    def test_dry_run_prints_per_policy_and_table_and_changes_nothing(self, shop, policies, officer):
        before = snapshot(shop)
        out, _ = command("enforce_retention", "--dry-run", "--user", "officer")
        lines = out.splitlines()
        first, second = RetentionExecution.objects.order_by("pk")
        assert lines[0] == (
            "Policy 'bookkeeping' (shop.orders, delete rows after 10 years of ordered_at): "
            f"execution #{first.pk}"
        )
        assert lines[1].startswith("  2 row(s) past the period (anchor before ")
        assert (
            lines[2]
            == "  app.order_items: 3 row(s) would be deleted (ON DELETE CASCADE from the expired rows)"
        )
        assert lines[3] == "  app.orders: 2 row(s) would be deleted"
        assert (
            "Policy 'old tickets' (shop.tickets, move to archive table after 5 years of opened_at): " in out
        )
        assert "  app.tickets: 2 row(s) would be archived (moved to app.tickets_archive (created))" in out
        assert lines[-1] == "Dry run, nothing changed: 2 policies, 0 failed."
        assert snapshot(shop) == before
        assert {e.trigger for e in (first, second)} == {"command"} and first.requested_by == officer

    def test_enforces_one_policy_by_name(self, shop, policies):
        out, _ = command("enforce_retention", "--policy", "old tickets")
        assert "  app.tickets: 2 row(s) archived (moved to app.tickets_archive (created))" in out
        assert out.splitlines()[-1] == "1 policy, 0 failed."
        assert [t[0] for t in table(shop, "tickets")] == [100]

    def test_a_refused_policy_fails_the_command_and_the_others_still_run(self, shop, policies, officer):
        policy(shop.customers, officer, "closed accounts", "closed_at", 2)
        with pytest.raises(CommandError) as caught:
            call_command("enforce_retention", stdout=(out := io.StringIO()))
        assert caught.value.returncode == 1
        assert str(caught.value) == "3 policies, 1 failed."
        assert (
            "  FAILED: Expired rows of app.customers cannot be deleted: 2 row(s) of app.orders"
            in out.getvalue()
        )
        assert "  app.orders: 2 row(s) deleted" in out.getvalue()

    def test_a_held_policy_is_reported_blocked_without_failing(self, shop, policies, officer):
        hold(shop.orders, officer)
        out, _ = command("enforce_retention", "--policy", "bookkeeping")
        assert "  blocked: Entity orders is on legal hold;" in out
        assert out.splitlines()[-1] == "1 policy, 0 failed."

    def test_bad_arguments_exit_1_saying_why(self, shop, policies, steward):
        assert str(failing("enforce_retention", "--policy", "nope")) == (
            "No retention policy named nope (known: bookkeeping, old tickets)."
        )
        assert str(failing("enforce_retention", "--user", "steward")) == (
            "User 'steward' may not enforce retention policies (needs compliance.execute_retention)."
        )
        assert str(failing("enforce_retention", "--datastore", "elsewhere")).startswith("No data store named")


def subject(*args) -> list[str]:
    return ["subject_request", "--datastore", "shop", *args]


@pytest.mark.django_db
class TestSubjectRequest:
    def test_find_prints_what_was_found_per_entity_masked_for_the_operator(self, shop):
        out, _ = command(*subject("--identifier", "bob@example.com", "--action", "find"))
        record = SubjectRequest.objects.get()
        assert out.splitlines()[0] == f"Request #{record.pk}: {record.outcome}"
        assert "  app.customers: 1 row(s), matched on email" in out
        assert "  app.orders: 2 row(s), via orders.customer_id → customers.id" in out
        assert "bob@example.com" not in out.split("\n", 1)[1]
        assert out.rstrip().endswith("(personal data masked: --user must hold catalog.view_pii to see it)")

    def test_find_of_nothing_exits_0_saying_so(self, shop):
        out, _ = command(*subject("--identifier", "nobody@example.com", "--action", "find"))
        assert "No rows refer to 'nobody@example.com' in data store 'shop'" in out

    def test_export_writes_the_json_report(self, shop, officer, tmp_path):
        path = tmp_path / "bob.json"
        _, err = command(
            *subject(
                "--identifier",
                "bob@example.com",
                "--action",
                "export",
                "--user",
                "officer",
                "--entity",
                "customers",
                "--column",
                "email",
                "-o",
                str(path),
            )
        )
        document = json.loads(path.read_text())
        assert document["masked"] is False
        assert {e["entity"]: e["count"] for e in document["entities"]} == {
            "customers": 1,
            "order_items": 3,
            "orders": 2,
            "tickets": 1,
        }
        assert f"Wrote {path}." in err

    def test_erase_dry_run_then_confirm(self, shop, officer):
        args = subject(
            "--identifier",
            "bob@example.com",
            "--action",
            "erase",
            "--entity",
            "customers",
            "--column",
            "email",
            "--user",
            "officer",
        )
        out, _ = command(*args, "--dry-run")
        record = SubjectRequest.objects.get()
        assert record.status == RequestStatus.AWAITING_CONFIRMATION
        assert "  app.orders: 2 row(s) would be deleted" in out
        assert out.splitlines()[-1] == (
            f"To erase: subject_request --datastore shop --identifier 'bob@example.com' --action erase "
            f"--confirm {record.pk}"
        )
        assert [c[0] for c in table(shop, "customers")] == [1, 2, 3, 4]

        assert str(failing(*args, "--confirm", "maybe")) == (
            "--confirm must be the request id of the dry run or the identifier itself."
        )
        out, _ = command(*args, "--confirm", str(record.pk))
        assert "  app.customers: 1 row(s) deleted" in out
        assert out.startswith(f"Request #{record.pk}: Erased: deleted 7 row(s) in 4 table(s)")
        assert [c[0] for c in table(shop, "customers")] == [1, 3, 4]

    def test_erase_confirmed_by_identifier_runs_the_dry_run_first(self, shop, officer):
        out, _ = command(
            *subject(
                "--identifier",
                "cy@example.com",
                "--action",
                "erase",
                "--entity",
                "customers",
                "--column",
                "email",
                "--user",
                "officer",
                "--confirm",
                "CY@example.com",
            )
        )
        dry, done = out.split("Request #", 2)[1:]
        assert "Dry run, nothing changed: would delete 1 row(s)" in dry
        assert "Erased: deleted 1 row(s) in 1 table(s)" in done
        assert SubjectRequest.objects.get().status == RequestStatus.COMPLETED

    def test_ambiguous_erasure_exits_1_naming_the_candidates(self, shop):
        error = failing(*subject("--identifier", "2", "--action", "erase"))
        assert "matches rows in 2 entities (customers.id, newsletter.id)" in str(error)
        assert SubjectRequest.objects.get().status == RequestStatus.REFUSED

    def test_users_need_the_permissions(self, shop, steward, officer):
        assert str(failing(*subject("--identifier", "x", "--action", "find", "--user", "steward"))) == (
            "User 'steward' may not start subject requests (needs compliance.add_subjectrequest)."
        )
        assert "--confirm belongs to --action erase." == str(
            failing(*subject("--identifier", "x", "--action", "find", "--confirm", "1"))
        )
        assert str(failing(*subject("--identifier", "x", "--action", "find", "--entity", "nope"))).startswith(
            "Data store 'shop' has no entity 'nope'. Known: customers, newsletter, order_items, orders, "
            "tickets."
        )

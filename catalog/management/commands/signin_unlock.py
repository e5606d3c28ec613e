from django.core.management.base import BaseCommand

from catalog.signin_throttle import signin_lockout_lift


class Command(BaseCommand):
    help = (
        "Lift the sign-in lock-out of a user name after repeated failed sign-ins, so it may sign in again "
        "now (recorded on the audit trail). A lock on an address is not lifted."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", help="The user name as typed at the sign-in page.")

    def handle(self, *args, **options):
        username = options["username"]
        if signin_lockout_lift(username=username) is None:
            self.stdout.write(f"'{username}' is not locked out; nothing to lift.")
        else:
            self.stdout.write(f"'{username}' may sign in again now.")

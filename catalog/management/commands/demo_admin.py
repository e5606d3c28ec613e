import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from catalog.demo import DEMO_USERS


class Command(BaseCommand):
    help = (
        "Create (or reset) the demo superuser 'admin' and the demo role users with one new random password."
    )

    def add_arguments(self, parser):
        parser.add_argument("--password", help="Use this password instead of a random one.")

    def handle(self, *args, **options):
        password = options["password"] or secrets.token_urlsafe(12)
        User = get_user_model()
        admin, _ = User.objects.get_or_create(username="admin", defaults={"email": "admin@example.org"})
        admin.is_staff = admin.is_superuser = True
        admin.set_password(password)
        admin.save()
        for username in DEMO_USERS:
            user = User.objects.filter(username=username).first()
            if user:
                user.set_password(password)
                user.save()
        names = ", ".join(["admin", *DEMO_USERS])
        self.stdout.write(self.style.SUCCESS(f"Sign in as {names} with password: {password}"))

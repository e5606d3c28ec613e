"""`manage.py demo_admin`: the demo superuser 'admin' and a password for the demo role users.

Existing users keep their password (and so their signed-in sessions) unless `--reset-passwords` or
`--password` asks for a new one; only users without a usable password get one.
"""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from catalog.demo import DEMO_USERS

USERNAMES = ["admin", *DEMO_USERS]


class Command(BaseCommand):
    help = (
        "Create the demo superuser 'admin' and give it and the demo role users one random password. Users "
        "that already have a password keep it (and stay signed in) unless --reset-passwords or --password."
    )

    def add_arguments(self, parser):
        parser.add_argument("--password", help="Set this password (instead of a random one) for every user.")
        parser.add_argument(
            "--reset-passwords",
            action="store_true",
            help="Give every demo user a new random password (this signs them out).",
        )

    def handle(self, *args, **options):
        reset = options["reset_passwords"] or bool(options["password"])
        password = options["password"] or secrets.token_urlsafe(12)
        User = get_user_model()
        admin, created = User.objects.get_or_create(
            username="admin", defaults={"email": "admin@example.org", "is_staff": True, "is_superuser": True}
        )
        if created:
            admin.set_unusable_password()
            admin.save()
        changed, kept = [], []
        users = sorted(User.objects.filter(username__in=USERNAMES), key=lambda u: USERNAMES.index(u.username))
        for user in users:
            if reset or not user.has_usable_password():
                # set_password changes the session hash, which signs the user out everywhere
                user.set_password(password)
                user.save(update_fields=["password"])
                changed.append(user.username)
            else:
                kept.append(user.username)
        if changed:
            self.stdout.write(
                self.style.SUCCESS(f"Sign in as {', '.join(changed)} with password: {password}")
            )
        if kept:
            self.stdout.write(
                f"{', '.join(kept)} kept the password they had (the one printed when it was set, by "
                "`make run` or `manage.py demo_admin`); `python manage.py demo_admin --reset-passwords` "
                "sets a new one and signs them out."
            )

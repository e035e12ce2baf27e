"""Create a first superuser when there is none, and say how to log in."""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the first admin user if no superuser exists (password from SEGLOOP_ADMIN_PASSWORD or generated)."

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("An admin exists already; log in with its username and password.")
            return
        username = os.environ.get("SEGLOOP_ADMIN_USER", "admin")
        password = os.environ.get("SEGLOOP_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(
            self.style.SUCCESS(
                f"Created the first admin. Log in at http://127.0.0.1:8000/ as {username!r} with password {password!r}"
                " (change it under Admin > Users)."
            )
        )

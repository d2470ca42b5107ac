from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = (
        "Create a superuser with a random password when none exists (local setup), and print "
        "how to log in."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args: Any, **options: Any) -> None:
        users = get_user_model().objects
        password_file = settings.DATA_DIR / "admin-password.txt"
        username = options["username"]
        if not users.filter(is_superuser=True).exists():
            password = secrets.token_urlsafe(12)
            users.create_superuser(username=username, email="", password=password)
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.write_text(f"{username}\n{password}\n")
            password_file.chmod(0o600)
            self.stdout.write(f"Created the superuser {username!r}.")
        if password_file.exists():
            stored_username, password = password_file.read_text().split()[:2]
            user = users.filter(username=stored_username, is_superuser=True).first()
            if user is not None and user.check_password(password):
                self.stdout.write(
                    f"Log in as {stored_username!r} with password {password!r} "
                    f"(kept in {password_file} until you change it)."
                )
                return
        self.stdout.write(
            "A superuser exists. Forgotten the password? "
            "Run: python manage.py changepassword <username>"
        )

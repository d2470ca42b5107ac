from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from config import localdb


class Command(BaseCommand):
    help = (
        "Status or stop of the project-local PostgreSQL server (used when DATABASE_URL is unset)."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["status", "stop"])

    def handle(self, *args: Any, **options: Any) -> None:
        data_dir = settings.DATA_DIR / "postgres"
        if settings.DATABASE_URL:
            self.stdout.write("DATABASE_URL is set; the local server is not used.")
            return
        if options["action"] == "status":
            self.stdout.write(f"{localdb.status(data_dir=data_dir)}: {data_dir}")
        elif localdb.stop(data_dir=data_dir):
            self.stdout.write("Stopped.")
        else:
            self.stdout.write("Not running.")

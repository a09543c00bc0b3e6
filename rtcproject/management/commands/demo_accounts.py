"""Make the demo's accounts: alice (group "free": 5 minutes a day, one stream at once) and bob (no quota)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandParser

from rtcstream.models import Quota


class Command(BaseCommand):
    help = (
        "Create (or reset) the demo's accounts alice and bob, and the group 'free' with its quota. Not for production."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--password", default="demo", help="the accounts' password (default: demo)")

    def handle(self, *args: Any, password: str, **options: Any) -> None:
        free, _ = Group.objects.get_or_create(name="free")
        Quota.objects.update_or_create(group=free, defaults={"minutes_per_day": 5, "concurrent_sessions": 1})
        for username, first_name, groups in (("alice", "Alice", [free]), ("bob", "Bob", [])):
            user, _ = User.objects.get_or_create(username=username)
            user.first_name = first_name
            user.is_active = True
            user.set_password(password)
            user.save()
            user.groups.set(groups)
        self.stdout.write(
            f"alice (group free: 5 minutes a day, 1 stream at once) and bob (no quota), password {password!r}; "
            "log in at /accounts/login/"
        )

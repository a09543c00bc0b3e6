"""Delete session history older than N days: sessions, their turns, and their recordings' files."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rtcstream.ledger.retention import prune


class Command(BaseCommand):
    help = (
        "Delete the sessions that started more than --days days ago, with their turns and recordings "
        "(files first, from the storage each was saved to). --recordings-days deletes recordings sooner "
        "and keeps the rest. Live sessions are never deleted. Run it daily (cron, a systemd timer)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=float, required=True, help="Keep this many days of sessions and turns.")
        parser.add_argument(
            "--recordings-days", type=float, default=None, help="Keep recordings this many days (at most --days)."
        )
        parser.add_argument("--dry-run", action="store_true", help="Say what would be deleted; delete nothing.")

    def handle(self, *args: Any, days: float, recordings_days: float | None, dry_run: bool, **options: Any) -> None:
        if days < 0 or (recordings_days is not None and recordings_days < 0):
            raise CommandError("--days and --recordings-days must not be negative.")
        pruned = prune(days, recordings_days, dry_run=dry_run)
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} {pruned.sessions} session(s), {pruned.turns} turn(s) and {pruned.recordings} recording(s)."
            )
        )
        if pruned.files_missing:
            self.stdout.write(self.style.WARNING(f"{pruned.files_missing} recording file(s) were already missing."))

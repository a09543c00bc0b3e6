"""Create an endpoint row for every registry handler that no endpoint uses yet."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from rtcstream.endpoints import registry
from rtcstream.models import StreamEndpoint


class Command(BaseCommand):
    help = (
        'Create an admin endpoint for each RTCSTREAM["HANDLERS"] entry that no endpoint uses yet. It sets '
        "nothing of its own: mode, modality and limits stay the entry's until someone sets them in the admin. "
        "Safe to run again: existing endpoints are left as they are "
        "(to hide a demo endpoint, disable it rather than delete it)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Say what would be created; write nothing.")

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        created = kept = failed = 0
        for name in registry.handler_names():
            # "Has a row" means a row serves this handler, so a renamed slug is not recreated.
            if StreamEndpoint.objects.filter(handler=name).exists():
                kept += 1
                continue
            if StreamEndpoint.objects.filter(slug=name).exists():
                self.stderr.write(f"Skipped {name!r}: the slug is taken by an endpoint that serves another handler.")
                failed += 1
                continue
            try:
                spec = registry.get_handler(name)
            except registry.RegistryError as exc:
                self.stderr.write(f"Skipped {name!r}: {exc}")
                failed += 1
                continue
            assert spec is not None  # the name came from the registry
            if not dry_run:
                StreamEndpoint.objects.create(slug=name, handler=name)
            self.stdout.write(
                f"{'Would create' if dry_run else 'Created'} endpoint {name!r} ({spec.mode} {spec.modality})."
            )
            created += 1
        verb = "would be created" if dry_run else "created"
        self.stdout.write(
            self.style.SUCCESS(f"{created} endpoint(s) {verb}, {kept} already configured, {failed} skipped.")
        )

"""Retention: delete the history of sessions older than so many days, their turns and their recordings.

Live sessions are never deleted. Recordings may be kept shorter than the
rest (``recording_days``), never longer: they go with their session. Files
are deleted from the storage each was saved to before their rows, so no
file is left without a row to find it by; deletion goes in batches, so
memory does not grow with the history.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone

from rtcstream.recording import storage as storages

logger = logging.getLogger("rtcstream.ledger")

BATCH = 500


@dataclass
class Pruned:
    """What was (or, in a dry run, would be) deleted."""

    sessions: int = 0
    turns: int = 0
    recordings: int = 0
    files_missing: int = 0  # rows whose file was already gone


def prune(
    days: float,
    recording_days: float | None = None,
    *,
    dry_run: bool = False,
    now: datetime.datetime | None = None,
) -> Pruned:
    """Delete sessions that started more than ``days`` ago (with their turns and recordings), and
    recordings of sessions that started more than ``recording_days`` ago."""
    from rtcstream.models import Recording, SessionStatus, StreamSession, Turn

    now = now or timezone.now()
    cutoff = now - datetime.timedelta(days=days)
    recording_cutoff = (
        max(cutoff, now - datetime.timedelta(days=recording_days)) if recording_days is not None else cutoff
    )
    old = StreamSession.objects.exclude(state=SessionStatus.LIVE).filter(started_at__lt=cutoff)
    old_recordings = Recording.objects.exclude(session__state=SessionStatus.LIVE).filter(
        session__started_at__lt=recording_cutoff
    )
    pruned = Pruned(
        sessions=old.count(),
        turns=Turn.objects.filter(session__in=old.values("session_id")).count(),
        recordings=old_recordings.count(),
    )
    if dry_run:
        return pruned
    pruned.files_missing = _delete_recordings(old_recordings)
    while pks := list(old.values_list("pk", flat=True)[:BATCH]):
        StreamSession.objects.filter(pk__in=pks).delete()  # their turns go with them (on_delete=CASCADE)
    return pruned


def _delete_recordings(rows: QuerySet) -> int:
    """Delete the files, then the rows; return how many files were already missing."""
    missing = 0
    while batch := list(rows.order_by("pk")[:BATCH]):
        for recording in batch:
            where = storages.storage(recording.storage)
            if where.exists(recording.name):
                where.delete(recording.name)
            else:
                missing += 1
                logger.warning("Recording %s: its file %r was already gone", recording.pk, recording.name)
        type(batch[0]).objects.filter(pk__in=[r.pk for r in batch]).delete()
    return missing

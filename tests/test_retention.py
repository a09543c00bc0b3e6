"""The retention command: old sessions, their turns and their recordings' files go; live ones and recent ones stay."""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.utils import timezone

from rtcstream.models import Recording, SessionStatus, StreamSession, Turn

pytestmark = pytest.mark.django_db


def session(session_id: str, days_ago: float, *, state: str = SessionStatus.ENDED, turns: int = 0, storage=None):
    """A session that started ``days_ago``, with ``turns`` turns and, given a storage, a recording."""
    started = timezone.now() - datetime.timedelta(days=days_ago)
    row = StreamSession.objects.create(session_id=session_id, endpoint_slug="talk", started_at=started, state=state)
    for index in range(1, turns + 1):
        Turn.objects.create(session=row, endpoint_slug="talk", index=index, outcome="completed", started_at=started)
    if storage is not None:
        for kind, name in (("audio", "conversation.wav"), ("transcript", "transcript.jsonl")):
            stored = storage.save(f"rtcstream/recordings/{session_id}/{name}", ContentFile(b"data"))
            Recording.objects.create(session=row, kind=kind, storage="recordings", name=stored, content_type="x")
    return row


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("rtcstream_retention", *args, stdout=out)
    return out.getvalue()


def test_old_sessions_go_with_their_turns_and_files_and_a_dry_run_deletes_nothing(storage):
    session("old", 40, turns=3, storage=storage)
    session("refused-old", 40, state=SessionStatus.REFUSED)
    session("live-old", 40, state=SessionStatus.LIVE, turns=1, storage=storage)  # a session that still runs
    session("recent", 5, turns=2, storage=storage)
    names = set(Recording.objects.values_list("name", flat=True))

    assert "Would delete 2 session(s), 3 turn(s) and 2 recording(s)." in run("--days", "30", "--dry-run")
    assert StreamSession.objects.count() == 4 and all(storage.exists(name) for name in names)

    assert "Deleted 2 session(s), 3 turn(s) and 2 recording(s)." in run("--days", "30")
    assert sorted(StreamSession.objects.values_list("session_id", flat=True)) == ["live-old", "recent"]
    assert Turn.objects.count() == 3 and Recording.objects.count() == 4
    assert not storage.exists("rtcstream/recordings/old/conversation.wav")
    assert not storage.exists("rtcstream/recordings/old/transcript.jsonl")
    assert storage.exists("rtcstream/recordings/recent/conversation.wav")
    assert storage.exists("rtcstream/recordings/live-old/conversation.wav")


def test_recordings_can_be_kept_shorter_than_the_ledger(storage):
    session("month", 20, turns=2, storage=storage)
    session("day", 0.5, storage=storage)
    assert "Deleted 0 session(s), 0 turn(s) and 2 recording(s)." in run("--days", "30", "--recordings-days", "7")
    assert StreamSession.objects.count() == 2 and Turn.objects.count() == 2
    assert set(Recording.objects.values_list("session_id", flat=True)) == {"day"}
    assert not storage.exists("rtcstream/recordings/month/conversation.wav")


def test_a_file_already_gone_is_counted_and_its_row_deleted(storage):
    session("old", 40, storage=storage)
    storage.delete("rtcstream/recordings/old/conversation.wav")
    output = run("--days", "30")
    assert "1 recording file(s) were already missing." in output
    assert not Recording.objects.exists() and not StreamSession.objects.exists()


def test_many_sessions_are_deleted_in_batches(storage, monkeypatch):
    from rtcstream.ledger import retention

    monkeypatch.setattr(retention, "BATCH", 7)
    for n in range(30):
        session(f"s{n}", 40, turns=1, storage=storage if n % 10 == 0 else None)
    session("recent", 1)
    assert "Deleted 30 session(s), 30 turn(s) and 6 recording(s)." in run("--days", "30")
    assert list(StreamSession.objects.values_list("session_id", flat=True)) == ["recent"]
    assert not Turn.objects.exists() and not Recording.objects.exists()


def test_negative_days_are_refused():
    with pytest.raises(CommandError):
        run("--days", "-1")

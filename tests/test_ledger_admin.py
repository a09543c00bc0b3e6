"""The ledger in the admin: the charts page and its numbers, session pages with turns and a player, the turn list."""

from __future__ import annotations

import datetime
import math
import re

import pytest
from django.conf import settings as django_settings
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.urls import path, reverse
from django.utils import timezone

from rtcstream.ledger.stats import floor
from rtcstream.models import Recording, SessionStatus, StreamSession, Turn
from tests.admin_handlers import RTCSTREAM

pytestmark = pytest.mark.django_db

urlpatterns = [path("admin/", admin.site.urls)]

CHARTS = "admin:rtcstream_sessioncharts_changelist"


@pytest.fixture(autouse=True)
def admin_settings(settings):
    settings.RTCSTREAM = {**RTCSTREAM, "RECORDING_STORAGE": "recordings"}
    settings.ROOT_URLCONF = __name__
    settings.STORAGES = {
        **django_settings.STORAGES,
        "recordings": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }


@pytest.fixture
def superuser_client(client):
    client.force_login(User.objects.create_superuser("root", password="x"))
    return client


def make_session(session_id: str, at: datetime.datetime, slug: str = "talk", **fields) -> StreamSession:
    fields = {"state": SessionStatus.ENDED, "end_reason": "client_stop", "ended_at": at, **fields}
    return StreamSession.objects.create(session_id=session_id, endpoint_slug=slug, started_at=at, **fields)


def make_turn(session: StreamSession, index: int, latency: float | None, **fields) -> Turn:
    fields = {"outcome": "completed", **fields}
    return Turn.objects.create(
        session=session,
        endpoint_slug=session.endpoint_slug,
        index=index,
        started_at=session.started_at + datetime.timedelta(seconds=index),
        reply_latency_ms=latency,
        **fields,
    )


def linear_percentile(values: list[float], q: float) -> float:
    """The percentile by linear interpolation between closest ranks, written out (numpy's default)."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@pytest.fixture
def history(monkeypatch):
    """Sessions and turns at known hours: two hours ago, five hours ago, and one live now (the clock stops,
    so that an hour that turns during the test moves no bucket)."""
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)
    hour = floor(now, "hour")
    two, five = hour - datetime.timedelta(hours=2), hour - datetime.timedelta(hours=5)
    at = lambda start, minutes: start + datetime.timedelta(minutes=minutes)  # noqa: E731
    a = make_session("a", at(two, 5), media_seconds=60, turn_count=3, interruption_count=1)
    b = make_session(
        "b", at(two, 20), media_seconds=120, turn_count=2, warning_count=2, last_warning="Speak up, please."
    )
    make_session("c", at(two, 50), media_seconds=30)
    make_session("r", at(two, 10), state=SessionStatus.REFUSED, end_reason="concurrency_limit", media_seconds=None)
    d = make_session("d", at(five, 1), slug="other", end_reason="time_limit", media_seconds=90, turn_count=2)
    make_session("e", at(five, 59), slug="other", end_reason="handler_error", media_seconds=6, error="handler_error: X")
    make_session("live", timezone.now(), state=SessionStatus.LIVE, end_reason="", ended_at=None)
    make_session("ancient", hour - datetime.timedelta(days=3), media_seconds=600)  # out of the 24 h range
    talk = [120.0, 250.0, 310.0, 400.0, 1500.0]
    for i, latency in enumerate(talk[:3], 1):
        make_turn(a, i, latency)
    make_turn(a, 4, None, outcome="interrupted")  # no reply audio: no latency
    make_turn(b, 1, talk[3])
    make_turn(b, 2, talk[4])
    make_turn(d, 1, 80.0)
    make_turn(d, 2, 95.5)
    return {"two": two, "five": five, "hour": hour, "talk": talk, "other": [80.0, 95.5]}


def test_the_charts_page_is_on_the_admin_index(superuser_client):
    index = superuser_client.get(reverse("admin:index"))
    assert reverse(CHARTS).encode() in index.content and b"Session charts" in index.content


def test_the_charts_numbers_are_those_of_the_history(superuser_client, history):
    response = superuser_client.get(reverse(CHARTS), {"range": "24h"})
    assert response.status_code == 200
    charts = response.context["charts"]
    assert (charts.bucket, len(charts.buckets), charts.buckets[-1]) == ("hour", 24, history["hour"])
    two, five = charts.buckets.index(history["two"]), charts.buckets.index(history["five"])
    assert (charts.admitted[two], charts.refused[two], charts.admitted[five], charts.admitted[-1]) == (3, 1, 2, 1)
    assert sum(charts.admitted) == 6 and sum(charts.refused) == 1
    assert charts.end_reasons == [("client_stop", 3), ("concurrency_limit", 1), ("handler_error", 1), ("time_limit", 1)]
    assert charts.totals == {
        "sessions": 6,
        "refused": 1,
        "minutes": round((60 + 120 + 30 + 90 + 6) / 60, 1),
        "turns": 7,
        "interruptions": 1,
        "errors": 1,
        "warnings": 2,
    }
    [talk_point] = charts.latency["talk"]
    assert (talk_point.bucket, talk_point.count) == (history["two"], 5)
    for q in (50, 90, 99):
        assert getattr(talk_point, f"p{q}") == pytest.approx(linear_percentile(history["talk"], q), abs=0.05)
        assert getattr(charts.latency_overall["other"], f"p{q}") == pytest.approx(
            linear_percentile(history["other"], q), abs=0.05
        )
    html = response.content.decode()
    label = timezone.localtime(history["two"]).strftime("%H:%M")
    # The bars and points say their numbers; the table says the percentiles.
    assert f"<title>{label}: 3 sessions</title>" in html and f"<title>{label}: 1 refused</title>" in html
    assert f"<title>{label}: p90 {linear_percentile(history['talk'], 90):g} ms</title>" in html
    assert "<title>client_stop: 3</title>" in html
    row = re.search(r'<tr data-endpoint="talk">(.*?)</tr>', html, re.S).group(1)
    assert re.findall(r"<td>([\d.]+)</td>", row) == ["5", "310.0", "1060.0", "1456.0"]
    assert (
        html.count('<svg xmlns="http://www.w3.org/2000/svg" class="rtcs-chart"') == 4
    )  # sessions, 2 endpoints, reasons
    assert '<dd data-total="sessions">6</dd>' in html and '<dd data-total="warnings">2</dd>' in html


def test_the_charts_page_filters_by_endpoint_and_range(superuser_client, history):
    charts = superuser_client.get(reverse(CHARTS), {"range": "24h", "endpoint": "other"}).context["charts"]
    assert sum(charts.admitted) == 2 and list(charts.latency) == ["other"]
    week = superuser_client.get(reverse(CHARTS), {"range": "30d"}).context["charts"]
    assert week.bucket == "day" and len(week.buckets) == 30 and sum(week.admitted) == 7  # the ancient one too


def test_the_charts_page_has_no_inline_script_or_style(superuser_client, history):
    html = superuser_client.get(reverse(CHARTS)).content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "an inline script"
    assert "<style" not in html and not re.search(r"\sstyle=", html), "inline style"
    assert not re.search(r"\son[a-z]+=", html), "an inline event handler"


def test_the_charts_need_the_permission_to_view_sessions(client, history):
    user = User.objects.create_user("staff", password="x", is_staff=True)
    client.force_login(user)
    assert client.get(reverse(CHARTS)).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_sessionhistory"))
    assert client.get(reverse(CHARTS)).status_code == 200


def recorded_session() -> StreamSession:
    row = make_session(
        "rec",
        timezone.now() - datetime.timedelta(minutes=5),
        media_seconds=12.5,
        turn_count=1,
        warning_count=3,
        last_warning="Your microphone is <very> quiet.",
    )
    where = storages["recordings"]
    wav = where.save("rtcstream/recordings/rec/conversation.wav", ContentFile(b"RIFF....WAVE"))
    lines = (
        b'{"at": 1.25, "role": "user", "text": "what time is it"}\n{"at": 2.5, "role": "assistant", "text": "noon"}\n'
    )
    text = where.save("rtcstream/recordings/rec/transcript.jsonl", ContentFile(lines))
    for kind, name, content_type in (("audio", wav, "audio/wav"), ("transcript", text, "application/x-ndjson")):
        Recording.objects.create(
            session=row,
            kind=kind,
            storage="recordings",
            name=name,
            content_type=content_type,
            seconds=3.0,
            channels="x",
        )
    make_turn(row, 1, 321.0, cause="pause", pause_ms=470.0, utterance_seconds=1.5)
    return row


def test_a_session_page_shows_its_turns_plays_its_recording_and_shows_its_transcript(superuser_client):
    row = recorded_session()
    page = superuser_client.get(reverse("admin:rtcstream_sessionhistory_change", args=[row.pk])).content.decode()
    audio_url = reverse("admin:rtcstream_sessionhistory_recording", args=[row.pk, "audio"])
    assert f'<audio controls preload="none" src="{audio_url}"></audio>' in page
    assert "<b>user</b>: what time is it" in page and "<b>assistant</b>: noon" in page
    assert "<td>321</td>" in page and "<td>470</td>" in page  # the turn's reply latency and pause
    assert "Your microphone is &lt;very&gt; quiet." in page and "<very>" not in page  # the warning, escaped
    assert f"?q={row.session_id}" in page
    played = superuser_client.get(audio_url)
    assert played.status_code == 200 and played["Content-Type"] == "audio/wav"
    assert b"".join(played.streaming_content) == b"RIFF....WAVE"
    assert (
        superuser_client.get(reverse("admin:rtcstream_sessionhistory_recording", args=[row.pk, "x"])).status_code == 404
    )


def test_only_those_who_may_view_sessions_hear_a_recording(client):
    row = recorded_session()
    url = reverse("admin:rtcstream_sessionhistory_recording", args=[row.pk, "audio"])
    assert client.get(url).status_code == 302  # to the login page
    client.force_login(User.objects.create_user("staff", password="x", is_staff=True))
    assert client.get(url).status_code in (403, 404)


def test_deleting_a_session_deletes_its_recordings_files(django_capture_on_commit_callbacks):
    row = recorded_session()
    names = list(Recording.objects.values_list("name", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        row.delete()
    assert not any(storages["recordings"].exists(name) for name in names)


def test_the_lists_filter_and_search(superuser_client, history):
    turns = reverse("admin:rtcstream_turn_changelist")
    assert superuser_client.get(turns, {"outcome": "interrupted"}).context["cl"].result_count == 1
    assert superuser_client.get(turns, {"endpoint_slug": "other"}).context["cl"].result_count == 2
    assert superuser_client.get(turns, {"q": "a"}).context["cl"].result_count >= 4
    sessions = reverse("admin:rtcstream_sessionhistory_changelist")
    assert [r.session_id for r in superuser_client.get(sessions, {"has_error": "yes"}).context["cl"].result_list] == [
        "e"
    ]
    assert superuser_client.get(sessions, {"q": "handler_error: X"}).context["cl"].result_count == 1
    warned = superuser_client.get(sessions, {"last_warning__isempty": "0"}).context["cl"].result_list
    assert [(r.session_id, r.warning_count) for r in warned] == [("b", 2)]
    assert superuser_client.get(sessions, {"q": "speak up"}).context["cl"].result_count == 1
    recorded_session()
    assert [r.session_id for r in superuser_client.get(sessions, {"recorded": "yes"}).context["cl"].result_list] == [
        "rec"
    ]


@pytest.mark.parametrize(
    ("peak", "integer", "ticks"),
    [
        (1, True, [0, 1]),
        (7, True, [0, 2, 4, 6, 8]),
        (1456, False, [0, 500, 1000, 1500]),
        (0.3, False, [0, 0.1, 0.2, 0.3]),
    ],
)
def test_the_axes_have_round_ticks(peak, integer, ticks):
    from rtcstream.ledger.svg import nice_ticks

    assert nice_ticks(peak, integer=integer) == pytest.approx(ticks)

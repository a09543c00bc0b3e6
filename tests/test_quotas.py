"""Quotas: minutes a day and sessions at once, per user and per group, enforced at admission and while live."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group, User
from django.db import connections
from django.utils import timezone

from rtcstream.admission import quotas
from rtcstream.admission.backends import DatabaseAdmission
from rtcstream.admission.quotas import Limits
from rtcstream.admission.refusals import QuotaMinutesReached, QuotaSessionsReached, Refused
from rtcstream.client import ArrayAudioTrack, RtcClient, RtcError
from rtcstream.endpoints import registry
from rtcstream.endpoints.resolution import Endpoint, from_spec
from rtcstream.models import EndReason, Quota, SessionStatus, StreamSession
from tests.handlers import tone
from tests.test_session_info import login

pytestmark = pytest.mark.django_db(transaction=True)


def endpoint(slug: str, limit: int | None = None) -> Endpoint:
    return dataclasses.replace(from_spec(registry.get_handler("t-echo")), slug=slug, concurrency_limit=limit)


def member(username: str, *groups: str) -> User:
    user = User.objects.create_user(username)
    for name in groups:
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    return user


def group_quota(name: str, **limits) -> Quota:
    return Quota.objects.create(group=Group.objects.get_or_create(name=name)[0], **limits)


def held(user: User, began: datetime.datetime, ended: datetime.datetime | None, state=SessionStatus.ENDED) -> None:
    """A session row of ``user`` that held a seat from ``began`` to ``ended`` (None: live)."""
    n = StreamSession.objects.count()
    StreamSession.objects.create(
        session_id=f"h{n}",
        endpoint_slug="t-echo",
        user=user,
        started_at=began,
        ended_at=ended,
        state=state,
        heartbeat_at=ended or timezone.now(),
    )


class TestLimits:
    def test_a_users_own_quota_wins_over_their_groups(self):
        alice = member("alice", "free", "pro")
        group_quota("free", minutes_per_day=5, concurrent_sessions=1)
        group_quota("pro", minutes_per_day=60)
        Quota.objects.create(user=alice, minutes_per_day=2)
        assert quotas.limits_for(alice.pk, "default") == Limits(2, None)

    def test_the_most_generous_group_applies_field_by_field_and_empty_means_no_limit(self):
        bob = member("bob", "free", "pro")
        group_quota("free", minutes_per_day=5, concurrent_sessions=1)
        group_quota("pro", minutes_per_day=60, concurrent_sessions=3)
        assert quotas.limits_for(bob.pk, "default") == Limits(60, 3)
        carol = member("carol", "free", "unlimited")
        group_quota("unlimited")
        assert quotas.limits_for(carol.pk, "default") == Limits(None, None)

    def test_no_quota_no_limits(self):
        assert quotas.limits_for(member("dave", "nobody").pk, "default") == Limits()

    def test_a_quota_is_a_users_or_a_groups_never_both_nor_neither(self):
        from django.core.exceptions import ValidationError

        for quota in (Quota(), Quota(user=member("erin"), group=Group.objects.create(name="g"))):
            with pytest.raises(ValidationError, match="exactly one"):
                quota.full_clean()


class TestMinutesUsed:
    def test_only_today_counts_and_a_live_session_counts_until_now(self):
        alice = member("alice")
        Quota.objects.create(user=alice, minutes_per_day=30)
        now = timezone.now()
        start, _ = quotas.today(now)
        held(alice, start - datetime.timedelta(minutes=10), start + datetime.timedelta(minutes=3))  # 3 min today
        held(alice, start - datetime.timedelta(hours=3), start - datetime.timedelta(hours=2))  # yesterday
        held(alice, now - datetime.timedelta(minutes=4), None, state=SessionStatus.LIVE)  # 4 min so far
        StreamSession.objects.create(  # waiting (or refused) never held a seat: not counted
            session_id="w",
            endpoint_slug="t-echo",
            user=alice,
            started_at=now - datetime.timedelta(minutes=9),
            state=SessionStatus.REFUSED,
            ended_at=now,
        )
        standing = quotas.standing(alice.pk, "default", fresh_after=now - datetime.timedelta(seconds=30), now=now)
        assert standing.seconds_used == pytest.approx(7 * 60, abs=1)
        assert standing.seconds_left == pytest.approx(23 * 60, abs=1)
        assert standing.live == 1
        assert standing.as_data()["resets_at"] == (start + datetime.timedelta(days=1)).isoformat()


class TestAdmission:
    def test_sessions_at_once_count_on_every_endpoint(self):
        alice = member("alice")
        Quota.objects.create(user=alice, concurrent_sessions=2)
        admission = DatabaseAdmission()

        def admit(slug: str, session_id: str, user=alice):
            return asyncio.run(admission.acquire(endpoint(slug), session_id, {"user": user, "client": ""}))

        assert admit("one", "a") is None
        assert admit("two", "b") is None
        with pytest.raises(QuotaSessionsReached):
            admit("three", "c")
        assert admit("three", "d", user=member("bob")) is None  # another user is not counted
        asyncio.run(admission.release("a", "client_stop"))
        assert admit("three", "c") is None
        refused = StreamSession.objects.get(session_id="c")
        assert refused.state == SessionStatus.LIVE  # the retry of the refused session id was seated

    def test_minutes_used_refuse_at_admission(self):
        alice = member("alice", "free")
        group_quota("free", minutes_per_day=10)
        held(alice, timezone.now() - datetime.timedelta(minutes=10), timezone.now())
        with pytest.raises(QuotaMinutesReached) as refused:
            asyncio.run(DatabaseAdmission().acquire(endpoint("one"), "a", {"user": alice, "client": ""}))
        assert "10 minutes" in str(refused.value)
        row = StreamSession.objects.get(session_id="a")
        assert (row.state, row.end_reason) == (SessionStatus.REFUSED, EndReason.QUOTA_MINUTES)

    def test_twenty_admissions_at_once_of_one_user_on_four_endpoints_seat_exactly_their_quota(self):
        """Each endpoint's lock alone would let four through (one per endpoint): the user's lock holds it to two."""
        alice = member("alice")
        Quota.objects.create(user=alice, concurrent_sessions=2)
        start = threading.Barrier(20)

        def connect(n: int) -> bool:
            admission = DatabaseAdmission()  # one backend per thread: one process each
            start.wait(timeout=30)
            try:
                verdict = admission.acquire_sync(endpoint(f"e{n % 4}"), f"s{n:02d}", {"user": alice, "client": ""})
                assert verdict is None or isinstance(verdict, Refused)
                return verdict is None
            finally:
                connections.close_all()

        with ThreadPoolExecutor(max_workers=20) as pool:
            results = list(pool.map(connect, range(20), timeout=120))
        assert results.count(True) == 2
        assert StreamSession.objects.filter(state=SessionStatus.LIVE).count() == 2
        assert set(StreamSession.objects.filter(state=SessionStatus.REFUSED).values_list("end_reason", flat=True)) == {
            EndReason.QUOTA_SESSIONS
        }


@pytest.fixture
def quick_checks(settings):
    settings.RTCSTREAM = {**settings.RTCSTREAM, "ACCOUNT_CHECK_INTERVAL": 0.5}


async def test_the_page_is_told_the_quota_and_a_session_ends_when_the_minutes_run_out(asgi_app, quick_checks):
    cookie = await sync_to_async(login)("alice")
    await Quota.objects.acreate(user=await User.objects.aget(username="alice"), minutes_per_day=0.05)  # 3 s
    async with await RtcClient.connect(asgi_app, "t-echo", headers=cookie) as client:
        assert client.session["quota"]["minutes_per_day"] == 0.05
        assert client.session["quota"]["seconds_left"] == pytest.approx(3.0, abs=0.1)
        await client.start(audio=ArrayAudioTrack(tone(440, 30, 48000)))
        started = asyncio.get_running_loop().time()
        closed = await client.wait_closed(timeout=15)
        lasted = asyncio.get_running_loop().time() - started
        assert closed["reason"] == "quota_exhausted", closed
        assert "minutes for today are used up" in closed["message"]
        left = [m["data"]["seconds_left"] for m in client.messages if m.get("name") == "quota"]
        assert len(left) >= 2 and left == sorted(left, reverse=True) and left[0] <= 3.0, left
        assert lasted < 3.0 + 1.5, lasted  # the end comes on time, not at the next 0.5 s check after it
    row = await StreamSession.objects.aget(session_id=client.session["session"])
    assert (row.state, row.end_reason) == (SessionStatus.ENDED, EndReason.QUOTA_EXHAUSTED)
    # The day is used up: the next session is refused at its offer, with a clear code.
    async with await RtcClient.connect(asgi_app, "t-echo", headers=cookie) as again:
        assert again.session["quota"]["seconds_left"] == 0
        with pytest.raises(RtcError) as refused:
            await again.start(audio=ArrayAudioTrack(tone(440, 2, 48000)))
        assert refused.value.code == "quota_minutes"


async def test_a_users_second_session_is_refused_and_anonymous_visitors_have_no_quota(asgi_app):
    cookie = await sync_to_async(login)("bob", ("free",))
    await sync_to_async(group_quota)("free", concurrent_sessions=1)
    async with await RtcClient.connect(asgi_app, "t-echo", headers=cookie) as first:
        assert first.session["quota"] == {
            "minutes_per_day": None,
            "seconds_left": None,
            "concurrent_sessions": 1,
            "resets_at": first.session["quota"]["resets_at"],
        }
        await first.start(audio=ArrayAudioTrack(tone(440, 30, 48000)))
        async with await RtcClient.connect(asgi_app, "t-echo-timed", headers=cookie) as second:
            with pytest.raises(RtcError) as refused:
                await second.start(audio=ArrayAudioTrack(tone(440, 2, 48000)))
            assert refused.value.code == "quota_sessions"
        async with await RtcClient.connect(asgi_app, "t-echo") as anonymous:
            assert anonymous.session["quota"] is None
            await anonymous.start(audio=ArrayAudioTrack(tone(440, 2, 48000)))


def test_the_admin_lists_quotas_with_todays_use_and_refuses_a_quota_for_both_a_user_and_a_group(client):
    root = User.objects.create_superuser("root", password="x")
    client.force_login(root)
    alice = member("alice")
    Quota.objects.create(user=alice, minutes_per_day=10, concurrent_sessions=1)
    held(alice, timezone.now() - datetime.timedelta(minutes=3), timezone.now())
    group_quota("free", minutes_per_day=5)
    page = client.get("/admin/rtcstream/quota/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "user alice" in text and "group free" in text and "3.0 min, 0 live" in text
    both = client.post(
        "/admin/rtcstream/quota/add/",
        {"user": alice.pk, "group": Group.objects.get(name="free").pk, "minutes_per_day": "1"},
    )
    assert both.status_code == 200 and "choose exactly one" in both.content.decode()
    endpoint_form = client.get("/admin/rtcstream/streamendpoint/add/").content.decode()
    assert all(f'name="{name}"' in endpoint_form for name in ("when_full", "queue_length", "max_wait"))

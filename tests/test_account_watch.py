"""A logged-in user's session while it lives: an account disabled, deleted or shut out of the endpoint
ends it at the next check (access_revoked); an account in good standing runs on."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group, User

from rtcstream.client import ArrayAudioTrack, RtcClient
from rtcstream.models import EndReason, Quota, SessionStatus, StreamEndpoint, StreamSession
from tests.handlers import tone
from tests.test_session_info import login

pytestmark = pytest.mark.django_db(transaction=True)

INTERVAL = 0.5


@pytest.fixture(autouse=True)
def quick_checks(settings):
    settings.RTCSTREAM = {**settings.RTCSTREAM, "ACCOUNT_CHECK_INTERVAL": INTERVAL}


async def live_session(asgi_app, slug: str, cookie) -> RtcClient:
    client = await RtcClient.connect(asgi_app, slug, headers=cookie)
    await client.start(audio=ArrayAudioTrack(tone(440, 60, 48000)))
    await client.wait_for_event("connected")
    return client


async def ended_within_an_interval(client: RtcClient, change) -> dict:
    await sync_to_async(change)()
    changed = asyncio.get_running_loop().time()
    closed = await client.wait_closed(timeout=10)
    assert asyncio.get_running_loop().time() - changed < INTERVAL + 2.0
    row = await StreamSession.objects.aget(session_id=client.session["session"])
    assert (row.state, row.end_reason) == (SessionStatus.ENDED, EndReason.ACCESS_REVOKED)
    return closed


async def test_an_account_disabled_mid_session_ends_it_at_the_next_check(asgi_app):
    cookie = await sync_to_async(login)("alice")
    async with await live_session(asgi_app, "t-echo", cookie) as client:
        closed = await ended_within_an_interval(
            client, lambda: User.objects.filter(username="alice").update(is_active=False)
        )
        assert closed == {
            "type": "closed",
            "reason": "access_revoked",
            "message": "This account may no longer use this stream.",
        }


async def test_a_deleted_account_ends_its_session(asgi_app):
    cookie = await sync_to_async(login)("bob")
    async with await live_session(asgi_app, "t-echo", cookie) as client:
        await ended_within_an_interval(client, lambda: User.objects.filter(username="bob").delete())


async def test_a_user_taken_out_of_the_endpoints_groups_loses_it(asgi_app):
    cookie = await sync_to_async(login)("carol", ("staff",))

    def restricted() -> None:
        row = StreamEndpoint.objects.create(slug="staff-only", handler="t-echo")
        row.allowed_groups.add(Group.objects.get(name="staff"))

    await sync_to_async(restricted)()
    async with await live_session(asgi_app, "staff-only", cookie) as client:
        await ended_within_an_interval(
            client, lambda: User.objects.get(username="carol").groups.remove(Group.objects.get(name="staff"))
        )


async def test_an_account_in_good_standing_and_an_anonymous_visitor_run_on(asgi_app):
    cookie = await sync_to_async(login)("dave")
    # A daily quota makes each check visible to the page (a quota event).
    await Quota.objects.acreate(user=await User.objects.aget(username="dave"), minutes_per_day=60)
    async with (
        await live_session(asgi_app, "t-echo", cookie) as dave,
        await live_session(asgi_app, "t-echo", []) as anon,
    ):
        await dave.wait_until(lambda: [m for m in dave.messages if m.get("name") == "quota"][3:], timeout=10)
        assert not [m for m in dave.messages + anon.messages if m["type"] == "closed"]

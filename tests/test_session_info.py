"""Handlers know whom they serve: rtcstream.current_session() from every kind of handler and call,
anonymous and logged in, in process (the daphne case is in tests/test_session_info_daphne.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group, User
from django.test import Client

from rtcstream import current_session
from rtcstream.client import ArrayAudioTrack, ArrayVideoTrack, RtcClient
from rtcstream.models import StreamEndpoint
from tests.handlers import tone

pytestmark = [pytest.mark.django_db(transaction=True)]


def login(username: str, groups: tuple[str, ...] = (), **session: Any) -> list[tuple[str, str]]:
    """Make ``username`` (in ``groups``), log it in with ``session`` data; return the Cookie header."""
    user = User.objects.create_user(username, password="x", first_name=username.capitalize())
    for name in groups:
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    client = Client()
    client.force_login(user)
    stored = client.session
    stored.update(session)
    stored.save()
    return [("Cookie", f"sessionid={client.cookies['sessionid'].value}")]


def reports(client: RtcClient) -> dict[str, dict[str, Any]]:
    """The who() reports among the client's outputs, by the call that made them."""
    found = {}
    for output in client.outputs:
        for value in output.get("values", []):
            if isinstance(value, dict) and "call" in value:
                found[value["call"]] = value
    return found


async def wait_reports(client: RtcClient, calls: set[str], timeout: float = 15) -> dict[str, dict[str, Any]]:
    return await client.wait_until(lambda: reports(client) if calls <= set(reports(client)) else None, timeout)


def test_current_session_outside_a_handler_call_says_so():
    with pytest.raises(LookupError, match="only set inside the calls rtcstream makes"):
        current_session()


async def test_an_anonymous_visitor_in_every_call_of_a_sync_stream_handler(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-who") as client:
        await client.start(audio=ArrayAudioTrack(tone(440, 5, 48000)))
        seen = await wait_reports(client, {"start_up", "receive", "emit"})
        session = client.session["session"]
        for call in ("start_up", "receive", "emit"):
            assert seen[call] | {"call": call} == {
                "call": call,
                "thread": "pool",  # sync code runs in the worker pool, and the context reaches it there
                "session": session,
                "user": "",
                "authenticated": False,
                "user_matches": True,
                "groups": [],
                "color": None,
                "endpoint": "t-who",
                "row": None,  # a registry-only endpoint has no admin row
            }, call
        # The on_additional_outputs hook runs in the session's context too: it appends the session id.
        assert all(o["values"][-1] == session for o in client.outputs if o["type"] == "output")


async def test_a_logged_in_user_with_groups_session_data_and_an_admin_row(asgi_app):
    cookie = await sync_to_async(login)("alice", ("staff", "beta"), color="teal")
    await StreamEndpoint.objects.acreate(slug="who-row", handler="t-who", label="Who")
    async with await RtcClient.connect(asgi_app, "who-row", headers=cookie) as client:
        await client.start(audio=ArrayAudioTrack(tone(440, 5, 48000)))
        seen = await wait_reports(client, {"start_up", "receive", "emit"})
    for report in seen.values():
        assert (report["user"], report["authenticated"], report["groups"]) == ("alice", True, ["beta", "staff"])
        assert (report["color"], report["endpoint"], report["row"]) == ("teal", "who-row", "who-row")


async def test_two_sessions_at_once_each_see_their_own_visitor(asgi_app):
    cookie = await sync_to_async(login)("bob", ("staff",))
    anonymous = await RtcClient.connect(asgi_app, "t-who")
    bob = await RtcClient.connect(asgi_app, "t-who", headers=cookie)
    async with anonymous, bob:
        await asyncio.gather(
            anonymous.start(audio=ArrayAudioTrack(tone(440, 5, 48000))),
            bob.start(audio=ArrayAudioTrack(tone(440, 5, 48000))),
        )
        seen_anonymous, seen_bob = await asyncio.gather(
            wait_reports(anonymous, {"start_up", "receive", "emit"}), wait_reports(bob, {"start_up", "receive", "emit"})
        )
    assert {r["user"] for r in seen_anonymous.values()} == {""}
    assert {r["session"] for r in seen_anonymous.values()} == {anonymous.session["session"]}
    assert {r["user"] for r in seen_bob.values()} == {"bob"}
    assert {r["session"] for r in seen_bob.values()} == {bob.session["session"]}


async def test_an_async_stream_handler_on_the_loop_and_its_self_user(asgi_app):
    cookie = await sync_to_async(login)("carol", ("staff",), color="red")
    async with await RtcClient.connect(asgi_app, "t-who-async", headers=cookie) as client:
        await client.start(audio=ArrayAudioTrack(tone(440, 5, 48000)))
        event = (await client.wait_for_event("who"))["data"]
        emitted = (await wait_reports(client, {"emit"}))["emit"]
    assert (event["thread"], event["user"], event["self_user"], event["groups"], event["color"]) == (
        "loop",
        "carol",
        "carol",
        ["staff"],
        "red",
    )
    assert (emitted["thread"], emitted["user"], emitted["session"]) == ("loop", "carol", client.session["session"])


async def test_a_reply_on_pause_function_and_its_startup_function(asgi_app):
    cookie = await sync_to_async(login)("dave")
    async with await RtcClient.connect(asgi_app, "t-who-reply", headers=cookie) as client:
        await client.start(audio=ArrayAudioTrack(np.zeros(48000 * 10, np.int16)))
        await wait_reports(client, {"startup_fn"})
        await client.wait_for_event("connected")
        await client.trigger()  # ends a turn now: the reply function runs
        seen = await wait_reports(client, {"startup_fn", "reply"})
    for call in ("startup_fn", "reply"):
        assert (seen[call]["thread"], seen[call]["user"], seen[call]["session"]) == (
            "pool",
            "dave",
            client.session["session"],
        ), call


async def test_a_server_to_client_generator(asgi_app):
    cookie = await sync_to_async(login)("erin", ("listeners",))
    async with await RtcClient.connect(asgi_app, "t-who-generator", headers=cookie) as client:
        await client.start()
        seen = await wait_reports(client, {"generator"})
        await client.wait_closed()
    assert (seen["generator"]["thread"], seen["generator"]["user"], seen["generator"]["groups"]) == (
        "pool",
        "erin",
        ["listeners"],
    )


async def test_a_video_function(asgi_app):
    cookie = await sync_to_async(login)("frank")
    async with await RtcClient.connect(asgi_app, "t-who-video", headers=cookie) as client:
        await client.start(video=ArrayVideoTrack(lambda i: np.full((96, 128, 3), 128, np.uint8)))
        seen = await wait_reports(client, {"video"})
        await client.wait_for_video(frames=3)
    assert (seen["video"]["thread"], seen["video"]["user"], seen["video"]["session"]) == (
        "pool",
        "frank",
        client.session["session"],
    )

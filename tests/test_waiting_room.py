"""The waiting room: past the concurrency limit, clients wait in one line, first come first served,
and are seated in order when a seat frees (across workers: tests/test_waiting_room_workers.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime

import pytest
from django.utils import timezone

from rtcstream.admission.backends import DatabaseAdmission
from rtcstream.admission.refusals import QueueFull, SessionLimitReached
from rtcstream.admission.waiting_room import QueuePlace
from rtcstream.client import RtcClient
from rtcstream.endpoints import registry
from rtcstream.endpoints.resolution import Endpoint, from_row, from_spec
from rtcstream.models import EndReason, SessionStatus, StreamEndpoint, StreamSession
from tests.offers import audio_offer_sdp

pytestmark = pytest.mark.django_db(transaction=True)


def endpoint(limit: int = 1, **changes) -> Endpoint:
    spec = registry.get_handler("t-wait-one")
    return dataclasses.replace(from_spec(spec), slug="line", concurrency_limit=limit, **changes)


def acquire(admission: DatabaseAdmission, target: Endpoint, session_id: str) -> QueuePlace | None:
    return asyncio.run(admission.acquire(target, session_id, {"user": None, "client": ""}))


def states() -> dict[str, tuple[str, str]]:
    return {r.session_id: (r.state, r.end_reason) for r in StreamSession.objects.all()}


class TestTheLine:
    def test_the_registry_entry_and_the_admin_row_set_the_waiting_room(self):
        spec = registry.get_handler("t-wait-one")
        assert (spec.when_full, spec.queue_length, spec.max_wait) == ("wait", 3, 60.0)
        assert from_spec(registry.get_handler("t-echo")).when_full == "refuse"  # DEFAULT_WHEN_FULL
        inherits = from_row(StreamEndpoint.objects.create(slug="a", handler="t-wait-one"))
        assert (inherits.when_full, inherits.queue_length, inherits.max_wait) == ("wait", 3, 60.0)
        own = from_row(
            StreamEndpoint.objects.create(
                slug="b", handler="t-wait-one", when_full="refuse", queue_length=0, max_wait=5
            )
        )
        assert (own.when_full, own.queue_length, own.max_wait) == ("refuse", None, 5.0)  # 0: no bound

    def test_first_come_first_served_and_a_newcomer_never_jumps_the_line(self):
        admission = DatabaseAdmission()
        target = endpoint(limit=1)
        assert acquire(admission, target, "a") is None
        assert acquire(admission, target, "b") == QueuePlace(1, 1, target.time_limit)
        assert acquire(admission, target, "c") == QueuePlace(2, 2, None)
        asyncio.run(admission.release("a", "client_stop"))
        # The freed seat is b's: a newcomer d, and c, asking first, stay in line.
        assert acquire(admission, target, "d").position == 3
        assert acquire(admission, target, "c").position == 2
        assert acquire(admission, target, "b") is None
        assert acquire(admission, target, "c").position == 1
        assert states()["b"] == (SessionStatus.LIVE, "")
        row = StreamSession.objects.get(session_id="b")
        assert row.queued_at is not None and row.started_at > row.queued_at  # its minutes count from its seat

    def test_a_full_line_refuses_and_an_endpoint_that_refuses_never_queues(self):
        admission = DatabaseAdmission()
        target = endpoint(limit=1, queue_length=2)
        assert acquire(admission, target, "a") is None
        assert acquire(admission, target, "b").position == 1
        assert acquire(admission, target, "c").position == 2
        with pytest.raises(QueueFull):
            acquire(admission, target, "d")
        refusing = dataclasses.replace(target, slug="refusing", when_full="refuse")
        assert acquire(admission, refusing, "e") is None
        with pytest.raises(SessionLimitReached):
            acquire(admission, refusing, "f")
        assert states()["d"] == (SessionStatus.REFUSED, EndReason.QUEUE_FULL)

    def test_a_waiter_that_leaves_or_whose_process_died_leaves_the_line(self):
        admission = DatabaseAdmission()
        target = endpoint(limit=1)
        assert acquire(admission, target, "a") is None
        for waiter in "bcd":
            acquire(admission, target, waiter)
        asyncio.run(admission.release("b", "client_stop"))  # its page closed
        StreamSession.objects.filter(session_id="c").update(  # its process stopped beating
            heartbeat_at=timezone.now() - datetime.timedelta(seconds=31)
        )
        assert acquire(admission, target, "d").position == 1
        assert states()["b"] == (SessionStatus.REFUSED, "client_stop")
        assert states()["c"] == (SessionStatus.REFUSED, EndReason.EXPIRED)

    def test_the_estimate_is_the_position_times_the_mean_seat_time_over_the_seats(self):
        now = timezone.now()
        for n, seconds in enumerate((10, 20, 30)):
            StreamSession.objects.create(
                session_id=f"old{n}",
                endpoint_slug="line",
                state=SessionStatus.ENDED,
                started_at=now - datetime.timedelta(seconds=seconds),
                ended_at=now,
            )
        admission = DatabaseAdmission()
        target = endpoint(limit=2)
        assert acquire(admission, target, "a") is None and acquire(admission, target, "b") is None
        assert acquire(admission, target, "c") == QueuePlace(1, 1, pytest.approx(1 * 20 / 2))
        assert acquire(admission, target, "d") == QueuePlace(2, 2, pytest.approx(2 * 20 / 2))
        assert QueuePlace(2, 2, 19.6).as_message() == {"type": "queue", "position": 2, "length": 2, "estimate": 20}


async def offer(client: RtcClient, sdp: str) -> None:
    await client.send({"type": "offer", "sdp": sdp})


def replies(client: RtcClient, kind: str) -> list[dict]:
    return [m for m in client.messages if m["type"] == kind]


@pytest.fixture
def slow_polls(settings):
    """Waiters ask again only every 30 s on their own: anything sooner is the bell."""
    settings.RTCSTREAM = {**settings.RTCSTREAM, "QUEUE_POLL_INTERVAL": 30.0}


async def test_waiters_see_their_place_and_are_seated_in_order_as_soon_as_a_seat_frees(asgi_app, slow_polls):
    sdp = await audio_offer_sdp()
    clients = [await RtcClient.connect(asgi_app, "t-wait-one") for _ in range(3)]
    try:
        seated, first, second = clients
        await offer(seated, sdp)
        await seated.wait_for_message("answer")
        await offer(first, sdp)
        assert await first.wait_for_message("queue") == {"type": "queue", "position": 1, "length": 1, "estimate": None}
        await offer(second, sdp)
        assert (await second.wait_for_message("queue"))["position"] == 2
        started = asyncio.get_running_loop().time()
        await seated.stop()
        await first.wait_for_message("answer", timeout=10)
        assert asyncio.get_running_loop().time() - started < 5  # rung, not polled
        await second.wait_for_message("queue", position=1)  # moved up
        await first.stop()
        await second.wait_for_message("answer", timeout=10)
        assert not replies(second, "error") and not replies(first, "error")
    finally:
        await asyncio.gather(*(c.close() for c in clients))


async def test_a_waiter_that_closes_its_page_leaves_the_line_and_the_next_moves_up(asgi_app, slow_polls):
    sdp = await audio_offer_sdp()
    seated, leaving, staying = [await RtcClient.connect(asgi_app, "t-wait-one") for _ in range(3)]
    try:
        await offer(seated, sdp)
        await seated.wait_for_message("answer")
        await offer(leaving, sdp)
        await leaving.wait_for_message("queue", position=1)
        await offer(staying, sdp)
        await staying.wait_for_message("queue", position=2)
        await leaving.close()  # the socket goes: its session ends, and with it its place
        await staying.wait_for_message("queue", position=1, timeout=5)
        row = await StreamSession.objects.aget(session_id=leaving.session["session"])
        assert (row.state, row.end_reason) == (SessionStatus.REFUSED, "disconnected")
    finally:
        await asyncio.gather(seated.close(), staying.close())


async def test_the_longest_wait_refuses_with_its_own_code(asgi_app):
    await StreamEndpoint.objects.acreate(slug="short-wait", handler="t-wait-one", max_wait=1.0)
    sdp = await audio_offer_sdp()
    seated, waiting = [await RtcClient.connect(asgi_app, "short-wait") for _ in range(2)]
    try:
        await offer(seated, sdp)
        await seated.wait_for_message("answer")
        await offer(waiting, sdp)
        await waiting.wait_for_message("queue")
        error = await waiting.wait_for_message("error", timeout=10)
        assert error["code"] == "queue_timeout"
        row = await StreamSession.objects.aget(session_id=waiting.session["session"])
        assert (row.state, row.end_reason) == (SessionStatus.REFUSED, EndReason.QUEUE_TIMEOUT)
        # The session may offer again: it joins the line anew.
        await offer(waiting, sdp)
        await waiting.wait_until(lambda: len(replies(waiting, "queue")) >= 2)
    finally:
        await asyncio.gather(seated.close(), waiting.close())


async def test_the_python_client_waits_its_turn(asgi_app):
    from rtcstream.client import ArrayAudioTrack
    from tests.handlers import tone

    async with await RtcClient.connect(asgi_app, "t-wait-one") as seated:
        await seated.start(audio=ArrayAudioTrack(tone(440, 30, 48000)))
        async with await RtcClient.connect(asgi_app, "t-wait-one") as waiter:
            starting = asyncio.ensure_future(waiter.start(audio=ArrayAudioTrack(tone(440, 30, 48000)), timeout=30))
            await waiter.wait_for_message("queue")
            assert not starting.done()
            await seated.stop()
            await starting
            await waiter.wait_for_event("connected")
            row = await StreamSession.objects.aget(session_id=waiter.session["session"])
            assert row.state == SessionStatus.LIVE and row.queued_at is not None

"""StreamHandler semantics the user guide's code relies on: receive and emit run
at the same time, and a call blocked past its session's end costs nothing."""

from __future__ import annotations

import asyncio
import logging
import signal
import time

import pytest
from django.conf import settings
from django.test import override_settings

from rtcstream.admission import refusals
from rtcstream.client import ArrayAudioTrack, RtcClient, RtcError
from rtcstream.execution import calls
from tests.daphne import OUTPUT, serve
from tests.handlers import BLOCKED_GATE, SHUT_DOWN, KeptEchoHandler, tone
from tests.media_checks import dominant_frequency, loud_part

pytestmark = [pytest.mark.django_db(transaction=True)]


async def test_the_guides_echo_handler_with_a_blocking_queue_echoes(asgi_app):
    # emit() is the guide's `return self.queue.get()`: it blocks until receive() puts a frame.
    async with await RtcClient.connect(asgi_app, "t-guide-echo") as client:
        await client.start(audio=ArrayAudioTrack(tone(620, 10, 48000)))
        audio = await client.wait_for_audio(seconds=1.5)
        samples = loud_part(audio.samples())
        assert samples.size > 48000
        assert abs(dominant_frequency(samples[-24000:]) - 620) < 5


@pytest.mark.parametrize(("endpoint", "kind"), [("t-async-shutdown", "async def"), ("t-plain-shutdown", "def")])
async def test_an_async_handlers_shutdown_runs_once_when_its_session_ends_whether_async_or_not(
    asgi_app, endpoint, kind
):
    SHUT_DOWN.clear()
    async with await RtcClient.connect(asgi_app, endpoint) as client:
        await client.start(audio=ArrayAudioTrack(tone(440, 10, 48000)))
        await client.wait_for_audio(seconds=0.3)
        assert SHUT_DOWN == []
        assert (await client.stop())["reason"] == "client_stop"
        await client.wait_until(lambda: SHUT_DOWN, timeout=5)
    assert SHUT_DOWN == [kind]


@override_settings(DEBUG=True)  # the page then reads what the log says
async def test_a_copy_that_returns_the_handler_itself_is_refused_and_says_why(asgi_app, caplog):
    # Every session would run one object: one visitor's audio, inputs and events reaching another.
    async with await RtcClient.connect(asgi_app, "t-shared-echo") as client:
        with pytest.raises(RtcError) as refused:
            await client.start(audio=ArrayAudioTrack(tone(440, 10, 48000)))
    assert refused.value.code == "server_error"
    assert "copy() returned the handler itself" in refused.value.message
    assert "copy() returned the handler itself" in caplog.text


async def test_a_copy_handed_out_twice_serves_its_first_session_alone(asgi_app, caplog):
    KeptEchoHandler.kept = None
    async with await RtcClient.connect(asgi_app, "t-kept-echo") as first:
        await first.start(audio=ArrayAudioTrack(tone(440, 10, 48000)))
        async with await RtcClient.connect(asgi_app, "t-kept-echo") as second:
            with pytest.raises(RtcError) as refused:
                await second.start(audio=ArrayAudioTrack(tone(880, 10, 48000)))
        assert refused.value.code == "server_error"
        assert f"already serves session {first.session['session']}" in caplog.text
        heard = loud_part((await first.wait_for_audio(seconds=1.5)).samples())
        assert heard.size > 48000 and abs(dominant_frequency(heard[-24000:]) - 440) < 5
        assert "closed" not in [m["type"] for m in first.messages]


@pytest.fixture
def blocked_gate():
    """Open the gate after the test, so that the blocked calls return and their threads exit.

    Yields a list the test puts its pool in (the pool changes with the settings).
    """
    BLOCKED_GATE.clear()
    pools: list[calls.WorkerPool] = []
    yield pools
    BLOCKED_GATE.set()
    deadline = time.monotonic() + 5
    while any(pool.stats["released"] for pool in pools) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [pool.stats["released"] for pool in pools] == [0] * len(pools)
    BLOCKED_GATE.clear()


async def test_the_guides_echo_handler_is_woken_when_its_session_ends_and_holds_no_thread(asgi_app, caplog):
    # emit() blocks in `self.queue.get()` and the guide's handler has no shutdown():
    # when the session ends, rtcstream puts None in that queue (rtcstream.execution.wake).
    caplog.set_level(logging.DEBUG, logger="rtcstream.workers")
    pool = calls.get_pool()
    for _ in range(3):
        async with await RtcClient.connect(asgi_app, "t-guide-echo") as client:
            await client.start(audio=ArrayAudioTrack(tone(440, 10, 48000)))
            await client.wait_for_audio(seconds=0.3)
            assert (await client.stop())["reason"] == "client_stop"
    await client.wait_until(
        lambda: "from queue.get()" in caplog.text, timeout=5
    )  # (an emit between two gets needs no waking)
    await client.wait_until(lambda: pool.stats["threads"] == pool.stats["idle"], timeout=5)
    assert pool.stats["released"] == 0 and pool.stuck("t-guide-echo") == 0
    assert "still running" not in caplog.text


@override_settings(RTCSTREAM={**settings.RTCSTREAM, "WORKER_THREADS": 4})
async def test_calls_that_cannot_be_woken_are_released_and_their_handler_refused_while_others_run(
    asgi_app, blocked_gate, caplog
):
    caplog.set_level(logging.WARNING, logger="rtcstream.workers")
    pool = calls.get_pool()
    blocked_gate.append(pool)
    assert pool.size == 4 and refusals.stuck_limit() == 1
    # A session whose emit() blocks in threading.Event.wait(), which nothing wakes.
    async with await RtcClient.connect(asgi_app, "t-blocked") as client:
        await client.start(audio=ArrayAudioTrack(tone(440, 10, 48000)))
        await client.wait_for_event("emit_blocked")
        assert (await client.stop())["reason"] == "client_stop"
    await client.wait_until(lambda: pool.stats["released"] == 1, timeout=5)
    stuck = [r for r in caplog.records if "BlockedHandler.emit" in r.getMessage()]
    assert len(stuck) == 1 and stuck[0].levelno == logging.WARNING
    assert "tests.handlers.BlockedHandler.emit" in stuck[0].getMessage()
    assert "after its session ended" in stuck[0].getMessage()
    assert pool.stuck("t-blocked") == 1 and pool.stats["threads"] <= 4
    # Its handler opens no more sessions (each would hold a thread for ever) ...
    async with await RtcClient.connect(asgi_app, "t-blocked") as client:
        with pytest.raises(RtcError) as refused:
            await client.start(audio=ArrayAudioTrack(tone(440, 10, 48000)))
        assert refused.value.code == "handler_stuck"
    # ... while another endpoint gets the pool's threads: the guide's echo needs two at once.
    async with await RtcClient.connect(asgi_app, "t-guide-echo") as client:
        await client.start(audio=ArrayAudioTrack(tone(700, 10, 48000)))
        audio = await client.wait_for_audio(seconds=1.0)
        assert abs(dominant_frequency(loud_part(audio.samples())[-24000:]) - 700) < 5
    # Once the stuck call returns, the handler is served again.
    BLOCKED_GATE.set()
    await client.wait_until(lambda: pool.stuck("t-blocked") == 0, timeout=5)
    BLOCKED_GATE.clear()
    async with await RtcClient.connect(asgi_app, "t-blocked") as client:
        await client.start(audio=ArrayAudioTrack(tone(440, 10, 48000)))
        await client.wait_for_event("emit_blocked")
    BLOCKED_GATE.set()


DRAIN = 1.0  # RTCSTREAM["DRAIN_SECONDS"]: live sessions run this long after SIGTERM, then are closed


async def test_daphne_stops_on_sigterm_within_5_s_of_its_drain_with_live_sessions_and_handlers_blocked_forever():
    log = OUTPUT / "daphne-blocked.log"
    with serve("tests.settings", "daphne-blocked", env={"RTCSTREAM_DRAIN_SECONDS": str(DRAIN)}) as (url, process):
        # Two sessions whose emit() blocks forever: one stopped, one whose client just goes away.
        for goodbye in ("stop", "drop"):
            client = await RtcClient.connect(url, "t-blocked")
            await client.start(audio=ArrayAudioTrack(tone(440, 10, 48000)))
            await client.wait_for_event("emit_blocked")  # the call is under way before the session ends
            if goodbye == "stop":
                await client.stop()
            await client.close()
        deadline = time.monotonic() + 10
        while log.read_text().count("BlockedHandler.emit (session") < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert log.read_text().count("tests.handlers.BlockedHandler.emit (session") == 2
        # And two sessions still live when the signal comes: one blocked for ever, one echoing.
        live = []
        for endpoint in ("t-blocked", "t-echo"):
            client = await RtcClient.connect(url, endpoint)
            await client.start(audio=ArrayAudioTrack(tone(440, 30, 48000)))
            await client.wait_for_event("emit_blocked" if endpoint == "t-blocked" else "connected")
            live.append(client)
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        while process.poll() is None and time.monotonic() - sent < DRAIN + 10:
            await asyncio.sleep(0.05)
        took = time.monotonic() - sent
        assert process.poll() is not None, f"daphne ignored SIGTERM for {DRAIN + 10:g} s"
        assert took < DRAIN + 5.0, f"daphne took {took:.1f} s to stop (its drain: {DRAIN:g} s)"
        assert log.read_text().count("reason=server_shutdown") == 2  # the live sessions were closed, not abandoned
        for client in live:
            await client.close()


async def test_a_sync_handlers_trigger_response_runs_in_the_pool_not_on_the_loop(asgi_app):
    async with await RtcClient.connect(asgi_app, "t-trigger") as client:
        await client.start(audio=ArrayAudioTrack(tone(440, 10, 48000)))
        await client.wait_for_event("connected")
        await client.trigger()
        thread = (await client.wait_for_outputs(1))[0]["values"][0]
        assert thread.startswith("rtcstream_"), thread

"""A thousand short sessions on the user guide's EchoHandler, verbatim, through daphne.

Its ``emit`` blocks in ``queue.get()`` and it has no ``shutdown()``: each session
that ends leaves that call waiting for a frame that never comes. Nothing of it
may be held for the next visitor: not the endpoint's slots, not the worker
pool, not threads or memory, not the process's exit.
"""

from __future__ import annotations

import asyncio
import collections
import signal
import time

import psutil
import pytest

from rtcstream.client import ArrayAudioTrack, RtcClient, RtcError
from tests.daphne import OUTPUT, serve
from tests.handlers import tone
from tests.media_checks import dominant_frequency, loud_part

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SESSIONS = 1000
AT_ONCE = 4  # the endpoint's concurrency limit: a slot held after a session ends refuses the next
ADDRESSES = 50


async def short_session(url: str, number: int, outcomes: collections.Counter[str]) -> None:
    """Connect, send 0.3 s of audio, then stop (even numbers) or vanish (odd ones)."""
    address = f"127.0.9.{number % ADDRESSES + 1}"
    deadline = time.monotonic() + 30
    while True:
        async with await RtcClient.connect(url, "t-guide-echo-4", local_address=address) as client:
            try:
                await client.start(audio=ArrayAudioTrack(tone(440 + number % 7 * 60, 2, 48000)))
            except RtcError as refused:
                outcomes[refused.code] += 1
                assert time.monotonic() < deadline, f"session {number} refused for 30 s"
                continue
            await client.wait_for_audio(seconds=0.3)
            if number % 2 == 0:
                assert (await client.stop())["reason"] == "client_stop"
            outcomes["ok"] += 1
            return


async def echoes(url: str, endpoint: str, frequency: float) -> None:
    async with await RtcClient.connect(url, endpoint, local_address="127.0.8.1") as client:
        await client.start(audio=ArrayAudioTrack(tone(frequency, 10, 48000)))
        audio = await client.wait_for_audio(seconds=1.0)
        assert abs(dominant_frequency(loud_part(audio.samples())[-24000:]) - frequency) < 5


async def test_a_thousand_short_sessions_leave_every_endpoint_serving_and_the_process_bounded():
    with serve("tests.settings", "many-sessions") as (url, process):
        server = psutil.Process(process.pid)
        outcomes: collections.Counter[str] = collections.Counter()
        turn = asyncio.Semaphore(AT_ONCE)

        async def run(number: int) -> None:
            async with turn:
                await short_session(url, number, outcomes)

        await asyncio.gather(*(run(n) for n in range(100)))
        rss_warm, threads_warm = server.memory_info().rss, server.num_threads()
        await asyncio.gather(*(run(n) for n in range(100, SESSIONS)))
        rss_end, threads_end = server.memory_info().rss, server.num_threads()
        figures = (
            f"{outcomes}; threads {threads_warm} after 100 sessions, {threads_end} after {SESSIONS}; "
            f"RSS {rss_warm / 2**20:.0f} MB after 100, {rss_end / 2**20:.0f} MB after {SESSIONS}"
        )
        print(figures)
        assert outcomes["ok"] == SESSIONS, figures
        # A vanished client's slot is given back as soon as daphne sees its socket close; a
        # new offer racing that close may be refused once. A slot held for good would refuse for 30 s.
        assert outcomes["concurrency_limit"] <= SESSIONS // 100, figures
        assert threads_end <= threads_warm + 8 and threads_end < 64, figures
        assert rss_end - rss_warm < 48 * 2**20, figures
        # The same endpoint and another one both answer at once.
        await echoes(url, "t-guide-echo-4", 660)
        await echoes(url, "t-echo", 880)
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        while process.poll() is None and time.monotonic() - sent < 10:
            await asyncio.sleep(0.05)
        took = time.monotonic() - sent
        assert process.poll() is not None and took < 5.0, f"daphne took {took:.1f} s to stop on SIGTERM"
    # Clients that stop, vanish or close their outputs socket while the server still writes to it are
    # what a server sees every day: none of it is an error in its log.
    errors = [line for line in (OUTPUT / "many-sessions.log").read_text().splitlines() if " ERROR " in line]
    assert not errors, errors[:5]

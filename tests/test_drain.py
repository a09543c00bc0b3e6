"""Issue 21, item 7: a daphne worker that gets SIGTERM drains (rtcstream.operations.drain).

One daphne process, DRAIN_SECONDS = 4: after SIGTERM it stops listening, refuses a
session that still reaches it on a connection it had accepted (4502), ends a session
that offers then, lets a live session run until its own end (a time limit) or the
bound, tells the other one's page `restarting`, ends it with `server_shutdown` at the
bound, and exits.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from urllib.parse import urlsplit

import psutil
import pytest
import websockets

from rtcstream.client import ArrayAudioTrack, Backoff, Reconnecting, RtcClient
from rtcstream.operations.drain import DrainSignal
from rtcstream.signalling.close_codes import CloseCode
from tests.daphne import OUTPUT, free_port, migrate, serve, worker
from tests.handlers import tone
from tests.refusals import socket_refusal
from tests.workers import offer_sdp, until

DRAIN = 4.0


def holds(pid: int, client: tuple[str, int]) -> bool:
    """Whether process ``pid`` has accepted the TCP connection from ``client`` (address, port)."""
    return any(c.raddr and tuple(c.raddr) == client for c in psutil.Process(pid).net_connections("tcp"))


async def started(url: str, slug: str, address: str, seconds: float = 30) -> RtcClient:
    client = await RtcClient.connect(url, slug, local_address=address)
    await client.start(audio=ArrayAudioTrack(tone(440, seconds, 48000)))
    await client.wait_for_event("connected")
    return client


async def test_sigterm_drains_live_sessions_to_their_end_or_the_bound_then_daphne_exits(fresh_address):
    with serve("tests.settings", "drain", env={"RTCSTREAM_DRAIN_SECONDS": str(DRAIN)}) as (url, process):
        host, port = urlsplit(url).hostname, urlsplit(url).port
        long = await started(url, "t-echo", fresh_address)
        short = await started(url, "t-echo-timed", fresh_address)  # a time limit of 1.5 s, within the bound
        idle = await RtcClient.connect(url, "t-echo", local_address=fresh_address)  # it will offer too late
        # A connection the server accepted before the signal: its session is asked for after it.
        early = socket.create_connection((host, port))
        loop = asyncio.get_running_loop()
        await until(lambda: holds(process.pid, early.getsockname()), 5, "daphne to accept the early connection")
        process.send_signal(signal.SIGTERM)
        signalled = loop.time()

        notice = await long.wait_for_message("restarting", timeout=5)
        assert notice["seconds"] == DRAIN and "restarting" in notice["message"]
        # It stopped listening: a new connection is refused (the kernel has no one to give it to).
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host, port), timeout=2).close()
        # One that reaches it anyway is refused with 4502: "connect again".
        sock_url = f"ws://{host}:{port}/ws/rtcstream/t-echo/"
        async with websockets.connect(sock_url, sock=early, origin=websockets.Origin(url)) as refused:
            assert await socket_refusal(refused, linger=5) == CloseCode.RESTARTING
        # A session that offers now is admitted nowhere here: it ends, and its page starts again elsewhere.
        await idle.send({"type": "offer", "sdp": await offer_sdp()})
        assert (await idle.wait_closed(timeout=5))["reason"] == "server_shutdown"

        # The short session ends on its own, by its time limit, not by the drain.
        assert (await short.wait_closed(timeout=5))["reason"] == "time_limit"
        # The long one runs on, media flowing, until the bound.
        heard = long.audio.seconds()
        ended = await long.wait_closed(timeout=DRAIN + 5)
        lasted = loop.time() - signalled
        assert ended["reason"] == "server_shutdown" and ended["message"] == "The server is restarting."
        assert DRAIN <= lasted <= DRAIN + 8, lasted  # the drain began after the signal; room for a busy machine
        assert long.audio.seconds() - heard >= 1.0  # media went on while it drained
        # Then daphne stops, on its own.
        returncode = await asyncio.to_thread(process.wait, 15)
        assert returncode == 0
        for client in (long, short, idle):
            await client.close()


def drain_env(name: str, seconds: float) -> dict[str, str]:
    """The test settings on a fresh SQLite database of their own, draining ``seconds``; migrated."""
    database = OUTPUT / f"{name}.sqlite3"
    database.unlink(missing_ok=True)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "RTCSTREAM_TEST_DB": str(database)}
    env["RTCSTREAM_DRAIN_SECONDS"] = str(seconds)
    for name_ in ("REDIS_URL", "DATABASE_URL"):
        env.pop(name_, None)
    migrate(env)
    return env


async def test_one_worker_replaced_on_its_port_while_it_drains_and_the_page_reconnects(fresh_address):
    """One daphne, no supervisor: the new one binds the port as soon as the old one drains."""
    env = drain_env("drain-port", 3)
    port = free_port()
    with worker(env, "drain-port-old", port=port) as (url, old):
        page = Reconnecting(
            url,
            "t-echo",
            lambda c: c.start(audio=ArrayAudioTrack(tone(440, 60, 48000))),
            backoff=Backoff(first=0.25, most=1, attempts=60),
            local_address=fresh_address,
        )
        running = asyncio.ensure_future(page.run())
        await asyncio.wait_for(page.live.wait(), 10)
        first = page.current
        assert first is not None
        old.send_signal(signal.SIGTERM)
        await first.wait_for_message("restarting", timeout=5)
        with worker(env, "drain-port-new", port=port) as (_, new):
            await first.wait_closed(timeout=10)
            await asyncio.to_thread(old.wait, 15)

            def moved() -> bool:
                return page.live.is_set() and page.current is not first

            await first.wait_until(moved, timeout=30)
            assert [end["reason"] for end in page.ends] == ["server_shutdown"]
            second = page.current
            assert second is not None and second.session["session"] != first.session["session"]
            heard = second.audio.seconds()
            await second.wait_until(lambda: second.audio.seconds() >= heard + 1.0)
            assert new.poll() is None
            await second.send({"type": "stop"})
            assert (await asyncio.wait_for(running, 10))["reason"] == "client_stop"


def test_the_drain_is_installed_only_under_a_running_twisted_reactor():
    from rtcstream.runtime import replace_runtime

    runtime = replace_runtime()
    loop = asyncio.new_event_loop()
    try:
        assert runtime.drain.install(loop) is False  # pytest: no reactor; SIGTERM keeps its handler
        assert not isinstance(signal.getsignal(signal.SIGTERM), DrainSignal)
    finally:
        loop.close()

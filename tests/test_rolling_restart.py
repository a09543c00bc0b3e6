"""Issue 21, items 5 and 7 across workers: a rolling restart of `make serve-workers` (two daphnes, one port).

Two workers on a private PostgreSQL and Redis, DRAIN_SECONDS = 6, the metrics in
prometheus_client's multiprocess mode. Pages (the Python client's ``Reconnecting``,
as the widget does) hold long echo sessions; SIGHUP makes serve_workers.py replace
the workers one at a time. Every session that ends, ends at its bound (it was told
``restarting``, ran DRAIN_SECONDS more, ended ``server_shutdown``) and its page is
live again on a new worker; time-limited sessions opened all along are all admitted
and all end by their own time limit; any worker's scrape sums every worker's metrics.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import sys
from collections.abc import Iterator

import psutil
import pytest

from rtcstream.client import ArrayAudioTrack, Backoff, Reconnecting, RtcClient
from tests.daphne import free_port, running
from tests.handlers import tone
from tests.metrics import scrape, value
from tests.test_shared_engines import serves
from tests.workers import live_workers, shared_engines, until

pytestmark = pytest.mark.engines

DRAIN = 6.0
PAGES = 4
OPEN_EVERY = 0.3  # seconds between two short sessions


@pytest.fixture(scope="module")
def engines() -> Iterator[dict[str, str]]:
    with shared_engines("rolling-", RTCSTREAM_TEST_CAP="8", RTCSTREAM_DRAIN_SECONDS=str(DRAIN)) as env:
        yield env


def holder(pids: set[int], client: RtcClient) -> int | None:
    """The worker whose process holds ``client``'s signalling connection."""
    local = tuple(client.signalling.socket.local_address[:2])
    for pid in pids:
        try:
            connections = psutil.Process(pid).net_connections("tcp")
        except psutil.NoSuchProcess:
            continue
        if any(c.raddr and tuple(c.raddr) == local for c in connections):
            return pid
    return None


class Page:
    """A page with a long echo session that starts again after a restart; notes when each session heard what."""

    def __init__(self, url: str, address: str) -> None:
        self.reconnecting = Reconnecting(
            url, "t-echo", self._start, backoff=Backoff(first=0.25, most=2, attempts=30), local_address=address
        )
        self.timings: dict[str, dict[str, float]] = {}  # session id -> {"restarting": t, "closed": t}
        self._watchers: list[asyncio.Task[None]] = []

    async def _start(self, client: RtcClient) -> None:
        await client.start(audio=ArrayAudioTrack(tone(440, 120, 48000)))
        self._watchers.append(asyncio.ensure_future(self._watch(client)))

    async def _watch(self, client: RtcClient) -> None:
        seen = self.timings.setdefault(client.session["session"], {})
        loop = asyncio.get_running_loop()
        while "closed" not in seen:
            for message in client.messages:
                kind = "closed" if message["type"] in ("closed", "socket_closed") else message["type"]
                if kind in ("restarting", "closed") and kind not in seen:
                    seen[kind] = loop.time()
            await asyncio.sleep(0.05)

    def stop(self) -> None:
        for task in self._watchers:
            task.cancel()


async def short_sessions(
    url: str, stop: asyncio.Event, results: list[str], retried: list[int], windows: list[tuple[float, float]]
) -> None:
    """Open a 1.5 s time-limited session every ``OPEN_EVERY`` s until ``stop``, as a page does; each one's end reason.

    A worker that begins to drain refuses the sockets it had accepted just before (4502)
    and ends a session that offers then (``server_shutdown``): "connect
    again", which ``Reconnecting`` does, as the widget does. ``retried`` counts those;
    ``windows`` gets, for each session, when it was admitted and when it was answered (or ended), on the
    loop's clock: the time in which a drain can catch it.
    """
    pending: list[asyncio.Task[None]] = []

    async def start(client: RtcClient) -> None:
        admitted = asyncio.get_running_loop().time()  # Reconnecting starts a session once the server admitted it
        try:
            await client.start(audio=ArrayAudioTrack(tone(440, 10, 48000)))
        finally:
            windows.append((admitted, asyncio.get_running_loop().time()))

    async def one(n: int) -> None:
        page = Reconnecting(
            url, "t-echo-timed", start, backoff=Backoff(first=0.1, attempts=5), local_address=f"127.0.31.{n % 250 + 1}"
        )
        try:
            closed = await asyncio.wait_for(page.run(), 20)
        except Exception as exc:  # a refusal is what this test is about: record it, never hide it
            results.append(f"{type(exc).__name__}: {exc}")
            return
        results.append(closed["reason"] if len(page.ends) == 1 else f"ended at the bound: {page.ends}")
        retried.append(len(page.sessions) - 1)

    n = 0
    while not stop.is_set():
        pending.append(asyncio.ensure_future(one(n)))
        n += 1
        await asyncio.sleep(OPEN_EVERY)
    await asyncio.gather(*pending)


def most_at_once(windows: list[tuple[float, float]]) -> int:
    """The most of ``windows`` (start, end) open at one instant."""
    edges = sorted([(start, 1) for start, _ in windows] + [(end, -1) for _, end in windows])
    return max(itertools.accumulate(step for _, step in edges), default=0)


async def test_a_rolling_restart_loses_no_session_before_its_bound(engines, tmp_path):
    env = {**engines, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    port = free_port()
    command = [sys.executable, "scripts/serve_workers.py", "-n", "2", "-p", str(port), "--warmup", "2"]
    with running(command, "rolling-restart", "127.0.0.1", port, env) as process:
        url = f"http://127.0.0.1:{port}"
        supervisor = psutil.Process(process.pid)
        await until(lambda: serves(url), 60, "the workers to answer")
        old = live_workers(supervisor)
        assert len(old) == 2

        pages = [Page(url, f"127.0.30.{i + 1}") for i in range(PAGES)]
        runs = [asyncio.ensure_future(page.reconnecting.run()) for page in pages]
        await asyncio.wait_for(asyncio.gather(*(p.reconnecting.live.wait() for p in pages)), 30)
        on = [holder(old, p.reconnecting.current) for p in pages]
        assert all(pid in old for pid in on), on
        # Any worker's scrape counts the sessions of both (multiprocess mode).
        samples = await asyncio.to_thread(scrape, url)
        assert value(samples, "rtcstream_live_sessions", endpoint="t-echo") == PAGES, (on, samples)

        stop_shorts, shorts, retried, windows = asyncio.Event(), [], [], []
        opening = asyncio.ensure_future(short_sessions(url, stop_shorts, shorts, retried, windows))
        process.send_signal(signal.SIGHUP)
        draining_seen: set[str] = set()

        def restarted() -> bool:
            for (name, labels), v in scrape(url).items():
                if name == "rtcstream_draining" and v == 1:
                    draining_seen.add(dict(labels)["pid"])
            now = live_workers(supervisor)
            return len(now) == 2 and not now & old

        await until(restarted, 2 * (DRAIN + 15), "both workers to be replaced")
        new = live_workers(supervisor)
        stop_shorts.set()
        await opening

        def all_live_on_new_workers() -> bool:
            return all(p.reconnecting.live.is_set() and holder(new, p.reconnecting.current) for p in pages)

        await until(all_live_on_new_workers, 30, "every page to be live on a new worker")

        # Every session that ended, ended at its bound, told first; its page started again.
        for page in pages:
            ends = page.reconnecting.ends
            assert ends and {e["reason"] for e in ends} == {"server_shutdown"}, ends
            for session, seen in page.timings.items():
                if "closed" in seen:
                    assert "restarting" in seen, (session, seen)
                    # On this client's clock, which sees the notice late when its loop is busy (it runs
                    # some twenty sessions here); a session cut at the SIGTERM would end at once.
                    assert seen["closed"] - seen["restarting"] >= DRAIN - 2.0, (session, seen)
            current = page.reconnecting.current
            heard = current.audio.seconds()
            await current.wait_until(lambda c=current, h=heard: c.audio.seconds() >= h + 0.5)
        # New sessions all along went to a worker that was up: every one admitted, every one ended by itself.
        assert len(shorts) >= 20 and set(shorts) == {"time_limit"}, shorts
        # Retried: at most the sessions caught between admission and answer as each of the two workers began
        # to drain, so at most twice the most that were ever between the two at once (more on a loaded
        # machine, whose answers are slower). A draining worker that went on admitting would have every
        # session it took retried.
        assert sum(retried) <= 2 * most_at_once(windows), (retried, most_at_once(windows))
        # Both old workers were seen draining, in a scrape that another worker answered.
        assert draining_seen == {str(pid) for pid in old}, (draining_seen, old)
        samples = await asyncio.to_thread(scrape, url)
        assert value(samples, "rtcstream_live_sessions", endpoint="t-echo") == PAGES
        assert not [k for k, v in samples.items() if k[0] == "rtcstream_draining" and v], "a dead worker's gauge stayed"
        sessions = sum(len(p.reconnecting.sessions) for p in pages)
        assert value(samples, "rtcstream_admissions_total", endpoint="t-echo") == sessions

        for page, run in zip(pages, runs, strict=True):
            await page.reconnecting.current.send({"type": "stop"})
            assert (await asyncio.wait_for(run, 10))["reason"] == "client_stop"
            page.stop()

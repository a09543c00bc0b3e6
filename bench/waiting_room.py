"""How fast does the waiting room hand a freed seat on, and what does a quota cost admission?

Run: ``.venv/bin/python bench/waiting_room.py`` (about a minute; needs redis-server
and PostgreSQL, as the tests of several workers do). Two daphne workers share a
private PostgreSQL and Redis (tests.settings_users: waiters poll only every 60 s,
so every hand-over below is the bell). Prints figures, never passes or fails:

* hand-over: ``--waiters`` clients wait for an endpoint's 2 seats, alternating
  workers; seats are freed one at a time, on alternate workers; each figure is
  from sending ``stop`` on a seated session to the next waiter receiving its
  ``answer``: the stop's teardown and release, the ring through Redis, the
  waiter's admission query on PostgreSQL and aiortc answering its offer;
* admission: ``--offers`` sequential offers each, from ``offer`` sent to
  ``answer`` received, for an anonymous visitor and for a user with a quota (the
  user's lock row and the quota's queries); each session is stopped before the next.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rtcstream.client import RtcClient  # noqa: E402
from tests.daphne import worker  # noqa: E402
from tests.workers import login, offer_sdp, shared_engines  # noqa: E402


def summary(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    return f"{name}: n={len(ms)} median {statistics.median(ms):.0f} ms, p90 {p90:.0f} ms, max {ms[-1]:.0f} ms"


async def hand_overs(servers: tuple[str, str], waiters: int) -> list[float]:
    sdp = await offer_sdp()

    async def join(n: int) -> RtcClient:
        client = await RtcClient.connect(servers[n % 2], "t-wait-line", local_address=f"127.0.18.{n + 1}")
        await client.send({"type": "offer", "sdp": sdp})
        await client.wait_until(lambda: next((m for m in client.messages if m["type"] in ("answer", "queue")), None))
        return client

    seated = [await join(n) for n in range(2)]
    line = [await join(2 + n) for n in range(waiters)]
    times = []
    try:
        for waiter in line:
            leaving = seated.pop(0)
            started = time.perf_counter()
            await leaving.send({"type": "stop"})
            await waiter.wait_for_message("answer", timeout=30)
            times.append(time.perf_counter() - started)
            seated.append(waiter)
    finally:
        await asyncio.gather(*(c.close() for c in [*seated, *line]))
    return times


async def admissions(server: str, offers: int, headers: list[tuple[str, str]]) -> list[float]:
    sdp = await offer_sdp()
    times = []
    for _ in range(offers):
        async with await RtcClient.connect(server, "t-echo", headers=headers, local_address="127.0.19.1") as client:
            started = time.perf_counter()
            await client.send({"type": "offer", "sdp": sdp})
            await client.wait_for_message("answer", timeout=30)
            times.append(time.perf_counter() - started)
            await client.stop()
    return times


async def main(waiters: int, offers: int, env: dict[str, str], servers: tuple[str, str]) -> None:
    print(
        summary(
            f"hand-over of a freed seat, other worker half the time ({waiters} waiters)",
            await hand_overs(servers, waiters),
        )
    )
    cookie = login(env, "bench", quota="minutes_per_day=600, concurrent_sessions=5")
    print(summary("admission, anonymous", await admissions(servers[0], offers, [])))
    print(summary("admission, a user with a quota", await admissions(servers[0], offers, cookie)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiters", type=int, default=20)
    parser.add_argument("--offers", type=int, default=30)
    args = parser.parse_args()
    with shared_engines("bench-wr-", RTCSTREAM_TEST_CAP="64", DJANGO_SETTINGS_MODULE="tests.settings_users") as env:
        with worker(env, "bench-wr-a") as (a, _), worker(env, "bench-wr-b") as (b, _):
            asyncio.run(main(args.waiters, args.offers, env, (a, b)))

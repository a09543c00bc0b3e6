"""Who, how many and in what order, across two daphne workers sharing PostgreSQL and Redis:
handlers see the same visitor whichever worker serves them, quotas hold across workers, and
the waiting room seats 20 clients in order, none lost, none twice."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from rtcstream.client import ArrayAudioTrack, RtcClient
from tests.daphne import worker
from tests.handlers import tone
from tests.test_session_info import reports, wait_reports
from tests.workers import login, offer_sdp, query, session_row, shared_engines, until

pytestmark = pytest.mark.engines


@pytest.fixture(scope="module")
def engines() -> Iterator[dict[str, str]]:
    with shared_engines("users-", RTCSTREAM_TEST_CAP="64", DJANGO_SETTINGS_MODULE="tests.settings_users") as env:
        yield env


@pytest.fixture(scope="module")
def workers(engines: dict[str, str]) -> Iterator[tuple[str, str]]:
    with worker(engines, "users-a") as (a, _), worker(engines, "users-b") as (b, _):
        yield a, b


async def test_handlers_see_the_same_visitor_on_either_worker_and_a_disabled_account_is_cut_off(workers, engines):
    a, b = workers
    cookie = await asyncio.to_thread(login, engines, "alice", groups=("staff",))
    for signalling, outputs, headers, user in ((a, b, cookie, "alice"), (b, a, cookie, "alice"), (a, b, [], "")):
        async with await RtcClient.connect(
            signalling, "t-who", headers=headers, outputs_server=outputs, local_address="127.0.14.1"
        ) as client:
            await client.start(audio=ArrayAudioTrack(tone(440, 30, 48000)))
            seen = await wait_reports(client, {"start_up", "receive", "emit"}, timeout=30)
            for report in seen.values():
                assert report["session"] == client.session["session"]
                assert (report["user"], report["groups"], report["color"]) == (
                    (user, ["staff"], "teal") if user else ("", [], None)
                ), report
    # Disabled from anywhere (here: the database itself), the session ends at the next check.
    async with await RtcClient.connect(b, "t-who", headers=cookie, local_address="127.0.14.2") as client:
        await client.start(audio=ArrayAudioTrack(tone(440, 60, 48000)))
        await wait_reports(client, {"start_up"}, timeout=30)
        await asyncio.to_thread(
            query,
            engines["DATABASE_URL"],
            "UPDATE auth_user SET is_active = false WHERE username = 'alice' RETURNING id",
        )
        closed = await client.wait_closed(timeout=15)
        assert closed["reason"] == "access_revoked"
    assert session_row(engines["DATABASE_URL"], client.session["session"])[1:] == ("ended", "access_revoked")
    assert reports(client)  # it had run until then


async def send_offers(clients: list[RtcClient]) -> list[dict]:
    sdp = await offer_sdp()
    await asyncio.gather(*(c.send({"type": "offer", "sdp": sdp}) for c in clients))
    return list(
        await asyncio.gather(
            *(
                c.wait_until(lambda c=c: next((m for m in c.messages if m["type"] in ("answer", "error")), None), 30)
                for c in clients
            )
        )
    )


async def test_one_users_sessions_at_once_hold_across_workers_and_endpoints(workers, engines):
    """Twenty offers at once from one user, half on each worker, on four endpoints: exactly two are seated.
    Each endpoint's lock alone would seat one per endpoint: the user's own lock is what holds the quota."""
    cookie = await asyncio.to_thread(login, engines, "bob", quota="concurrent_sessions=2")
    slugs = ["t-echo", "t-echo-timed", "t-level", "t-async-echo"]
    clients = [
        await RtcClient.connect(workers[n % 2], slugs[n % 4], headers=cookie, local_address="127.0.15.1")
        for n in range(20)
    ]
    try:
        replies = await send_offers(clients)
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    assert sum(r["type"] == "answer" for r in replies) == 2, replies
    assert {r.get("code") for r in replies if r["type"] == "error"} == {"quota_sessions"}


async def test_a_users_minutes_run_out_on_one_worker_and_are_refused_on_the_other(workers, engines):
    a, b = workers
    cookie = await asyncio.to_thread(login, engines, "carol", quota="minutes_per_day=0.05")  # 3 s
    async with await RtcClient.connect(a, "t-echo", headers=cookie, local_address="127.0.16.1") as client:
        assert client.session["quota"]["seconds_left"] == pytest.approx(3, abs=0.1)
        await client.start(audio=ArrayAudioTrack(tone(440, 30, 48000)))
        closed = await client.wait_closed(timeout=20)
        assert closed["reason"] == "quota_exhausted"
        assert [m for m in client.messages if m.get("name") == "quota"]
    async with await RtcClient.connect(b, "t-echo", headers=cookie, local_address="127.0.16.1") as again:
        assert again.session["quota"]["seconds_left"] == 0
        (reply,) = await send_offers([again])
        assert reply["code"] == "quota_minutes"


async def test_twenty_waiters_on_two_workers_are_seated_in_order_none_lost_none_twice(workers, engines):
    database_url = engines["DATABASE_URL"]
    slug = "t-wait-line"
    sdp = await offer_sdp()

    async def connect(n: int) -> RtcClient:
        return await RtcClient.connect(workers[n % 2], slug, local_address=f"127.0.17.{n + 1}")

    seated = [await connect(n) for n in range(2)]
    await asyncio.gather(*(c.send({"type": "offer", "sdp": sdp}) for c in seated))
    await asyncio.gather(*(c.wait_for_message("answer", timeout=20) for c in seated))
    # Twenty waiters join one after the other, alternating workers: the line is their order.
    line: list[RtcClient] = []
    for n in range(20):
        client = await connect(2 + n)
        await client.send({"type": "offer", "sdp": sdp})
        place = await client.wait_for_message("queue", timeout=20)
        assert (place["position"], place["length"]) == (n + 1, n + 1), place
        line.append(client)

    most_live = 0
    watching = True

    async def watch_live_count() -> None:
        nonlocal most_live
        while watching:
            count = await asyncio.to_thread(
                lambda: query(
                    database_url,
                    "SELECT count(*) FROM rtcstream_streamsession WHERE endpoint_slug = %s AND state = 'live'",
                    slug,
                )[0][0]
            )
            most_live = max(most_live, count)
            await asyncio.sleep(0.02)

    watcher = asyncio.ensure_future(watch_live_count())
    try:
        # Free one seat at a time, on either worker: the next in line, and only it, is seated.
        for n, waiter in enumerate(line):
            leaving = seated.pop(0)
            await leaving.stop(timeout=20)
            answer = await waiter.wait_for_message("answer", timeout=20)
            assert answer["sdp"].startswith("v=0")
            answered = [c for c in line if any(m["type"] == "answer" for m in c.messages)]
            assert answered == line[: n + 1], f"after {n + 1} seats freed, the seated waiters are not the first {n + 1}"
            for behind, client in enumerate(line[n + 1 :]):
                await client.wait_for_message("queue", position=behind + 1, timeout=20)  # each moved up
            seated.append(waiter)
    finally:
        watching = False
        await watcher
        await asyncio.gather(*(c.close() for c in [*seated, *line]))

    assert most_live <= 2, f"{most_live} sessions held the endpoint's 2 seats at once"
    for client in line:
        assert [m["type"] for m in client.messages].count("answer") == 1  # none seated twice
        assert not [m for m in client.messages if m["type"] == "error"]  # none lost
    rows = await asyncio.to_thread(
        query,
        database_url,
        "SELECT session_id, queued_at, started_at FROM rtcstream_streamsession WHERE endpoint_slug = %s AND queued_at IS NOT NULL",
        slug,
    )
    by_id = {row[0]: row for row in rows}
    ids = [c.session["session"] for c in line]
    assert set(by_id) == set(ids)
    assert sorted(ids, key=lambda i: by_id[i][1]) == ids  # joined in this order
    assert sorted(ids, key=lambda i: by_id[i][2]) == ids  # and seated in the same order
    await until(
        lambda: not query(database_url, "SELECT 1 FROM rtcstream_streamsession WHERE state IN ('live', 'waiting')"),
        15,
        "every seat and place to be given back",
    )

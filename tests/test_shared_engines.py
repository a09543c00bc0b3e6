"""Two daphne workers sharing a private PostgreSQL and redis-server (issue 11, item 1).

The workers listen on 127.0.0.1; the clients connect from addresses of their own
in 127.0.0.0/8, since the per-client cap counts by address.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator

import pytest
import requests

from rtcstream.client import ArrayAudioTrack, RtcClient, RtcError
from tests.daphne import free_port, running, worker
from tests.handlers import tone
from tests.workers import (
    check_cap_across_workers,
    check_outputs_and_termination,
    create_admin,
    live_count,
    live_workers,
    offers_at_once,
    session_row,
    shared_engines,
    until,
)

pytestmark = pytest.mark.engines

CAP = 4


@pytest.fixture(scope="module")
def engines() -> Iterator[dict[str, str]]:
    with shared_engines(RTCSTREAM_TEST_CAP=str(CAP)) as env:
        create_admin(env)
        yield env


@pytest.fixture(scope="module")
def workers(engines: dict[str, str]) -> Iterator[tuple[str, str]]:
    with worker(engines, "shared-a") as (a, _), worker(engines, "shared-b") as (b, _):
        yield a, b


async def test_fifty_simultaneous_offers_on_two_workers_admit_exactly_three(workers, engines):
    addresses = [f"127.0.9.{i}" for i in range(1, 51)]
    replies = await offers_at_once(workers, "t-echo-three", 50, addresses)
    assert sum(r["type"] == "answer" for r in replies) == 3
    assert {r.get("code") for r in replies if r["type"] == "error"} == {"concurrency_limit"}
    # Every admitted session gave its slot back when its socket closed.
    await until(lambda: live_count(engines["DATABASE_URL"], "t-echo-three") == 0, 10, "the slots to be released")


async def test_outputs_on_the_other_worker_and_termination_from_either_admin(workers, engines):
    a, b = workers
    await check_outputs_and_termination(a, b, admin=b, database_url=engines["DATABASE_URL"], address="127.0.10.1")
    await check_outputs_and_termination(b, a, admin=a, database_url=engines["DATABASE_URL"], address="127.0.10.2")


async def test_the_per_client_cap_counts_sockets_on_every_worker(workers):
    await check_cap_across_workers(workers, CAP, address="127.0.11.1")


async def test_a_killed_workers_sessions_and_sockets_expire(engines):
    """Two workers of their own with SESSION_EXPIRY = 3 s: one is killed, the other takes over."""
    database_url = engines["DATABASE_URL"]
    env = {**engines, "RTCSTREAM_TEST_EXPIRY": "3"}
    with worker(env, "shared-survivor") as (a, _), worker(env, "shared-doomed") as (doomed, process):
        victim = await RtcClient.connect(doomed, "t-echo-one", local_address="127.0.12.1")
        await victim.start(audio=ArrayAudioTrack(tone(440, 30, 48000)))
        # The victim holds two sockets (signalling and outputs); these fill the client's cap.
        held = [await RtcClient.connect(doomed, "t-echo", local_address="127.0.12.1") for _ in range(CAP - 2)]
        process.send_signal(signal.SIGKILL)
        process.wait()
        # Its session and sockets still count until their heartbeat is SESSION_EXPIRY old...
        with pytest.raises(RtcError) as refused:
            await RtcClient.connect(a, "t-echo", local_address="127.0.12.1")
        assert "4429" in str(refused.value)
        # ...then they stop counting: the slot and the client's places are free on the other worker.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while True:
            try:
                survivor = await RtcClient.connect(a, "t-echo-one", local_address="127.0.12.1")
                break
            except RtcError:
                assert loop.time() < deadline, "a dead worker's sockets never stopped counting"
                await asyncio.sleep(0.2)
        async with survivor:
            while True:
                try:
                    await survivor.start(audio=ArrayAudioTrack(tone(440, 30, 48000)))
                    break
                except RtcError as exc:
                    assert exc.code == "concurrency_limit" and loop.time() < deadline, exc
                    await asyncio.sleep(0.2)
            assert session_row(database_url, victim.session["session"])[1:] == ("ended", "expired")
        for client in [victim, *held]:
            await client.close()


def serves(url: str) -> bool:
    try:
        return requests.get(f"{url}/admin/login/", timeout=5).status_code == 200
    except requests.RequestException:
        return False


async def test_serve_workers_runs_two_daphnes_on_one_port_and_restarts_a_dead_one(engines):
    import sys

    import psutil

    port = free_port()
    command = [sys.executable, "scripts/serve_workers.py", "-n", "2", "-b", "127.0.0.1", "-p", str(port)]
    with running(command, "shared-serve-workers", "127.0.0.1", port, engines) as supervisor:
        url = f"http://127.0.0.1:{port}"
        # The supervisor listens at once; its workers answer once Django has loaded.
        await until(lambda: serves(url), 60, "the workers to answer")
        parent = psutil.Process(supervisor.pid)
        children = parent.children()
        assert len(children) == 2 and all("daphne" in " ".join(c.cmdline()) for c in children)
        await check_outputs_and_termination(url, url, admin=url, database_url=engines["DATABASE_URL"])
        children[0].kill()

        def restarted() -> bool:
            alive = live_workers(parent)
            return len(alive) == 2 and children[0].pid not in alive

        await until(restarted, 15, "the worker to be restarted")
        await check_outputs_and_termination(url, url, admin=url, database_url=engines["DATABASE_URL"])

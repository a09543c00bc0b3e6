"""What the tests of several workers check, whichever network the workers are on
(loopback addresses, or hosts in network namespaces): admission, outputs, admin
termination and caps, each across two daphne workers sharing PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psutil
import psycopg
import requests
from aiortc import RTCPeerConnection

from rtcstream.client import ArrayAudioTrack, RtcClient, RtcError
from tests.daphne import ROOT, migrate
from tests.engines import postgres_server, redis_server, require_engines
from tests.handlers import tone

ADMIN_USER, ADMIN_PASSWORD = "scale-admin", "scale-admin-password"


def create_admin(env: dict[str, str], prefix: Sequence[str] = ()) -> None:
    subprocess.run(
        [*prefix, sys.executable, "manage.py", "createsuperuser", "--noinput", "--username", ADMIN_USER, "--email", ""],
        cwd=ROOT,
        env={**env, "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD},
        check=True,
        stdout=subprocess.DEVNULL,
    )


def django(env: dict[str, str], code: str) -> str:
    """Run ``code`` in ``manage.py shell`` against the workers' database; return what it prints."""
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def login(
    env: dict[str, str], username: str, *, groups: tuple[str, ...] = (), quota: str = ""
) -> list[tuple[str, str]]:
    """Make ``username`` (with a quota, Quota(**quota)), log it in; return the Cookie header for its sockets."""
    cookie = django(
        env,
        "from django.contrib.auth.models import Group, User\n"
        "from django.test import Client\n"
        "from rtcstream.models import Quota\n"
        f"user = User.objects.create_user({username!r})\n"
        f"for name in {list(groups)!r}: user.groups.add(Group.objects.get_or_create(name=name)[0])\n"
        f"if {quota!r}: Quota.objects.create(user=user, {quota})\n"
        "client = Client()\n"
        "client.force_login(user)\n"
        "session = client.session\n"
        "session['color'] = 'teal'\n"
        "session.save()\n"
        "print(client.cookies['sessionid'].value)",
    )
    return [("Cookie", f"sessionid={cookie}")]


def query(database_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as connection:
        return connection.execute(sql, params).fetchall()


def live_count(database_url: str, slug: str) -> int:
    sql = "SELECT count(*) FROM rtcstream_streamsession WHERE endpoint_slug = %s AND state = 'live'"
    return int(query(database_url, sql, slug)[0][0])


def session_row(database_url: str, session_id: str) -> tuple[int, str, str]:
    sql = "SELECT id, state, end_reason FROM rtcstream_streamsession WHERE session_id = %s"
    rows = query(database_url, sql, session_id)
    assert rows, f"no row for session {session_id}"
    return rows[0]


def live_workers(supervisor: psutil.Process) -> set[int]:
    """The pids of ``supervisor``'s children that still run: a child reaped between the
    listing and the reading of its status (as workers are, through a restart) is not one."""
    pids = set()
    for child in supervisor.children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                pids.add(child.pid)
        except psutil.NoSuchProcess:
            continue
    return pids


async def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``check`` (sync, run in a thread) until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await asyncio.to_thread(check)
        if result:
            return result
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def offer_sdp() -> str:
    """One audio offer, good enough for admission (the admitted sessions never connect)."""
    pc = RTCPeerConnection()
    pc.addTransceiver("audio", direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


# How long a test waits for the sockets an earlier test of this client closed to be given back.
GIVEN_BACK = 15.0


async def connect_when_given_back(server: str, slug: str, address: str | None, deadline: float) -> RtcClient:
    """Open a session's socket; refused for the client's socket cap (4429), try again until ``deadline``.

    Sockets an earlier test of this client closed are given back once their servers have torn
    their sessions down (after the admission slot, the handler's shutdown comes): until then the
    client may be refused.
    """
    while True:
        try:
            return await RtcClient.connect(server, slug, local_address=address)
        except RtcError as exc:
            assert "4429" in str(exc) and asyncio.get_running_loop().time() < deadline, exc
            await asyncio.sleep(0.1)


async def offers_at_once(
    servers: Sequence[str], slug: str, count: int, addresses: Sequence[str | None]
) -> list[dict[str, Any]]:
    """Open ``count`` sessions round-robin over ``servers`` (and source ``addresses``),
    one after the other, then send all their offers at once; return each one's answer or error."""
    clients: list[RtcClient] = []
    deadline = asyncio.get_running_loop().time() + GIVEN_BACK
    try:
        for i in range(count):
            server, address = servers[i % len(servers)], addresses[i % len(addresses)]
            clients.append(await connect_when_given_back(server, slug, address, deadline))
        sdp = await offer_sdp()
        await asyncio.gather(*(c.send({"type": "offer", "sdp": sdp}) for c in clients))
        return list(
            await asyncio.gather(
                *(
                    c.wait_until(lambda c=c: next((m for m in c.messages if m["type"] in ("answer", "error")), None))
                    for c in clients
                )
            )
        )
    finally:
        await asyncio.gather(*(c.close() for c in clients))


def admin_terminate(base_url: str, row_id: int) -> None:
    """Log in to the admin at ``base_url`` and run its "terminate" action on one live session."""
    http = requests.Session()
    login = f"{base_url}/admin/login/"

    def token(page: requests.Response) -> str:
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert match, f"no CSRF token on {page.url} ({page.status_code})"
        return match.group(1)

    page = http.get(login, timeout=10)
    http.post(
        login,
        data={
            "csrfmiddlewaretoken": token(page),
            "username": ADMIN_USER,
            "password": ADMIN_PASSWORD,
            "next": "/admin/",
        },
        timeout=10,
    ).raise_for_status()
    changelist = f"{base_url}/admin/rtcstream/livesession/"
    page = http.get(changelist, timeout=10)
    assert page.status_code == 200, f"the admin's live sessions: HTTP {page.status_code}"
    done = http.post(
        changelist,
        data={"csrfmiddlewaretoken": token(page), "action": "terminate", "_selected_action": str(row_id), "index": "0"},
        timeout=10,
    )
    assert done.status_code == 200 and "terminate" in done.text, f"the terminate action: HTTP {done.status_code}"


async def check_outputs_and_termination(
    signalling: str, outputs: str, admin: str, database_url: str, address: str | None = None
) -> None:
    """A session signals on one worker, reads its outputs on the other, and is ended from ``admin``'s admin."""
    async with await RtcClient.connect(signalling, "t-level", outputs_server=outputs, local_address=address) as client:
        await client.start(audio=ArrayAudioTrack(tone(440, 30, 48000)))
        assert [o["seq"] for o in await client.wait_for_outputs(3, timeout=20)] == [1, 2, 3]
        row_id, state, _ = session_row(database_url, client.session["session"])
        assert state == "live"
        await asyncio.to_thread(admin_terminate, admin, row_id)
        closed = await client.wait_closed(timeout=15)
        assert closed["reason"] == "terminated"
        # The outputs socket, on the other worker, hears the end too.
        await client.wait_until(lambda: next((m for m in client.outputs if m["type"] == "end"), None), 10)
    assert session_row(database_url, client.session["session"])[1:] == ("ended", "terminated")


async def check_cap_across_workers(servers: Sequence[str], cap: int, address: str | None = None) -> None:
    """``cap`` sockets from one client spread over the workers; one more is refused on any of them.

    The test waits for the sockets of an earlier test of this client to be given back
    (``connect_when_given_back``) until it holds ``cap``.
    """
    held: list[RtcClient] = []
    deadline = asyncio.get_running_loop().time() + GIVEN_BACK
    try:
        while len(held) < cap:
            held.append(await connect_when_given_back(servers[len(held) % len(servers)], "t-echo", address, deadline))
        for server in servers:
            with_refusal = RtcClient.connect(server, "t-echo", local_address=address)
            try:
                extra = await with_refusal
            except RtcError as exc:
                assert exc.code == "refused" and "4429" in str(exc), exc
            else:
                await extra.close()
                raise AssertionError(f"{server} let a client hold {cap + 1} sockets across workers")
        await held.pop(0).close()

        async def one_more() -> RtcClient | None:
            try:
                return await RtcClient.connect(servers[-1], "t-echo", local_address=address)
            except RtcError:
                return None

        deadline = asyncio.get_running_loop().time() + 5
        while (extra := await one_more()) is None:
            assert asyncio.get_running_loop().time() < deadline, "a closed socket did not free its place"
            await asyncio.sleep(0.1)
        held.append(extra)
    finally:
        await asyncio.gather(*(c.close() for c in held))


def worker_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings_shared"}
    return {**env, "DATABASE_URL": database_url, "REDIS_URL": redis_url, **extra}


@contextlib.contextmanager
def shared_engines(name: str = "", **extra: str) -> Iterator[dict[str, str]]:
    """A private redis-server and PostgreSQL (logs ``<name>redis``, ``<name>postgres``), migrated;
    yields the workers' environment (``worker_env`` with ``extra``)."""
    require_engines()
    with redis_server(name=f"{name}redis") as redis_url, postgres_server(name=f"{name}postgres") as database_url:
        env = worker_env(database_url, redis_url, **extra)
        migrate(env)
        yield env

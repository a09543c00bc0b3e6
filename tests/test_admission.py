"""DatabaseAdmission: limits that hold across threads, processes and machines."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.db import connections
from django.utils import timezone

from rtcstream.admission.backends import DatabaseAdmission, SessionLimitReached
from rtcstream.endpoints import registry
from rtcstream.endpoints.resolution import Endpoint, from_spec
from rtcstream.models import EndReason, SessionStatus, StreamEndpoint, StreamSession
from rtcstream.runtime import get_runtime
from tests.admin_handlers import RTCSTREAM

# Real concurrency needs committed rows seen from other connections.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def admission_settings(settings):
    settings.RTCSTREAM = {
        **RTCSTREAM,
        "ADMISSION_BACKEND": "rtcstream.admission.backends.DatabaseAdmission",
        "SESSION_EXPIRY": 30,
    }


def endpoint(limit: int | None = 3, slug: str = "silence") -> Endpoint:
    return dataclasses.replace(from_spec(registry.get_handler("silence")), slug=slug, concurrency_limit=limit)


def live_ids(slug: str = "silence") -> set[str]:
    return set(
        StreamSession.objects.filter(endpoint_slug=slug, state=SessionStatus.LIVE).values_list("session_id", flat=True)
    )


def age(session_id: str, seconds: float) -> None:
    """Make a session look as if its process stopped beating ``seconds`` ago."""
    StreamSession.objects.filter(session_id=session_id).update(
        heartbeat_at=timezone.now() - datetime.timedelta(seconds=seconds)
    )


async def admit(admission: DatabaseAdmission, target: Endpoint, session_id: str, **info) -> bool:
    try:
        await admission.acquire(target, session_id, {"user": None, "client": None, **info})
    except SessionLimitReached:
        return False
    return True


def test_the_backend_comes_from_settings():
    assert isinstance(get_runtime().admission, DatabaseAdmission)
    assert get_runtime().admission.heartbeat_interval == 10


def test_fifty_clients_at_once_against_a_limit_of_three_admit_exactly_three():
    admission = DatabaseAdmission()
    target = endpoint(limit=3)
    start = threading.Barrier(50)

    def connect(n: int) -> bool:
        start.wait(timeout=30)  # every thread hits acquire together
        try:
            asyncio.run(admission.acquire(target, f"s{n:02d}", {"user": None, "client": f"10.0.0.{n}:5000"}))
        except SessionLimitReached as exc:
            assert exc.limit == 3
            return False
        finally:
            connections.close_all()
        return True

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(connect, range(50), timeout=120))

    assert results.count(True) == 3
    assert len(live_ids()) == 3
    refused = StreamSession.objects.filter(state=SessionStatus.REFUSED)
    assert refused.count() == 47
    assert set(refused.values_list("end_reason", flat=True)) == {EndReason.CONCURRENCY_LIMIT}
    assert all(row.ended_at is not None for row in refused)


async def test_release_frees_a_slot_at_once():
    admission = DatabaseAdmission()
    target = endpoint(limit=1)
    assert await admit(admission, target, "a")
    assert not await admit(admission, target, "b")
    await admission.release("a", "client_stop")
    assert await admit(admission, target, "c")
    row = await StreamSession.objects.aget(session_id="a")
    assert (row.state, row.end_reason) == (SessionStatus.ENDED, "client_stop")
    assert row.ended_at is not None and row.ended_at >= row.started_at


async def test_release_is_idempotent_and_keeps_the_first_reason():
    admission = DatabaseAdmission()
    assert await admit(admission, endpoint(), "a")
    await admission.release("a", "terminated")
    await admission.release("a", "disconnected")
    await admission.release("never-acquired", "disconnected")
    row = await StreamSession.objects.aget(session_id="a")
    assert row.end_reason == "terminated"
    assert not await StreamSession.objects.filter(session_id="never-acquired").aexists()


async def test_limits_count_per_endpoint_and_none_means_unlimited():
    admission = DatabaseAdmission()
    assert await admit(admission, endpoint(limit=1, slug="one"), "a")
    assert await admit(admission, endpoint(limit=1, slug="two"), "b")
    assert all([await admit(admission, endpoint(limit=None, slug="many"), f"m{n}") for n in range(10)])


async def test_a_session_acquired_twice_counts_once():
    admission = DatabaseAdmission()
    target = endpoint(limit=2)
    assert await admit(admission, target, "a")
    assert await admit(admission, target, "a")
    assert await admit(admission, target, "b")


async def test_a_refused_client_may_retry_with_the_same_session_id():
    admission = DatabaseAdmission()
    target = endpoint(limit=1)
    assert await admit(admission, target, "a")
    assert not await admit(admission, target, "b")
    await admission.release("a", "client_stop")
    assert await admit(admission, target, "b")
    row = await StreamSession.objects.aget(session_id="b")
    assert (row.state, row.end_reason, row.ended_at) == (SessionStatus.LIVE, "", None)


def test_a_session_whose_heartbeat_is_older_than_the_expiry_does_not_count():
    admission = DatabaseAdmission()
    target = endpoint(limit=1)
    assert async_admit(admission, target, "dead")
    age("dead", 29)
    assert not async_admit(admission, target, "b")  # 29 s is still fresh
    age("dead", 31)
    assert async_admit(admission, target, "c")
    dead = StreamSession.objects.get(session_id="dead")
    assert (dead.state, dead.end_reason) == (SessionStatus.ENDED, EndReason.EXPIRED)
    assert dead.ended_at == dead.heartbeat_at


def test_heartbeat_keeps_its_sessions_and_expires_the_silent_ones():
    admission = DatabaseAdmission()
    target = endpoint(limit=2)
    assert async_admit(admission, target, "beating")
    assert async_admit(admission, target, "silent")
    age("beating", 25)
    age("silent", 25)
    asyncio.run(admission.heartbeat(["beating"]))
    assert timezone.now() - StreamSession.objects.get(session_id="beating").heartbeat_at < datetime.timedelta(seconds=5)
    age("silent", 40)
    asyncio.run(admission.heartbeat(["beating"]))
    assert live_ids() == {"beating"}
    assert StreamSession.objects.get(session_id="silent").end_reason == EndReason.EXPIRED


def test_the_expiry_comes_from_settings(settings):
    settings.RTCSTREAM = {**RTCSTREAM, "SESSION_EXPIRY": 5}
    admission = DatabaseAdmission()
    assert admission.heartbeat_interval == pytest.approx(5 / 3)
    target = endpoint(limit=1)
    assert async_admit(admission, target, "a")
    age("a", 6)
    assert async_admit(admission, target, "b")


def test_the_session_records_who_connected_and_from_where():
    user = User.objects.create_user("alice")
    StreamEndpoint.objects.create(slug="silence", handler="silence")
    admission = DatabaseAdmission()
    assert async_admit(admission, endpoint(), "a", user=user, client="192.0.2.1:5555")
    assert async_admit(admission, endpoint(), "b", user=AnonymousUser())
    a, b = StreamSession.objects.get(session_id="a"), StreamSession.objects.get(session_id="b")
    assert (a.user, a.client, a.endpoint.slug, a.endpoint_slug) == (user, "192.0.2.1:5555", "silence", "silence")
    assert (b.user, b.client) == (None, "")


@pytest.fixture
def default_sqlite_transactions(monkeypatch):
    """Django's default SQLite settings: deferred transactions (no ``transaction_mode``)."""
    options = connections["default"].settings_dict["OPTIONS"]
    monkeypatch.setitem(
        connections["default"].settings_dict, "OPTIONS", {k: v for k, v in options.items() if k != "transaction_mode"}
    )


def test_on_default_sqlite_settings_twenty_processes_at_once_against_a_limit_of_three_admit_exactly_three(
    default_sqlite_transactions,
):
    # One backend per thread stands for one process each: nothing in Python serialises them,
    # only SQLite's lock, which a deferred transaction takes at its first write.
    start = threading.Barrier(20)
    target = endpoint(limit=3)

    def connect(n: int) -> bool:
        admission = DatabaseAdmission()
        assert admission.retry_when_locked
        start.wait(timeout=30)
        try:
            return admission.acquire_sync(target, f"d{n:02d}", {"user": None, "client": ""}) is None  # seated
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(connect, range(20), timeout=120))

    assert results.count(True) == 3
    assert len(live_ids()) == 3
    assert StreamSession.objects.filter(state=SessionStatus.REFUSED).count() == 17


def async_admit(admission: DatabaseAdmission, target: Endpoint, session_id: str, **info) -> bool:
    """Call the async API from a sync test, in a fresh event loop."""
    return asyncio.run(admit(admission, target, session_id, **info))

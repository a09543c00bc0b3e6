"""Admission: counting live sessions against each endpoint's concurrency limit.

Which backend runs is a dotted path in ``RTCSTREAM["ADMISSION_BACKEND"]``.
A backend implements ``acquire`` and ``release``; only live sessions count,
so a stopped session frees its slot as soon as ``release`` returns.
``DatabaseAdmission`` also keeps each endpoint's waiting room
(``admission.waiting_room``) and enforces users' quotas (``admission.quotas``);
``InProcessAdmission`` does neither: it refuses past the limit.
"""

from __future__ import annotations

import datetime
import threading
import time
from abc import ABC, abstractmethod
from typing import Any

from channels.db import database_sync_to_async
from django.db import IntegrityError, OperationalError, connections, router, transaction
from django.db.models import F
from django.utils import timezone

from rtcstream import conf
from rtcstream.admission import quotas
from rtcstream.admission.quotas import Standing
from rtcstream.admission.refusals import QueueFull, Refused, SessionLimitReached
from rtcstream.admission.waiting_room import QueuePlace
from rtcstream.endpoints.resolution import Endpoint

# How long an admission on SQLite's default (deferred) transactions retries a locked database, seconds.
SQLITE_LOCK_PATIENCE = 10.0
# A waiting room's estimate: the mean seat time of the endpoint's last this many sessions, read this often.
ESTIMATE_SAMPLE = 20
ESTIMATE_REFRESH = 30.0


def user_lock(user_id: Any) -> str:
    """The ``AdmissionLock`` key of a user's admissions (no endpoint slug has a colon)."""
    return f"user:{user_id}"


class BaseAdmission(ABC):
    """Admits sessions; subclasses fill ``acquire`` and ``release``."""

    # Seconds between ``heartbeat`` calls the backend needs, or None if it needs none.
    heartbeat_interval: float | None = None

    @abstractmethod
    async def acquire(self, endpoint: Endpoint, session_id: str, info: dict[str, Any]) -> QueuePlace | None:
        """Count ``session_id`` as live on ``endpoint`` (return None), or raise ``Refused``
        (``SessionLimitReached``, a quota's refusal, ``QueueFull``).

        A backend with a waiting room may instead keep the session in line and
        return its ``QueuePlace``; the session then asks again until it is
        seated (None), refused, or released. ``info`` describes the client
        (``user``, ``client``) for backends that record it.
        """

    @abstractmethod
    async def release(self, session_id: str, reason: str) -> None:
        """Stop counting ``session_id`` (or take it out of the waiting room); ``reason`` is why it ended. Idempotent."""

    async def heartbeat(self, session_ids: list[str]) -> None:
        """Mark these sessions (live or waiting) as still alive (for backends that expire dead processes)."""

    def quota_standing_sync(self, user_id: Any) -> Standing | None:
        """The user's quota and use today, or None if this backend enforces no quotas. Sync: call from a thread."""
        return None


class InProcessAdmission(BaseAdmission):
    """Counts sessions in this process only: right for one daphne process and for tests."""

    def __init__(self) -> None:
        self._live: dict[str, set[str]] = {}

    # Neither method awaits, so each runs whole on the event loop: no lock needed.
    async def acquire(self, endpoint: Endpoint, session_id: str, info: dict[str, Any]) -> QueuePlace | None:
        live = self._live.setdefault(endpoint.slug, set())
        if endpoint.concurrency_limit is not None and len(live) >= endpoint.concurrency_limit:
            raise SessionLimitReached(endpoint.slug, endpoint.concurrency_limit)
        live.add(session_id)
        return None

    async def release(self, session_id: str, reason: str) -> None:
        for live in self._live.values():
            live.discard(session_id)

    def live_count(self, slug: str) -> int:
        return len(self._live.get(slug, ()))

    def live_sessions(self) -> list[str]:
        return sorted(s for live in self._live.values() for s in live)


def session_expiry() -> float:
    """Return ``RTCSTREAM["SESSION_EXPIRY"]`` in seconds."""
    return float(conf.get("SESSION_EXPIRY"))


class DatabaseAdmission(BaseAdmission):
    """Counts sessions in the database, so that limits hold across processes and machines.

    Every session is a ``StreamSession`` row. A live row counts only while its
    heartbeat is fresher than ``RTCSTREAM["SESSION_EXPIRY"]``, so the sessions
    of a process that died stop counting on their own; the next acquire or
    heartbeat marks them ended with reason ``expired``. A session waiting for a
    seat is a ``waiting`` row, in line by the time it joined; it is refreshed
    and expires the same way.

    Count-then-insert is serialised per endpoint slug (``_lock``): on servers
    with row locks by locking the slug's ``AdmissionLock`` row (every slug has
    one, registry-only endpoints included), and on SQLite by
    ``transaction_mode: IMMEDIATE``, which takes the write lock when the
    transaction begins, or, on Django's default (deferred) SQLite transactions,
    by retrying the admission that loses the write lock. A logged-in user's
    admission then locks the user's row too (``user:<pk>``): their quota counts
    their sessions on every endpoint, which other endpoints' locks do not
    serialise. Always the endpoint's row first, then the user's, so two
    admissions never wait for each other's locks.
    """

    def __init__(self) -> None:
        from rtcstream.models import StreamSession

        self.alias = router.db_for_write(StreamSession)
        connection = connections[self.alias]
        # Django's default SQLite transactions are DEFERRED: they take the write lock
        # only at the first write, so two admissions can both count, then one fails
        # to upgrade its lock with "database is locked" (or, in WAL mode, finds its
        # snapshot stale). That one is retried, and sees the other's row.
        self.retry_when_locked = (
            connection.vendor == "sqlite"
            and connection.settings_dict.get("OPTIONS", {}).get("transaction_mode") != "IMMEDIATE"
        )
        # Within one process, admissions take turns, so they do not fight for that lock.
        self._turns = threading.Lock()
        self._lock_rows: set[str] = set()  # keys whose AdmissionLock row is known to exist
        self._estimates: dict[str, tuple[float, float | None]] = {}  # slug -> (when, mean seat time)
        # Threads for admission queries, apart from the loop's default executor (the runtime's).
        from rtcstream.runtime import get_runtime

        self._queries = get_runtime().queries

    @property
    def heartbeat_interval(self) -> float:  # type: ignore[override]
        # Three heartbeats per expiry period: one lost or late beat does not expire a session.
        return session_expiry() / 3

    async def acquire(self, endpoint: Endpoint, session_id: str, info: dict[str, Any]) -> QueuePlace | None:
        verdict = await database_sync_to_async(self.acquire_sync, thread_sensitive=False, executor=self._queries)(
            endpoint, session_id, info
        )
        if isinstance(verdict, Refused):
            raise verdict
        return verdict

    async def release(self, session_id: str, reason: str) -> None:
        await database_sync_to_async(self.release_sync, thread_sensitive=False, executor=self._queries)(
            session_id, reason
        )

    async def heartbeat(self, session_ids: list[str]) -> None:
        await database_sync_to_async(self.heartbeat_sync, thread_sensitive=False, executor=self._queries)(session_ids)

    def acquire_sync(self, endpoint: Endpoint, session_id: str, info: dict[str, Any]) -> QueuePlace | Refused | None:
        """Record ``session_id`` as live (None), waiting (its place), or refused (why; raise it)."""
        if not self.retry_when_locked:
            return self._acquire_once(endpoint, session_id, info)
        delay = 0.01
        deadline = time.monotonic() + SQLITE_LOCK_PATIENCE
        with self._turns:
            while True:
                try:
                    return self._acquire_once(endpoint, session_id, info)
                except OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                        raise
                time.sleep(delay)
                delay = min(delay * 2, 0.2)

    def _acquire_once(self, endpoint: Endpoint, session_id: str, info: dict[str, Any]) -> QueuePlace | Refused | None:
        from rtcstream.models import SessionStatus, StreamEndpoint, StreamSession

        who = StreamSession.who(info.get("user"), info.get("client"))
        user_id = who["user_id"]
        # Lock rows are made in transactions of their own: a refusal below is committed, never rolled back.
        self._lock_row(endpoint.slug)
        if user_id is not None:
            self._lock_row(user_lock(user_id))
        with transaction.atomic(using=self.alias):
            self._lock(endpoint.slug)
            now = timezone.now()
            cutoff = now - datetime.timedelta(seconds=session_expiry())
            rows = StreamSession.objects.using(self.alias)
            here = rows.filter(endpoint_slug=endpoint.slug)
            self._expire(here.filter(heartbeat_at__lt=cutoff))
            existing = rows.filter(session_id=session_id).first()
            if existing is not None and existing.state == SessionStatus.LIVE:
                return None  # acquired twice: count it once
            fields: dict[str, Any] = {
                "endpoint_slug": endpoint.slug,
                "endpoint": StreamEndpoint.objects.using(self.alias).filter(slug=endpoint.slug).first(),
                **who,
                "heartbeat_at": now,
                "ended_at": None,
                "end_reason": "",
            }
            if user_id is not None:
                self._lock(user_lock(user_id))
                refusal = quotas.standing(user_id, self.alias, fresh_after=cutoff, now=now).refusal()
                if refusal is not None:
                    return self._refuse(session_id, fields, refusal, now)
            limit = endpoint.concurrency_limit
            if limit is None:
                self._seat(session_id, fields, now)
                return None
            live = here.filter(state=SessionStatus.LIVE, heartbeat_at__gte=cutoff).count()
            line = list(
                here.filter(state=SessionStatus.WAITING, heartbeat_at__gte=cutoff)
                .order_by("queued_at", "id")
                .values_list("session_id", flat=True)
            )
            # Seats not taken are promised to those in line, first come first served.
            place = line.index(session_id) if session_id in line else len(line)
            if live + place < limit:
                self._seat(session_id, fields, now)
                return None
            if session_id in line:
                rows.filter(session_id=session_id).update(heartbeat_at=now)
                return QueuePlace(place + 1, len(line), self._estimate(endpoint, place + 1))
            if endpoint.when_full != "wait":
                return self._refuse(session_id, fields, SessionLimitReached(endpoint.slug, limit), now)
            if endpoint.queue_length is not None and len(line) >= endpoint.queue_length:
                return self._refuse(session_id, fields, QueueFull(endpoint.slug, len(line)), now)
            fields.update(state=SessionStatus.WAITING, queued_at=now, started_at=now)
            rows.update_or_create(session_id=session_id, defaults=fields)
            return QueuePlace(len(line) + 1, len(line) + 1, self._estimate(endpoint, len(line) + 1))

    def _seat(self, session_id: str, fields: dict[str, Any], now: datetime.datetime) -> None:
        """Give ``session_id`` its seat: a live row, started now (a waiter keeps the time it joined the line)."""
        from rtcstream.models import SessionStatus, StreamSession

        fields.update(state=SessionStatus.LIVE, started_at=now)
        StreamSession.objects.using(self.alias).update_or_create(session_id=session_id, defaults=fields)

    def _refuse(self, session_id: str, fields: dict[str, Any], refusal: Refused, now: datetime.datetime) -> Refused:
        """Record the refusal (committed with the transaction: it is returned, never raised inside it)."""
        from rtcstream.models import SessionStatus, StreamSession

        # A client refused once may retry its offer with the same session id.
        fields.update(state=SessionStatus.REFUSED, end_reason=refusal.code, started_at=now, ended_at=now)
        StreamSession.objects.using(self.alias).update_or_create(session_id=session_id, defaults=fields)
        return refusal

    def _estimate(self, endpoint: Endpoint, position: int) -> float | None:
        """Seconds until ``position`` in line is seated: seats free at about ``limit / mean seat time``.

        The mean is that of the endpoint's last sessions (read at most every
        ``ESTIMATE_REFRESH`` seconds), or its time limit before any has ended.
        """
        from rtcstream.models import SessionStatus, StreamSession

        if not endpoint.concurrency_limit:
            return None
        when, mean = self._estimates.get(endpoint.slug, (-ESTIMATE_REFRESH, None))
        if time.monotonic() - when >= ESTIMATE_REFRESH:
            ended = (
                StreamSession.objects.using(self.alias)
                .filter(endpoint_slug=endpoint.slug, state=SessionStatus.ENDED, ended_at__isnull=False)
                .order_by("-ended_at")
                .values_list("started_at", "ended_at")[:ESTIMATE_SAMPLE]
            )
            held = [(end - start).total_seconds() for start, end in ended if end is not None]
            mean = sum(held) / len(held) if held else endpoint.time_limit
            self._estimates[endpoint.slug] = (time.monotonic(), mean)
        return None if mean is None else position * mean / endpoint.concurrency_limit

    def quota_standing_sync(self, user_id: Any) -> Standing | None:
        fresh_after = timezone.now() - datetime.timedelta(seconds=session_expiry())
        return quotas.standing(user_id, self.alias, fresh_after=fresh_after)

    def release_sync(self, session_id: str, reason: str) -> None:
        """Mark ``session_id`` ended with ``reason`` (refused, if it was waiting); do nothing if it is neither."""
        from rtcstream.models import SessionStatus, StreamSession

        rows = StreamSession.objects.using(self.alias).filter(session_id=session_id)
        now = timezone.now()
        if not rows.filter(state=SessionStatus.LIVE).update(
            state=SessionStatus.ENDED, end_reason=reason[:32], ended_at=now
        ):
            rows.filter(state=SessionStatus.WAITING).update(
                state=SessionStatus.REFUSED, end_reason=reason[:32], ended_at=now
            )

    def heartbeat_sync(self, session_ids: list[str]) -> None:
        """Refresh these live and waiting sessions, and end the ones no process refreshes any more."""
        from rtcstream.models import SessionStatus, StreamSession

        now = timezone.now()
        held = StreamSession.objects.using(self.alias).filter(state__in=(SessionStatus.LIVE, SessionStatus.WAITING))
        if session_ids:
            held.filter(session_id__in=session_ids).update(heartbeat_at=now)
        self._expire(held.filter(heartbeat_at__lt=now - datetime.timedelta(seconds=session_expiry())))

    def _lock_row(self, slug: str) -> None:
        """Make sure ``slug`` (an endpoint's, or ``user_lock``'s) has its ``AdmissionLock`` row (once per key, in its own transaction)."""
        from rtcstream.models import AdmissionLock

        if slug in self._lock_rows:
            return
        try:
            with transaction.atomic(using=self.alias):
                AdmissionLock.objects.using(self.alias).get_or_create(slug=slug)
        except IntegrityError:
            pass  # another process made it first
        self._lock_rows.add(slug)

    def _lock(self, slug: str) -> None:
        """Serialise admission on ``slug`` until the transaction ends: lock its ``AdmissionLock`` row.

        PostgreSQL, MySQL/MariaDB and Oracle lock the row (``SELECT ... FOR
        UPDATE``); the next admission of the slug waits until this one commits,
        then counts what it committed. On MySQL's default REPEATABLE READ that
        holds because the locking read comes first: InnoDB takes a transaction's
        snapshot at its first non-locking read, the count, which comes after the
        lock was granted. SQLite has no row locks: the IMMEDIATE transaction (or
        the retry of a deferred one) holds the database's write lock instead.
        """
        from rtcstream.models import AdmissionLock

        if connections[self.alias].features.has_select_for_update:
            AdmissionLock.objects.using(self.alias).select_for_update().filter(slug=slug).first()

    def _expire(self, stale: Any) -> int:
        """End the live rows among ``stale`` and take the waiting ones out of line, with reason ``expired``."""
        from rtcstream.models import EndReason, SessionStatus

        # The last heartbeat is the best bound we have on when such a session ended.
        ended = stale.filter(state=SessionStatus.LIVE).update(
            state=SessionStatus.ENDED, end_reason=EndReason.EXPIRED, ended_at=F("heartbeat_at")
        )
        left = stale.filter(state=SessionStatus.WAITING).update(
            state=SessionStatus.REFUSED, end_reason=EndReason.EXPIRED, ended_at=F("heartbeat_at")
        )
        return int(ended) + int(left)

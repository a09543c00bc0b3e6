"""Admission: counting live sessions against each endpoint's concurrency limit.

Which backend runs is a dotted path in ``RTCSTREAM["ADMISSION_BACKEND"]``.
A backend implements ``acquire`` and ``release``; only live sessions count,
so a stopped session frees its slot as soon as ``release`` returns.
"""

from __future__ import annotations

import datetime
import threading
import time
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.db import database_sync_to_async
from django.db import IntegrityError, OperationalError, connections, router, transaction
from django.db.models import F
from django.utils import timezone

from rtcstream import conf
from rtcstream.admission.refusals import SessionLimitReached
from rtcstream.endpoints.resolution import Endpoint

# How long an admission on SQLite's default (deferred) transactions retries a locked database, seconds.
SQLITE_LOCK_PATIENCE = 10.0


class BaseAdmission(ABC):
    """Admits sessions; subclasses fill ``acquire`` and ``release``."""

    # Seconds between ``heartbeat`` calls the backend needs, or None if it needs none.
    heartbeat_interval: float | None = None

    @abstractmethod
    async def acquire(self, endpoint: Endpoint, session_id: str, info: dict[str, Any]) -> None:
        """Count ``session_id`` as live on ``endpoint`` or raise ``SessionLimitReached``.

        ``info`` describes the client (``user``, ``client``) for backends that record it.
        """

    @abstractmethod
    async def release(self, session_id: str, reason: str) -> None:
        """Stop counting ``session_id``; ``reason`` is why it ended. Idempotent."""

    async def heartbeat(self, session_ids: list[str]) -> None:
        """Mark these sessions as still alive (for backends that expire dead processes)."""


class InProcessAdmission(BaseAdmission):
    """Counts sessions in this process only: right for one daphne process and for tests."""

    def __init__(self) -> None:
        self._live: dict[str, set[str]] = {}

    # Neither method awaits, so each runs whole on the event loop: no lock needed.
    async def acquire(self, endpoint: Endpoint, session_id: str, info: dict[str, Any]) -> None:
        live = self._live.setdefault(endpoint.slug, set())
        if endpoint.concurrency_limit is not None and len(live) >= endpoint.concurrency_limit:
            raise SessionLimitReached(endpoint.slug, endpoint.concurrency_limit)
        live.add(session_id)

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
    heartbeat marks them ended with reason ``expired``.

    Count-then-insert is serialised per endpoint slug (``_lock``): on servers
    with row locks by locking the slug's ``AdmissionLock`` row (every slug has
    one, registry-only endpoints included), and on SQLite by
    ``transaction_mode: IMMEDIATE``, which takes the write lock when the
    transaction begins, or, on Django's default (deferred) SQLite transactions,
    by retrying the admission that loses the write lock.
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
        self._lock_rows: set[str] = set()  # slugs whose AdmissionLock row is known to exist
        # Threads for admission queries, apart from the loop's default executor: aiortc
        # encodes media there, and a query waiting on a database lock must never hold media back.
        self._queries = ThreadPoolExecutor(max_workers=4, thread_name_prefix="rtcstream-db")

    @property
    def heartbeat_interval(self) -> float:  # type: ignore[override]
        # Three heartbeats per expiry period: one lost or late beat does not expire a session.
        return session_expiry() / 3

    async def acquire(self, endpoint: Endpoint, session_id: str, info: dict[str, Any]) -> None:
        admitted = await database_sync_to_async(self.acquire_sync, thread_sensitive=False, executor=self._queries)(
            endpoint, session_id, info
        )
        if not admitted:
            raise SessionLimitReached(endpoint.slug, endpoint.concurrency_limit or 0)

    async def release(self, session_id: str, reason: str) -> None:
        await database_sync_to_async(self.release_sync, thread_sensitive=False, executor=self._queries)(
            session_id, reason
        )

    async def heartbeat(self, session_ids: list[str]) -> None:
        await database_sync_to_async(self.heartbeat_sync, thread_sensitive=False, executor=self._queries)(session_ids)

    def acquire_sync(self, endpoint: Endpoint, session_id: str, info: dict[str, Any]) -> bool:
        """Record ``session_id`` as live, or as refused; return whether it was admitted."""
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

    def _acquire_once(self, endpoint: Endpoint, session_id: str, info: dict[str, Any]) -> bool:
        from rtcstream.models import EndReason, SessionStatus, StreamEndpoint, StreamSession

        user = info.get("user")
        fields: dict[str, Any] = {
            "endpoint_slug": endpoint.slug,
            "user": user if user is not None and user.is_authenticated else None,
            "client": (info.get("client") or "")[:64],
        }
        # The refusal is committed before raising: an exception inside atomic() would roll it back.
        self._lock_row(endpoint.slug)
        with transaction.atomic(using=self.alias):
            self._lock(endpoint.slug)
            fields["endpoint"] = StreamEndpoint.objects.using(self.alias).filter(slug=endpoint.slug).first()
            now = timezone.now()
            cutoff = now - datetime.timedelta(seconds=session_expiry())
            live = StreamSession.objects.using(self.alias).filter(endpoint_slug=endpoint.slug, state=SessionStatus.LIVE)
            self._expire(live.filter(heartbeat_at__lt=cutoff))
            existing = StreamSession.objects.using(self.alias).filter(session_id=session_id).first()
            if existing is not None and existing.state == SessionStatus.LIVE:
                return True  # acquired twice: count it once
            limit = endpoint.concurrency_limit
            admitted = limit is None or live.filter(heartbeat_at__gte=cutoff).count() < limit
            if admitted:
                fields.update(state=SessionStatus.LIVE, end_reason="", started_at=now, heartbeat_at=now, ended_at=None)
            else:
                fields.update(
                    state=SessionStatus.REFUSED,
                    end_reason=EndReason.CONCURRENCY_LIMIT,
                    started_at=now,
                    heartbeat_at=now,
                    ended_at=now,
                )
            # A client refused once may retry its offer with the same session id.
            StreamSession.objects.using(self.alias).update_or_create(session_id=session_id, defaults=fields)
            return admitted

    def release_sync(self, session_id: str, reason: str) -> None:
        """Mark ``session_id`` ended with ``reason``; do nothing if it is not live."""
        from rtcstream.models import SessionStatus, StreamSession

        StreamSession.objects.using(self.alias).filter(session_id=session_id, state=SessionStatus.LIVE).update(
            state=SessionStatus.ENDED, end_reason=reason[:32], ended_at=timezone.now()
        )

    def heartbeat_sync(self, session_ids: list[str]) -> None:
        """Refresh these live sessions, and end the ones no process refreshes any more."""
        from rtcstream.models import SessionStatus, StreamSession

        now = timezone.now()
        live = StreamSession.objects.using(self.alias).filter(state=SessionStatus.LIVE)
        if session_ids:
            live.filter(session_id__in=session_ids).update(heartbeat_at=now)
        self._expire(live.filter(heartbeat_at__lt=now - datetime.timedelta(seconds=session_expiry())))

    def _lock_row(self, slug: str) -> None:
        """Make sure ``slug`` has its ``AdmissionLock`` row (once per slug, in its own transaction)."""
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
        from rtcstream.models import EndReason, SessionStatus

        # The last heartbeat is the best bound we have on when such a session ended.
        return stale.update(state=SessionStatus.ENDED, end_reason=EndReason.EXPIRED, ended_at=F("heartbeat_at"))

"""The ledger's database writes: queued by sessions on the event loop, written in batches by one thread.

A session never touches the database itself: ``put`` appends to a bounded
queue and returns. One thread (its own, as admission's queries have theirs, so
a slow database holds back neither media nor admission) takes everything queued
and writes it in one transaction: whatever accumulated while the previous batch
was being written is the next batch. Past ``max_pending`` queued writes (the
database is down, or far slower than the sessions), the oldest are dropped and
counted: the ledger is history, and never worth a process's memory.
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, OperationalError, close_old_connections, router, transaction

logger = logging.getLogger("rtcstream.ledger")

# How long a batch retries a locked database (SQLite) before it is dropped, seconds.
LOCK_PATIENCE = 10.0


@dataclass(frozen=True)
class TurnRow:
    """A ``Turn`` to insert: its model fields."""

    fields: dict[str, Any]


@dataclass(frozen=True)
class SessionUpdate:
    """Fields of one ``StreamSession`` row to set (a row admission made)."""

    session_id: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class RefusedSession:
    """The ``StreamSession`` row of a session refused before admission made one (``server_busy``,
    ``handler_stuck``): inserted in state refused, unless the session has a row already. The only
    rows the ledger makes; admission makes every other."""

    fields: dict[str, Any]


@dataclass(frozen=True)
class Barrier:
    """Resolves ``done`` once every write queued before it has been written (or dropped)."""

    done: concurrent.futures.Future[None] = field(default_factory=concurrent.futures.Future)


Write = TurnRow | SessionUpdate | RefusedSession | Barrier


class LedgerWriter:
    """One per process (``Runtime.ledger``): a bounded queue of writes and the thread that writes them."""

    def __init__(self, max_pending: int) -> None:
        self.max_pending = max(1, max_pending)
        self.dropped = 0  # writes dropped because the queue was full
        self.failed = 0  # writes the database refused
        self._pending: collections.deque[Write] = collections.deque()
        self._lock = threading.Lock()
        self._scheduled = False
        self._thread = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="rtcstream-ledger")

    def put(self, write: Write) -> None:
        """Queue ``write``; never blocks, safe from any thread."""
        with self._lock:
            while len(self._pending) >= self.max_pending:
                oldest = self._pending.popleft()
                if isinstance(oldest, Barrier):
                    oldest.done.set_result(None)
                    continue
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    logger.warning(
                        "The ledger's writes fall behind (%d queued); dropped %d so far",
                        len(self._pending),
                        self.dropped,
                    )
            self._pending.append(write)
            if not self._scheduled:
                self._scheduled = True
                self._thread.submit(self._drain)

    def barrier(self) -> concurrent.futures.Future[None]:
        """Return a future that resolves once what was queued so far has been written."""
        barrier = Barrier()
        self.put(barrier)
        return barrier.done

    def pending(self) -> int:
        """How many writes wait (for tests and metrics)."""
        with self._lock:
            return len(self._pending) + (1 if self._scheduled else 0)

    def _drain(self) -> None:
        while True:
            with self._lock:
                batch = list(self._pending)
                self._pending.clear()
                if not batch:
                    self._scheduled = False
                    return
            try:
                self._write([w for w in batch if not isinstance(w, Barrier)])
            except Exception:
                self.failed += len(batch)
                logger.exception("The ledger could not write %d rows; they are dropped", len(batch))
            finally:
                for write in batch:
                    if isinstance(write, Barrier):
                        write.done.set_result(None)

    def _write(self, batch: list[Write]) -> None:
        if not batch:
            return
        from rtcstream.models import Turn

        alias = router.db_for_write(Turn)
        close_old_connections()  # as database_sync_to_async does: a connection the server closed is replaced
        deadline = time.monotonic() + LOCK_PATIENCE
        delay = 0.01
        while True:
            try:
                try:
                    with transaction.atomic(using=alias):
                        _apply(batch, alias)
                except IntegrityError:
                    # A row refers to a session that is gone (deleted meanwhile): write the others.
                    self._one_by_one(batch, alias)
                return
            except OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def _one_by_one(self, batch: list[Write], alias: str) -> None:
        for write in batch:
            try:
                with transaction.atomic(using=alias):
                    _apply([write], alias)
            except IntegrityError as exc:
                self.failed += 1
                logger.warning("The ledger dropped a write the database refused (%s): %r", exc, write)


def _apply(batch: list[Write], alias: str) -> None:
    from rtcstream.models import SessionStatus, StreamEndpoint, StreamSession, Turn

    refused: dict[str, StreamSession] = {}
    for write in batch:
        if isinstance(write, RefusedSession) and write.fields["session_id"] not in refused:
            refused[write.fields["session_id"]] = StreamSession(**write.fields, state=SessionStatus.REFUSED)
    if refused:
        slugs = {row.endpoint_slug for row in refused.values()}
        endpoints = StreamEndpoint.objects.using(alias).in_bulk(slugs, field_name="slug")
        for row in refused.values():
            row.endpoint = endpoints.get(row.endpoint_slug)
        # A row admission made (or an earlier refusal) stays as it is: a session is counted once.
        StreamSession.objects.using(alias).bulk_create(list(refused.values()), ignore_conflicts=True)
    turns = [Turn(**write.fields) for write in batch if isinstance(write, TurnRow)]
    if turns:
        Turn.objects.using(alias).bulk_create(turns)
    updates: dict[str, dict[str, Any]] = {}
    for write in batch:
        if isinstance(write, SessionUpdate):
            updates.setdefault(write.session_id, {}).update(write.fields)  # later fields win, as written in order
    for session_id, fields in updates.items():
        StreamSession.objects.using(alias).filter(session_id=session_id).update(**fields)

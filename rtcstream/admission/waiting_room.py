"""The waiting room: past an endpoint's concurrency limit, clients may wait in line for a seat.

An endpoint whose ``when_full`` is ``"wait"`` keeps the clients it cannot seat
in a first-come, first-served line of at most ``queue_length`` (each for at
most ``max_wait`` seconds). The line lives where admission counts seats, in the
database (``DatabaseAdmission``: a ``waiting`` session row each, in the order
they joined), so it is one line across every process and machine:

- a client joins only when every seat is taken or promised: while anyone
  waits, a newcomer never takes a freed seat ahead of them;
- a waiter is seated when its place in line is within the free seats, under
  the same per-endpoint lock as every admission, so a seat is never given twice;
- a seat freed in any process rings this endpoint's bell (a channel layer group,
  ``rtcstream.waiting.<slug>``); each process listens once for its waiters, who
  then ask again at once. They also ask every ``QUEUE_POLL_INTERVAL`` seconds,
  so a lost ring, or a seat freed by a dead process's expiry, only delays them;
- a waiter that goes away (its page closed, its socket dropped) leaves the line
  with its session's end; one whose process died stops being refreshed by its
  heartbeat and leaves the line after ``SESSION_EXPIRY``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("rtcstream.session")

Wait = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class QueuePlace:
    """Where a waiting client stands."""

    position: int  # 1: the next to be seated
    length: int  # clients waiting now
    estimate: float | None = None  # seconds until a seat, or None when there is nothing to go by

    def as_message(self) -> dict[str, Any]:
        """The ``queue`` message the page is sent (docs/protocol.md)."""
        estimate = None if self.estimate is None else round(self.estimate)
        return {"type": "queue", "position": self.position, "length": self.length, "estimate": estimate}


def bell_group(slug: str) -> str:
    return f"rtcstream.waiting.{slug}"


class WaitingRoom:
    """This process's waiters: one listener on the channel layer wakes those of an endpoint whose bell rang.

    ``ring(slug)`` tells every process (this one at once, others through the
    channel layer) that a seat of ``slug`` may be free.
    """

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._channel: str | None = None
        self._listener: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @contextlib.asynccontextmanager
    async def waiting(self, slug: str) -> AsyncIterator[Wait]:
        """Within this block, ``await wait(seconds)`` returns when ``slug``'s bell rings, or after ``seconds``."""
        self._own_loop()
        event = asyncio.Event()
        self._waiters.setdefault(slug, set()).add(event)
        await self._listen_to(slug)

        async def wait(seconds: float) -> None:
            try:
                async with asyncio.timeout(max(0.0, seconds)):
                    await event.wait()
            except TimeoutError:
                pass
            event.clear()

        try:
            yield wait
        finally:
            waiters = self._waiters.get(slug, set())
            waiters.discard(event)
            if not waiters:
                self._waiters.pop(slug, None)
                await self._leave(slug)

    async def ring(self, slug: str) -> None:
        """A seat of ``slug`` may be free: wake its waiters here and in every other process."""
        self._wake(slug)
        layer = _layer()
        if layer is None:
            return
        try:
            await layer.group_send(bell_group(slug), {"type": "rtcstream.seat_freed", "slug": slug})
        except Exception:
            logger.exception("Ringing the waiting room of %r failed; its waiters ask again within seconds", slug)

    def _wake(self, slug: str) -> None:
        for event in self._waiters.get(slug, ()):
            event.set()

    def _own_loop(self) -> None:
        # A listener belongs to one event loop (a test's loop ends with it): start afresh on a new one.
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._channel, self._listener = loop, None, None
            self._waiters = {}

    async def _listen_to(self, slug: str) -> None:
        layer = _layer()
        if layer is None:
            return
        try:
            if self._channel is None:
                # The default prefix: channels_redis reads every process-specific channel of one
                # prefix from one list under one lock (see OutputsConsumer._session_alive).
                self._channel = await layer.new_channel()
            # Added again for each new waiter: a group membership expires (channels_redis: after a day).
            await layer.group_add(bell_group(slug), self._channel)
        except Exception:
            logger.exception("Listening for the waiting room of %r failed; its waiters ask every few seconds", slug)
            return
        if self._listener is None or self._listener.done():
            self._listener = asyncio.get_running_loop().create_task(
                self._listen(layer, self._channel), name="rtcstream:waiting-room"
            )

    async def _leave(self, slug: str) -> None:
        layer = _layer()
        if layer is not None and self._channel is not None:
            with contextlib.suppress(Exception):
                await layer.group_discard(bell_group(slug), self._channel)
        if not self._waiters and self._listener is not None:
            self._listener.cancel()
            self._listener = None

    async def _listen(self, layer: Any, channel: str) -> None:
        while True:
            try:
                message = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("The waiting room's listener failed; waiters ask every few seconds")
                await asyncio.sleep(1.0)
                continue
            self._wake(str(message.get("slug", "")))


def _layer() -> Any:
    from channels.layers import get_channel_layer

    return get_channel_layer()

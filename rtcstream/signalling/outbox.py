"""An ordered, bounded outbox drained by one task: events and outputs leave in the
order they were produced, and a stalled receiver cannot grow memory."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger("rtcstream.session")


class Outbox:
    """Queue items from any thread; ``deliver`` sends them one at a time.

    When ``capacity`` items wait, the oldest is dropped with a warning: a page
    that stopped reading must not make the server hold everything.
    """

    def __init__(
        self,
        name: str,
        deliver: Callable[[Any], Awaitable[None]],
        capacity: int,
        context: contextvars.Context | None = None,
    ) -> None:
        self.name = name
        self.capacity = capacity
        self.dropped = 0
        self._deliver = deliver
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name=f"rtcstream:outbox:{name}", context=context)

    def put(self, item: Any) -> None:
        """Queue ``item``; safe to call from worker threads."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._put(item)
        else:
            self._loop.call_soon_threadsafe(self._put, item)

    def _put(self, item: Any) -> None:
        if self._task.done():
            return
        if self._queue.qsize() >= self.capacity:
            self._queue.get_nowait()
            self._queue.task_done()
            self.dropped += 1
            logger.warning("%s outbox full: dropped its oldest item (%d dropped so far)", self.name, self.dropped)
        self._queue.put_nowait(item)

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await self._deliver(item)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("%s outbox: delivering an item failed", self.name)
            finally:
                self._queue.task_done()

    async def flush(self, timeout: float = 1.0) -> None:
        """Wait (up to ``timeout``) until every queued item has been delivered."""
        if self._task.done():
            return
        try:
            async with asyncio.timeout(timeout):
                await self._queue.join()
        except TimeoutError:
            logger.warning("%s outbox: %d items undelivered after %g s", self.name, self._queue.qsize(), timeout)

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

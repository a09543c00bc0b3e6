"""Calls whose caller gave up: woken if they wait in a queue, then released from the pool if they still run.

A session that ends cancels its calls into sync user code, but Python cannot
stop a thread. ``Reaper.abandon`` takes such a call over: after ``WAKE_AFTER``
seconds (a ``shutdown()`` running meanwhile may have woken it) a call blocked
in ``queue.Queue.get()`` or ``put()`` is woken (``rtcstream.execution.wake``);
``STUCK_GRACE`` seconds later, a call still running is logged with the
handler's name and released (``WorkerPool.release``), so it holds no thread
another session needs. The reaper keeps time on its own daemon thread, not on
an event loop: an abandoned call is seen to whatever becomes of the loop that
gave up on it.
"""

from __future__ import annotations

import concurrent.futures
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from rtcstream.execution.pool import WorkerPool

logger = logging.getLogger("rtcstream.workers")

WAKE_AFTER = 0.2
STUCK_GRACE = 1.0


class Reaper:
    """Sees abandoned calls of one pool to their end (see the module)."""

    def __init__(self, pool: WorkerPool, wake_after: float = WAKE_AFTER, grace: float = STUCK_GRACE) -> None:
        self.pool = pool
        self.wake_after = wake_after
        self.grace = grace
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def abandon(self, future: concurrent.futures.Future[Any], name: str) -> None:
        """The caller of ``future`` (a running call) gave up on it; ``name`` is how logs call it."""

        def wake() -> None:
            if not future.done():
                self.pool.wake(future)
                self._at(self.grace, lambda: self.release(future, name, "after its session ended"))

        self._at(self.wake_after, wake)

    def release(self, future: concurrent.futures.Future[Any], name: str, why: str) -> None:
        """Release ``future``'s thread from the pool now if the call still runs, and say so."""
        if future.done():
            return
        if self.pool.release(future):
            logger.warning(
                "%s is still running %s; its worker thread is released from the pool "
                "and will exit when the call returns (a blocking call should return when its session ends).",
                name,
                why,
            )
        else:
            logger.error(
                "%s is still running %s, and too many stuck calls hold released threads already: "
                "it keeps its worker thread (RTCSTREAM['WORKER_THREADS'] = %d).",
                name,
                why,
                self.pool.size,
            )

    def _at(self, delay: float, action: Callable[[], None]) -> None:
        with self._changed:
            heapq.heappush(self._due, (time.monotonic() + delay, next(self._order), action))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="rtcstream-reaper", daemon=True)
                self._thread.start()
            self._changed.notify()

    def _run(self) -> None:
        while True:
            with self._changed:
                while True:
                    if not self._due:
                        self._thread = None  # the next _at starts a new thread
                        return
                    when = self._due[0][0]
                    if when <= time.monotonic():
                        _, _, action = heapq.heappop(self._due)
                        break
                    self._changed.wait(when - time.monotonic())
            try:
                action()
            except Exception:
                logger.exception("Seeing an abandoned call to its end failed")

"""A bounded pool of daemon threads for sync user code, which lets go of stuck calls.

Why not ``ThreadPoolExecutor``: its threads are joined at interpreter exit, so
one user call blocked forever (a ``Queue.get()`` in ``emit``) keeps the process
alive after SIGTERM; and a blocked call holds its slot for good. Here:

- threads are daemon threads: the interpreter never waits for them;
- at most ``size`` threads serve calls; a call whose caller gave up (its
  session ended, or it timed out) can be *released*: its thread stops counting
  against ``size`` and exits when the call returns, and a new thread takes its
  place when work waits;
- a call blocked in ``queue.Queue.get()`` or ``put()`` can be *woken*
  (``rtcstream.execution.wake``) before it is released;
- at most ``max_released`` released threads exist at once; past that a stuck
  call keeps its slot (and an error says so), so stuck user code cannot grow
  the process's threads without bound. Released calls are counted by their
  ``owner`` (the registry name of the handler), so that admission can stop
  opening sessions of a handler whose calls never return, before that limit.
"""

from __future__ import annotations

import collections
import concurrent.futures
import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rtcstream.execution.wake import wake_queue_wait
from rtcstream.operations.throttle import Throttle

logger = logging.getLogger("rtcstream.workers")

# Idle threads above zero exit after this many seconds without work.
IDLE_SECONDS = 30.0
# At most one "all threads busy" warning per this many seconds.
SATURATION_WARNING_INTERVAL = 10.0


@dataclass
class _Call:
    func: Callable[..., Any]
    args: tuple[Any, ...]
    future: concurrent.futures.Future[Any] = field(default_factory=concurrent.futures.Future)
    owner: str | None = None  # whose code this is (a handler's registry name), for counting stuck calls
    released: bool = False  # its thread no longer counts against the pool's size
    thread: int | None = None  # the ident of the thread running it


class _Worker:
    """One thread's mailbox: an idle worker is handed its next call directly."""

    def __init__(self) -> None:
        self.call: _Call | None = None
        self.wake = threading.Event()


class WorkerPool:
    """Run ``func(*args)`` on at most ``size`` daemon threads; see the module's docstring."""

    def __init__(self, size: int, max_released: int, name: str = "rtcstream") -> None:
        if size < 1:
            raise ValueError(f"a worker pool needs at least one thread, not {size}")
        self.size = size
        self.max_released = max_released
        self.name = name
        self._lock = threading.Lock()
        self._work: collections.deque[_Call] = collections.deque()  # calls waiting for a thread
        self._idle: list[_Worker] = []
        self._threads = 0  # threads counted against size (idle, or running an unreleased call)
        self._released = 0  # threads running a released call
        self._running: dict[concurrent.futures.Future[Any], _Call] = {}
        self._stuck: collections.Counter[str | None] = collections.Counter()  # released calls by owner
        self._numbers = itertools.count(1)
        self._saturation_warnings = Throttle(SATURATION_WARNING_INTERVAL)

    # -- what callers use ----------------------------------------------------------

    def submit(self, func: Callable[..., Any], *args: Any, owner: str | None = None) -> concurrent.futures.Future[Any]:
        call = _Call(func, args, owner=owner)
        with self._lock:
            self._work.append(call)
            self._dispatch()
        return call.future

    def release(self, future: concurrent.futures.Future[Any]) -> bool:
        """Stop counting the thread running ``future`` against the pool's size.

        Returns False when the call is not running (done, or never started: it
        is then cancelled) or when ``max_released`` threads are released already.
        """
        if future.cancel():
            return True
        with self._lock:
            call = self._running.get(future)
            if call is None or call.released:
                return call is not None
            if self._released >= self.max_released:
                return False
            call.released = True
            self._released += 1
            self._stuck[call.owner] += 1
            self._threads -= 1
            self._dispatch()
            return True

    def wake(self, future: concurrent.futures.Future[Any]) -> bool:
        """Wake the call running ``future`` if it waits in a ``queue.Queue`` (``rtcstream.execution.wake``).

        The pool's lock is held meanwhile, so the thread cannot move on to another call.
        """
        with self._lock:
            call = self._running.get(future)
            if call is None or call.thread is None:
                return False
            return wake_queue_wait(call.thread)

    def stuck(self, owner: str | None) -> int:
        """How many released calls of ``owner`` are still running."""
        with self._lock:
            return self._stuck[owner]

    def stuck_by_owner(self) -> dict[str, int]:
        """Released calls still running, by owner (calls without one under "")."""
        with self._lock:
            return {owner or "": count for owner, count in self._stuck.items()}

    @property
    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "threads": self._threads,
                "idle": len(self._idle),
                "released": self._released,
                "waiting": len(self._work),
            }

    # -- internals ------------------------------------------------------------------

    def _take(self) -> _Call:
        """With the lock held: the next waiting call, now counted as running."""
        call = self._work.popleft()
        self._running[call.future] = call
        return call

    def _dispatch(self) -> None:
        """With the lock held: hand waiting calls to idle threads, or start threads if the bound allows."""
        while self._work and self._idle:
            worker = self._idle.pop()
            worker.call = self._take()
            worker.wake.set()
        while self._work and self._threads < self.size:
            self._threads += 1
            worker = _Worker()
            worker.call = self._take()
            threading.Thread(
                target=self._serve, args=(worker,), name=f"{self.name}_{next(self._numbers)}", daemon=True
            ).start()
        if self._work and self._saturation_warnings.ready():
            logger.warning(
                "All %d worker threads are busy; %d calls into user code wait "
                "(a blocking emit holds one thread per session: raise RTCSTREAM['WORKER_THREADS']).",
                self.size,
                len(self._work),
            )

    def _next_call(self, worker: _Worker) -> _Call | None:
        """The next call for this thread; None when it should exit (idle too long)."""
        with self._lock:
            if self._work:
                return self._take()
            worker.call = None
            worker.wake.clear()
            self._idle.append(worker)
        worker.wake.wait(IDLE_SECONDS)
        with self._lock:
            if worker.call is None:  # timed out, and nobody handed it a call meanwhile
                self._idle.remove(worker)
                self._threads -= 1
                return None
            return worker.call

    def _serve(self, worker: _Worker) -> None:
        call = worker.call
        while call is not None:
            call.thread = threading.get_ident()
            if call.future.set_running_or_notify_cancel():
                try:
                    result = call.func(*call.args)
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    call.future.set_exception(exc)
                else:
                    call.future.set_result(result)
                    del result
            with self._lock:
                del self._running[call.future]
                if call.released:
                    self._released -= 1
                    self._stuck[call.owner] -= 1
                    if not self._stuck[call.owner]:
                        del self._stuck[call.owner]
                    return  # a replacement took this thread's place
            call = self._next_call(worker)

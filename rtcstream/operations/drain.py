"""Drain on SIGTERM: stop admitting, let live sessions run up to ``DRAIN_SECONDS``, then let daphne stop.

What daphne does alone on SIGTERM: Twisted's handler stops the reactor, whose
"before shutdown" trigger (``Server.kill_all_applications``) cancels every
application instance at once; a live session ends mid-sentence (and
``session.exit_hook`` closes what is left at exit). ``--application-close-timeout``
only bounds how long an instance may take to finish after its client left.

Under daphne, rtcstream puts its own SIGTERM handler in front of Twisted's (once
per process, ``Runtime.serving``). On the first SIGTERM this process:

1. stops listening (each listening port of the reactor): the kernel hands new
   connections to the other workers sharing the socket (``serve_workers.py``'s
   ``daphne --fd``), or, with a port of its own, a new daphne may bind it now;
   behind a proxy, the proxy's next connection goes to another upstream;
2. refuses signalling sockets that still reach it (on connections accepted
   just before) with close code 4502, and ends a session that offers now with
   ``server_shutdown`` (``SignallingConsumer``): the page connects again and
   lands on a worker that is up;
3. tells every other session's page ``{"type": "restarting", "seconds": N}``
   and lets it run until it ends or ``DRAIN_SECONDS`` pass, then closes it with
   ``server_shutdown`` (the widget then reconnects);
4. hands over to daphne's own handler, which stops the server.

A second SIGTERM hands over at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from rtcstream import conf
from rtcstream.operations.metrics import forget_process
from rtcstream.reasons import CloseReason
from rtcstream.signalling import protocol

if TYPE_CHECKING:
    from rtcstream.runtime import Runtime

logger = logging.getLogger("rtcstream.operations")

RESTARTING = "The server is restarting."
# After the bound: how long closing the last sessions, and their sockets' close, may take.
CLOSE_DEADLINE = 3.0


def twisted_reactor() -> Any:
    """The running Twisted reactor (daphne's), or None when this process is not served by one."""
    reactor = sys.modules.get("twisted.internet.reactor")
    return reactor if reactor is not None and getattr(reactor, "running", False) else None


def stop_accepting() -> int:
    """Stop the reactor's listening ports (each closes this process's copy of its socket); return how many."""
    reactor = twisted_reactor()
    if reactor is None:
        return 0
    from twisted.internet import tcp  # daphne's TCP, --fd and unix-socket ports are all tcp.Port

    ports = [reader for reader in reactor.getReaders() if isinstance(reader, tcp.Port)]
    for port in ports:
        port.stopListening()
    return len(ports)


class DrainSignal:
    """The SIGTERM handler: starts the runtime's drain on its loop; calls ``previous`` (daphne's) to stop."""

    def __init__(self, previous: Any, loop: asyncio.AbstractEventLoop, runtime: Callable[[], Runtime]) -> None:
        self.previous = previous
        self.loop = loop
        self.runtime = runtime

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.loop.is_closed():
            self.stop_server()
        else:
            self.loop.call_soon_threadsafe(self.runtime().drain.begin, self.stop_server)

    def stop_server(self) -> None:
        """What SIGTERM did before rtcstream: daphne's (Twisted's) handler, or the default, which ends the process."""
        previous = self.previous
        if callable(previous):
            previous(signal.SIGTERM, None)
            return
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


class Drain:
    """This process's drain (see the module's docstring); ``draining`` once SIGTERM came."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.started_at: float | None = None  # time.monotonic() of the SIGTERM
        self._task: asyncio.Task[None] | None = None

    @property
    def draining(self) -> bool:
        return self.started_at is not None

    def install(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Put the drain's SIGTERM handler in front of daphne's (once per process); False where it does not apply:
        not under a running Twisted reactor, not on the main thread, or ``DRAIN_SECONDS`` is None or 0."""
        current = signal.getsignal(signal.SIGTERM)
        if isinstance(current, DrainSignal):
            return True
        if not conf.get("DRAIN_SECONDS") or twisted_reactor() is None:
            return False
        if threading.current_thread() is not threading.main_thread():
            return False
        from rtcstream.runtime import get_runtime

        signal.signal(signal.SIGTERM, DrainSignal(current, loop, get_runtime))
        logger.info("On SIGTERM this process drains for up to %g s (RTCSTREAM['DRAIN_SECONDS'])", self.seconds)
        return True

    @property
    def seconds(self) -> float:
        return float(conf.get("DRAIN_SECONDS") or 0)

    def begin(self, stop_server: Callable[[], None]) -> None:
        """Start draining (on the loop); a second call stops the server at once."""
        if self.draining:
            logger.warning("A second SIGTERM: stopping now, closing %d live session(s)", len(self.runtime.sessions))
            stop_server()
            return
        self.started_at = time.monotonic()
        seconds = self.seconds
        ports = stop_accepting()
        sessions = list(self.runtime.sessions)
        logger.warning(
            "SIGTERM: draining. Stopped listening on %d port(s); no new sessions here; "
            "%d open session(s) may run up to %g s (DRAIN_SECONDS)",
            ports,
            len(sessions),
            seconds,
        )
        for session in sessions:
            if not session.ending:
                session.context.events.put(protocol.restarting(seconds, RESTARTING))
        self.runtime.metrics.sample(self.runtime)
        self._task = asyncio.get_running_loop().create_task(self._run(seconds, stop_server), name="rtcstream:drain")

    async def _run(self, seconds: float, stop_server: Callable[[], None]) -> None:
        try:
            sessions = list(self.runtime.sessions)
            if sessions:
                await asyncio.wait([asyncio.ensure_future(s.wait_closed()) for s in sessions], timeout=seconds)
            left = list(self.runtime.sessions)
            if left:
                logger.warning("Drain: closing %d session(s) still live after %g s", len(left), seconds)
                closing = [s.close_and_wait(CloseReason.SERVER_SHUTDOWN, RESTARTING) for s in left]
                await asyncio.wait([asyncio.ensure_future(c) for c in closing], timeout=CLOSE_DEADLINE)
            # Let the closed sessions' sockets finish closing (their pages close them after `closed`).
            deadline = time.monotonic() + CLOSE_DEADLINE
            while self.runtime.open_sockets and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            logger.warning("Drain done after %.1f s; stopping", time.monotonic() - (self.started_at or 0))
        except Exception:
            logger.exception("Draining failed; stopping now")
        finally:
            forget_process()  # in multiprocess mode: its live gauges (sessions, pool) stop counting now
            stop_server()

"""A session that starts again when its server restarts, as the widget does (docs/deploy.md).

A worker that drains ends its sessions with ``server_shutdown`` (after telling
them ``restarting``) and refuses new ones with close code 4502; a server that
is not up refuses the connection. ``Reconnecting`` then opens a new session,
after a growing delay, and a worker that is up takes it. What survives is the
client's own state (its inputs, what it sends); the server's session does not:
a new session starts from nothing (a new handler instance, new outputs).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from rtcstream.client.errors import RtcError
from rtcstream.client.session import RtcClient
from rtcstream.reasons import CloseReason
from rtcstream.signalling.close_codes import CloseCode

logger = logging.getLogger("rtcstream.client")

# A session ended so, or a socket refused so, starts again: its worker drains; another one takes a new connection.
RESTART_REASONS = frozenset({CloseReason.SERVER_SHUTDOWN})


@dataclass(frozen=True)
class Backoff:
    """Delays between attempts: ``first``, then times ``factor`` up to ``most``, with ±``jitter``; ``attempts`` in all."""

    first: float = 0.5
    factor: float = 2.0
    most: float = 8.0
    jitter: float = 0.25
    attempts: int = 8

    def delays(self) -> Iterator[float]:
        delay = self.first
        for _ in range(self.attempts):
            yield delay * random.uniform(1 - self.jitter, 1 + self.jitter)
            delay = min(self.most, delay * self.factor)


def worth_retrying(exc: BaseException) -> bool:
    """A refusal that another attempt can get past: a draining worker (4502), or no server listening."""
    if isinstance(exc, RtcError):
        return exc.close_code == CloseCode.RESTARTING
    return isinstance(exc, OSError)


async def connect(server: str, endpoint: str, *, backoff: Backoff = Backoff(), **kwargs: Any) -> RtcClient:
    """``RtcClient.connect``, tried again after a refusal that a restart explains (``worth_retrying``)."""
    delays = backoff.delays()
    while True:
        try:
            return await RtcClient.connect(server, endpoint, **kwargs)
        except (RtcError, OSError) as exc:
            if not worth_retrying(exc):
                raise
            await _wait(delays, exc)


async def _wait(delays: Iterator[float], exc: BaseException) -> None:
    """Sleep the next delay; raise ``exc`` when the attempts are spent."""
    delay = next(delays, None)
    if delay is None:
        raise exc
    await asyncio.sleep(delay)


class Reconnecting:
    """Keep one session on ``endpoint`` open across server restarts.

    ``start(client)`` starts each new session (``client.start(...)`` with this
    client's tracks and inputs). ``run()`` returns when a session ends for any
    other reason than a restart (its ``closed`` message), or raises when the
    server cannot be reached within the backoff's attempts.
    """

    def __init__(
        self,
        server: str,
        endpoint: str,
        start: Callable[[RtcClient], Awaitable[None]],
        *,
        backoff: Backoff = Backoff(),
        **connect: Any,
    ) -> None:
        self.server = server
        self.endpoint = endpoint
        self._start = start
        self.backoff = backoff
        self._connect = connect
        self.sessions: list[RtcClient] = []  # every session opened, the current one last
        self.ends: list[dict[str, Any]] = []  # each session's `closed` message, in order
        self.live = asyncio.Event()  # set while a session is connected

    @property
    def current(self) -> RtcClient | None:
        return self.sessions[-1] if self.sessions else None

    async def run(self) -> dict[str, Any]:
        """Run sessions until one ends for good; return its ``closed`` message."""
        while True:
            client = await self._open()
            self.live.set()
            try:
                closed = await client.wait_until(functools.partial(self._ending, client), timeout=None)
            finally:
                self.live.clear()
                await client.close()
            self.ends.append(closed)
            if closed.get("reason") not in RESTART_REASONS:
                return closed
            logger.info("Session %s ended with %s; starting another", client.session.get("session"), closed["reason"])

    @staticmethod
    def _ending(client: RtcClient) -> dict[str, Any] | None:
        for message in client.messages:
            if message["type"] == "closed":
                return message
            if message["type"] == "socket_closed":  # dropped without a word: the worker died
                return {"type": "closed", "reason": CloseReason.SERVER_SHUTDOWN, "message": "the socket dropped"}
        return None

    async def _open(self) -> RtcClient:
        """Connect and start a session, retrying what a restart explains, with the backoff's delays."""
        delays = self.backoff.delays()
        while True:
            client = await connect(self.server, self.endpoint, backoff=self.backoff, **self._connect)
            self.sessions.append(client)
            try:
                await self._start(client)
                await client.wait_for_event("connected")
            except Exception as exc:
                await client.close()
                closed = self._ending(client)
                restarted = closed is not None and closed.get("reason") in RESTART_REASONS
                if not restarted and not worth_retrying(exc):  # e.g. its outputs socket found no server
                    raise
                await _wait(delays, exc)
                continue
            return client

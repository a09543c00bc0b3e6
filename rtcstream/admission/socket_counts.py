"""Counting the websockets each client holds open, for ``RTCSTREAM["MAX_SOCKETS_PER_CLIENT"]``.

``InProcessClientCounter`` counts in this process: with N
workers a client may hold N times the cap. ``RedisClientCounter`` counts in
Redis, so the cap holds across every worker and host:

- each client key (``user:<pk>`` or ``address:<ip>``) is a sorted set
  ``rtcstream:clients:<key>`` whose members are the open sockets (their channel
  names, unique per worker) scored by the time they expire;
- opening a socket is one Lua script, atomic in Redis: drop the expired members,
  count the rest, add the new one if under the cap. Redis's own clock scores
  them, so the workers' clocks need not agree;
- each worker refreshes the expiry of the sockets it holds every third of
  ``RTCSTREAM["SESSION_EXPIRY"]``; closing removes the member. A worker that
  dies stops refreshing, and its sockets stop counting after ``SESSION_EXPIRY``;
- when Redis cannot be reached, sockets are let in uncounted (and it is logged):
  the cap guards against abuse, admission still limits the sessions.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from rtcstream import conf

logger = logging.getLogger("rtcstream.clients")


class BaseClientCounter(ABC):
    @abstractmethod
    async def open(self, key: str, socket: str) -> bool:
        """Count ``socket`` for ``key``; False (and nothing counted) if ``key`` holds the cap already."""

    @abstractmethod
    async def close(self, key: str, socket: str) -> None:
        """Stop counting ``socket``; idempotent."""


class InProcessClientCounter(BaseClientCounter):
    """Counts in this process: the cap holds per worker."""

    def __init__(self) -> None:
        self._open: dict[str, set[str]] = {}

    async def open(self, key: str, socket: str) -> bool:
        cap = conf.get("MAX_SOCKETS_PER_CLIENT")
        held = self._open.setdefault(key, set())
        if cap is not None and len(held) >= cap:
            if not held:
                del self._open[key]
            return False
        held.add(socket)
        return True

    async def close(self, key: str, socket: str) -> None:
        held = self._open.get(key)
        if held is not None:
            held.discard(socket)
            if not held:
                del self._open[key]

    def open_counts(self) -> dict[str, int]:
        """The sockets each client holds open in this process (for tests and diagnostics)."""
        return {key: len(held) for key, held in self._open.items()}


_OPEN = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3])) + 1)
return 1
"""

_REFRESH = """
local t = redis.call('TIME')
local until_ = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', until_, ARGV[i]) end
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1])) + 1)
return 0
"""


class RedisClientCounter(BaseClientCounter):
    """Counts in Redis (``RTCSTREAM["REDIS_URL"]``): the cap holds across workers and hosts."""

    prefix = "rtcstream:clients:"

    def __init__(self) -> None:
        url = conf.get("REDIS_URL")
        if not url:
            raise ImproperlyConfigured('RedisClientCounter needs RTCSTREAM["REDIS_URL"] (redis://host:port/db).')
        self.url: str = url
        self._redis: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._held: dict[str, set[str]] = {}
        self._refresher: asyncio.Task[None] | None = None

    def _client(self) -> Any:
        import redis.asyncio

        loop = asyncio.get_running_loop()
        if self._redis is None or self._loop is not loop:  # a client belongs to one event loop
            self._redis, self._loop = redis.asyncio.from_url(self.url), loop
        return self._redis

    async def open(self, key: str, socket: str) -> bool:
        cap = conf.get("MAX_SOCKETS_PER_CLIENT")
        if cap is None:
            return True
        try:
            admitted = await self._client().eval(_OPEN, 1, self.prefix + key, socket, cap, _expiry())
        except Exception:
            # The cap guards against abuse; admission still limits sessions. Without
            # Redis the socket is let in uncounted rather than the site going dark.
            logger.exception("Counting a socket of %s in Redis failed; letting it in uncounted", key)
            return True
        if not admitted:
            return False
        self._held.setdefault(key, set()).add(socket)
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.get_running_loop().create_task(self._refresh(), name="rtcstream:client-counts")
        return True

    async def close(self, key: str, socket: str) -> None:
        held = self._held.get(key)
        if held is None or socket not in held:
            return
        held.discard(socket)
        if not held:
            del self._held[key]
        if not self._held and self._refresher is not None:
            self._refresher.cancel()
            self._refresher = None
        try:
            await self._client().zrem(self.prefix + key, socket)
        except Exception:
            logger.exception("Uncounting a socket of %s in Redis failed; it expires on its own", key)

    async def _refresh(self) -> None:
        while self._held:
            await asyncio.sleep(_expiry() / 3)
            try:
                for key, sockets in list(self._held.items()):
                    if sockets:
                        await self._client().eval(_REFRESH, 1, self.prefix + key, _expiry(), *sorted(sockets))
            except Exception:
                logger.exception(
                    "Refreshing the per-client socket counts in Redis failed; they expire if this persists"
                )


def _expiry() -> float:
    return float(conf.get("SESSION_EXPIRY"))

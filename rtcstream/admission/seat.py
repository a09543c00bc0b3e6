"""A session's seat on its endpoint: one slot of its concurrency limit, taken and given back exactly once.

Past the limit, an endpoint that lets clients wait keeps the session in its
waiting room (``admission.waiting_room``) until a seat is its turn; a
logged-in user's seat is watched while held (``admission.account_watch``).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

from rtcstream import conf
from rtcstream.admission.account_watch import AccountWatch
from rtcstream.admission.refusals import QueueTimeout, Refused, refuse_if_stuck
from rtcstream.admission.waiting_room import QueuePlace
from rtcstream.endpoints.resolution import Endpoint
from rtcstream.reasons import CloseReason, Refusal
from rtcstream.runtime import Runtime

Tell = Callable[[dict[str, Any]], None]
Close = Callable[[CloseReason, str], None]


class Seat:
    """Admission for one session: ``take`` before the answer, ``give_back`` in its teardown.

    ``tell`` sends the page a message (its place in line, its quota);
    ``close`` ends the session (its account lost access, its minutes ran out).
    """

    def __init__(
        self,
        runtime: Runtime,
        endpoint: Endpoint,
        session_id: str,
        info: dict[str, Any],
        tell: Tell | None = None,
        close: Close | None = None,
    ) -> None:
        self.runtime = runtime
        self.endpoint = endpoint
        self.session_id = session_id
        self.info = info  # who the client is (user, address), for backends that record it
        self.held = False
        self.waiting = False  # in the endpoint's waiting room: a row to take out of line
        self._tell = tell or (lambda message: None)
        self._close = close or (lambda reason, message: None)
        self._watch: AccountWatch | None = None

    async def take(self) -> None:
        """Take a slot, waiting in line for one if the endpoint lets clients wait, or raise ``Refused``.

        A database thread cannot be stopped, so a cancellation (the session
        closing) that comes while the backend decides waits for its verdict: a
        slot granted then is held, and ``give_back`` returns it.
        """
        refuse_if_stuck(self.endpoint)
        place = await self._ask()
        if place is None:
            return
        loop = asyncio.get_running_loop()
        longest = self.endpoint.max_wait
        deadline = math.inf if longest is None else loop.time() + longest
        told: dict[str, Any] | None = None
        async with self.runtime.waiting_room.waiting(self.endpoint.slug) as wait:
            while place is not None:
                if (message := place.as_message()) != told:
                    self._tell(message)
                    told = message
                left = deadline - loop.time()
                if left <= 0:
                    raise QueueTimeout(self.endpoint.slug, longest or 0.0)
                await wait(min(float(conf.get("QUEUE_POLL_INTERVAL")), left))
                place = await self._ask()
        await self._ring()  # out of line: those behind move up

    async def _ask(self) -> QueuePlace | None:
        """Ask the backend for a seat once: held (None), or a place in line."""
        acquiring = asyncio.ensure_future(self.runtime.admission.acquire(self.endpoint, self.session_id, self.info))
        try:
            place = await asyncio.shield(acquiring)
        except asyncio.CancelledError:
            await asyncio.wait([acquiring])
            if not acquiring.cancelled() and acquiring.exception() is None:
                self._record(acquiring.result())
            raise
        except Refused:
            if self.waiting:  # refused at its turn (a quota): out of line, and the next may move up
                self.waiting = False
                self.runtime.heartbeat.discard(self.session_id)
                await self._ring()
            raise
        self._record(place)
        return place

    def _record(self, place: QueuePlace | None) -> None:
        self.runtime.heartbeat.add(self.session_id)  # live and waiting rows alike expire without it
        if place is not None:
            self.waiting = True
            return
        self.waiting = False
        self.held = True
        self.runtime.metrics.admitted(self.endpoint.slug)
        user = self.info.get("user")
        if user is not None and getattr(user, "is_authenticated", False):
            self._watch = AccountWatch(self.runtime, self.endpoint, self.session_id, user.pk, self._tell, self._close)
            self._watch.start()

    async def give_back(self, reason: CloseReason | Refusal) -> None:
        """Return the slot (or the place in line), if one is held, recording why the session ended."""
        if not self.held and not self.waiting:
            return
        seated, self.held, self.waiting = self.held, False, False
        if self._watch is not None:
            self._watch.stop()
            self._watch = None
        self.runtime.heartbeat.discard(self.session_id)
        if seated:  # only a seat was ``admitted``: a place in line given back is no live session, nor its end
            self.runtime.metrics.released(self.endpoint.slug, reason if isinstance(reason, CloseReason) else None)
        await self.runtime.admission.release(self.session_id, reason)
        await self._ring()

    async def _ring(self) -> None:
        if self.endpoint.when_full == "wait":
            await self.runtime.waiting_room.ring(self.endpoint.slug)

"""A session's seat on its endpoint: one slot of its concurrency limit, taken and given back exactly once."""

from __future__ import annotations

import asyncio
from typing import Any

from rtcstream.admission.refusals import refuse_if_stuck
from rtcstream.endpoints.resolution import Endpoint
from rtcstream.reasons import CloseReason, Refusal
from rtcstream.runtime import Runtime


class Seat:
    """Admission for one session: ``take`` before the answer, ``give_back`` in its teardown."""

    def __init__(self, runtime: Runtime, endpoint: Endpoint, session_id: str, info: dict[str, Any]) -> None:
        self.runtime = runtime
        self.endpoint = endpoint
        self.session_id = session_id
        self.info = info  # who the client is (user, address), for backends that record it
        self.held = False

    async def take(self) -> None:
        """Take a slot, or raise ``Refused``.

        A database thread cannot be stopped, so a cancellation (the session
        closing) that comes while the backend decides waits for its verdict: a
        slot granted then is held, and ``give_back`` returns it.
        """
        refuse_if_stuck(self.endpoint)
        acquiring = asyncio.ensure_future(self.runtime.admission.acquire(self.endpoint, self.session_id, self.info))
        try:
            await asyncio.shield(acquiring)
        except asyncio.CancelledError:
            await asyncio.wait([acquiring])
            if not acquiring.cancelled() and acquiring.exception() is None:
                self._hold()
            raise
        self._hold()

    def _hold(self) -> None:
        self.held = True
        self.runtime.heartbeat.add(self.session_id)
        self.runtime.metrics.admitted(self.endpoint.slug)

    async def give_back(self, reason: CloseReason | Refusal) -> None:
        """Return the slot, if one is held, recording why the session ended."""
        if not self.held:
            return
        self.held = False
        self.runtime.heartbeat.discard(self.session_id)
        self.runtime.metrics.released(self.endpoint.slug, reason if isinstance(reason, CloseReason) else None)
        await self.runtime.admission.release(self.session_id, reason)

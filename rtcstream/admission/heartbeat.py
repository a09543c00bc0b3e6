"""This process's heartbeat: tells the admission backend which sessions are still alive.

One task per process runs while the process has admitted sessions, and only if
the backend asks for heartbeats; sessions of a process that died stop being
counted once their heartbeat is older than ``RTCSTREAM["SESSION_EXPIRY"]``.
"""

from __future__ import annotations

import asyncio
import logging

from rtcstream.admission.backends import BaseAdmission

logger = logging.getLogger("rtcstream.session")


class Heartbeat:
    """Beats for the admitted sessions of this process, while there are any."""

    def __init__(self, admission: BaseAdmission) -> None:
        self.admission = admission
        self._live: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def add(self, session_id: str) -> None:
        """Count ``session_id`` as alive in this process (call after admission)."""
        self._live.add(session_id)
        interval = self.admission.heartbeat_interval
        if interval is not None and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._beat(interval), name="rtcstream:heartbeat")

    def discard(self, session_id: str) -> None:
        """Stop beating for ``session_id``; the task ends with the last session."""
        self._live.discard(session_id)
        if not self._live and self._task is not None:
            self._task.cancel()
            self._task = None

    def live_sessions(self) -> list[str]:
        """The sessions this process beats for."""
        return sorted(self._live)

    async def _beat(self, interval: float) -> None:
        while self._live:
            await asyncio.sleep(interval)
            try:
                await self.admission.heartbeat(sorted(self._live))
            except Exception:
                logger.exception("Heartbeat failed; sessions may expire if this persists")

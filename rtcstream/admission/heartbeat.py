"""This process's heartbeat: tells the admission backend which sessions are still alive.

One task per process runs while the process has admitted sessions, and only if
the backend asks for heartbeats; sessions of a process that died stop being
counted once their heartbeat is older than ``RTCSTREAM["SESSION_EXPIRY"]``.
"""

from __future__ import annotations

import asyncio
import logging

from rtcstream.admission.backends import get_admission

logger = logging.getLogger("rtcstream.session")

_live: set[str] = set()
_task: asyncio.Task[None] | None = None


def add(session_id: str) -> None:
    """Count ``session_id`` as alive in this process (call after admission)."""
    global _task
    _live.add(session_id)
    interval = get_admission().heartbeat_interval
    if interval is not None and (_task is None or _task.done()):
        _task = asyncio.get_running_loop().create_task(_beat(interval), name="rtcstream:heartbeat")


def discard(session_id: str) -> None:
    """Stop beating for ``session_id``; the task ends with the last session."""
    global _task
    _live.discard(session_id)
    if not _live and _task is not None:
        _task.cancel()
        _task = None


def live_sessions() -> list[str]:
    """The sessions this process beats for."""
    return sorted(_live)


async def _beat(interval: float) -> None:
    while _live:
        await asyncio.sleep(interval)
        try:
            await get_admission().heartbeat(sorted(_live))
        except Exception:
            logger.exception("Heartbeat failed; sessions may expire if this persists")

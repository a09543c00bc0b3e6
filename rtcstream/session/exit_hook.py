"""Close the process's open sessions when the interpreter exits (daphne on SIGTERM).

daphne stops its event loop on SIGTERM without waiting for the consumers of
live sessions to finish closing them, and aiortc decodes incoming media on
threads that are not daemons: the interpreter would wait for those threads for
ever. Python runs threading's exit hooks before it joins the remaining
threads, so a hook there runs the loop once more to close every open session,
within ``DEADLINE`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from rtcstream.reasons import CloseReason

if TYPE_CHECKING:
    from rtcstream.session.lifecycle import Session

logger = logging.getLogger("rtcstream.session")

DEADLINE = 3.0


def install(hook: Callable[[], None]) -> bool:
    """Run ``hook`` at exit before non-daemon threads are joined; False if the interpreter is already exiting."""
    try:
        # The hook concurrent.futures uses for the same reason (a private function: checks.hooks checks it is there).
        threading._register_atexit(hook)  # type: ignore[attr-defined]
    except RuntimeError:
        return False
    return True


def close_sessions(sessions: Collection[Session]) -> None:
    """Close ``sessions``, on their loop if that loop can run again."""
    if not sessions:
        return
    loop = next(iter(sessions)).loop
    if loop.is_closed() or loop.is_running():
        logger.error("%d session(s) still open at exit, and their event loop cannot run to close them", len(sessions))
        return
    logger.info("Closing %d open session(s) before the process exits", len(sessions))

    async def close_all() -> None:
        closing = [s.close_and_wait(CloseReason.SERVER_SHUTDOWN, "The server is shutting down.") for s in sessions]
        try:
            async with asyncio.timeout(DEADLINE):
                await asyncio.gather(*closing, return_exceptions=True)
        except TimeoutError:
            logger.error("Sessions still closing after %g s at exit; the process may wait for their threads", DEADLINE)

    try:
        loop.run_until_complete(close_all())
    except Exception:
        logger.exception("Closing the open sessions at exit failed")

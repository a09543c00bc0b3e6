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

from rtcstream.reasons import CloseReason

logger = logging.getLogger("rtcstream.session")

DEADLINE = 3.0
_installed = False
_lock = threading.Lock()


def install() -> None:
    """Register the exit hook (once per process; sessions call this as they are made)."""
    global _installed
    with _lock:
        if _installed:
            return
        try:
            # The hook concurrent.futures uses for the same reason: it runs before non-daemon threads are joined.
            threading._register_atexit(close_open_sessions)  # type: ignore[attr-defined]
        except RuntimeError:  # the interpreter is already shutting down
            return
        _installed = True


def close_open_sessions() -> None:
    """Close every session still open, on its own loop if that loop can run again."""
    from rtcstream.session.lifecycle import open_sessions

    sessions = open_sessions()
    if not sessions:
        return
    loop = sessions[0].loop
    if loop.is_closed() or loop.is_running():
        logger.error("%d session(s) still open at exit, and their event loop cannot run to close them", len(sessions))
        return
    logger.info("Closing %d open session(s) before the process exits", len(sessions))

    async def close_all() -> None:
        closing = [s.close_now(CloseReason.SERVER_SHUTDOWN, "The server is shutting down.") for s in sessions]
        try:
            async with asyncio.timeout(DEADLINE):
                await asyncio.gather(*closing, return_exceptions=True)
        except TimeoutError:
            logger.error("Sessions still closing after %g s at exit; the process may wait for their threads", DEADLINE)

    try:
        loop.run_until_complete(close_all())
    except Exception:
        logger.exception("Closing the open sessions at exit failed")

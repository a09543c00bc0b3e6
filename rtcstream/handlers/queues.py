"""FastRTC's ``wait_for_item``: an async handler's ``emit`` that waits a little for its queue, never for ever."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["wait_for_item"]


async def wait_for_item(queue: asyncio.Queue[Any], timeout: float = 0.1) -> Any:
    """Return the next item of ``queue``, or None if none came within ``timeout`` seconds.

    An ``AsyncStreamHandler.emit`` that awaits ``queue.get()`` alone would hold
    its session's output until something arrives; with this it returns None
    (nothing to send yet) and is called again.
    """
    try:
        return await asyncio.wait_for(queue.get(), timeout=timeout)
    except TimeoutError:
        return None

"""The bounded thread pool where sync user code runs, never on the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from . import conf

T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


class HandlerTimeout(Exception):
    """A call into sync user code took longer than ``HANDLER_CALL_TIMEOUT``."""


def get_pool() -> ThreadPoolExecutor:
    """Return the process-wide pool (``RTCSTREAM["WORKER_THREADS"]`` threads)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=conf.get("WORKER_THREADS"), thread_name_prefix="rtcstream")
        return _pool


async def run_sync(func: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
    """Run ``func(*args)`` in the pool; raise ``HandlerTimeout`` past ``timeout`` seconds.

    On timeout the thread keeps running (Python cannot kill it), but the caller
    is released and the session can end cleanly.
    """
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(get_pool(), func, *args)
    limit = conf.get("HANDLER_CALL_TIMEOUT") if timeout is None else timeout
    try:
        async with asyncio.timeout(limit):
            return await future
    except TimeoutError:
        name = getattr(func, "__qualname__", repr(func))
        raise HandlerTimeout(f"{name} did not return within {limit:g} s") from None


_DONE = object()


def _next(iterator: Iterator[Any]) -> Any:
    return next(iterator, _DONE)


async def iterate(source: Any) -> AsyncIterator[Any]:
    """Iterate a sync iterator in the pool, one ``next`` per call, or an async one in place."""
    if hasattr(source, "__anext__"):
        async for item in source:
            yield item
        return
    while True:
        item = await run_sync(_next, source)
        if item is _DONE:
            return
        yield item


async def close_generator(source: Any) -> None:
    """Close a sync or async generator, running its cleanup where it belongs."""
    if hasattr(source, "aclose"):
        await source.aclose()
    elif hasattr(source, "close"):
        try:
            await run_sync(source.close)
        except ValueError:
            # "generator already executing": a worker is still inside next() of a
            # cancelled iteration. The generator is dropped and closed when collected.
            pass

"""The bounded thread pool where sync user code runs, never on the event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import AsyncGenerator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from . import conf

T = TypeVar("T")
logger = logging.getLogger("rtcstream.workers")

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


async def _result(future: concurrent.futures.Future[T], name: str, timeout: float | None) -> T:
    limit = conf.get("HANDLER_CALL_TIMEOUT") if timeout is None else timeout
    # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
    # cancellation that races with completion, and a cancelled session would run on.
    try:
        async with asyncio.timeout(limit):
            return await asyncio.wrap_future(future)
    except TimeoutError:
        if future.done() and not future.cancelled():
            raise  # user code's own TimeoutError
        raise HandlerTimeout(f"{name} did not return within {limit:g} s") from None


async def run_sync(func: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
    """Run ``func(*args)`` in the pool; raise ``HandlerTimeout`` past ``timeout`` seconds.

    On timeout the thread keeps running (Python cannot kill it), but the caller
    is released and the session can end cleanly.
    """
    name = getattr(func, "__qualname__", repr(func))
    return await _result(get_pool().submit(func, *args), name, timeout)


_DONE = object()


def _next(iterator: Iterator[Any]) -> Any:
    return next(iterator, _DONE)


def _close_quietly(generator: Any) -> None:
    try:
        generator.close()
    except Exception:
        logger.exception("Closing a generator raised")


def _close_in_pool(generator: Any, in_flight: concurrent.futures.Future[Any] | None) -> None:
    """Close a sync generator in the pool, after its ``next`` in flight (if any) returns.

    Closing it earlier would raise "generator already executing"; the loop never waits for it.
    """
    if not hasattr(generator, "close"):
        return

    def close(_: object = None) -> None:
        try:
            get_pool().submit(_close_quietly, generator)
        except RuntimeError:  # the pool is shut down: the process is exiting
            pass

    if in_flight is not None and not in_flight.done():
        in_flight.add_done_callback(close)
    else:
        close()


async def iterate(source: Any) -> AsyncGenerator[Any, None]:
    """Yield the items of a sync or async iterator, each sync ``next`` in the pool.

    The source is closed when iteration ends, fails or is cancelled; use it as
    ``async with contextlib.aclosing(iterate(source)) as items`` so that this
    happens at once.
    """
    if hasattr(source, "__anext__"):
        try:
            async for item in source:
                yield item
        finally:
            if hasattr(source, "aclose"):
                try:
                    async with asyncio.timeout(1.0):
                        await source.aclose()
                except (Exception, asyncio.CancelledError):
                    logger.debug("Closing an async generator failed", exc_info=True)
        return
    in_flight: concurrent.futures.Future[Any] | None = None
    name = getattr(source, "__qualname__", type(source).__name__)
    try:
        while True:
            in_flight = get_pool().submit(_next, source)
            item = await _result(in_flight, f"next() of {name}", None)
            in_flight = None
            if item is _DONE:
                return
            yield item
    finally:
        _close_in_pool(source, in_flight)

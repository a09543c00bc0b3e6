"""Where sync user code runs: a bounded pool of daemon threads, never the event loop.

``run_sync`` and ``iterate`` are the one way rtcstream calls sync user code,
each call in a copy of the caller's context (context variables, such as the
one behind ``rtcstream.current_session()``, reach the worker thread).
A call whose caller gives up (its session ended) is handed to the runtime's
``Reaper`` (``rtcstream.execution.reaper``): woken if it waits in a queue,
released from the pool if it still runs a moment later; one that takes longer
than ``HANDLER_CALL_TIMEOUT`` is released at once. Either way it holds no slot
another session needs, and a call blocked forever never delays process exit.
Released calls are counted by ``OWNER``, the registry name of the handler
whose session made them (``stuck_calls``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import inspect
import logging
from collections.abc import AsyncGenerator, Callable, Iterator
from typing import Any, TypeVar

from rtcstream import conf
from rtcstream.execution.pool import WorkerPool
from rtcstream.runtime import get_runtime

__all__ = [
    "NO_TIMEOUT",
    "OWNER",
    "HandlerTimeout",
    "WorkerPool",
    "describe",
    "get_pool",
    "iterate",
    "owned_context",
    "run_sync",
    "stuck_calls",
]

T = TypeVar("T")
logger = logging.getLogger("rtcstream.workers")

# ``timeout=NO_TIMEOUT``: the call may wait as long as its session lives (a blocking emit).
NO_TIMEOUT = float("inf")

# Whose code the calls made in this context run: the registry name of a session's handler.
OWNER: contextvars.ContextVar[str | None] = contextvars.ContextVar("rtcstream_owner", default=None)


def owned_context(owner: str) -> contextvars.Context:
    """A context for tasks whose calls into sync user code count as ``owner``'s (pass it to ``create_task``)."""
    context = contextvars.copy_context()
    context.run(OWNER.set, owner)
    return context


class HandlerTimeout(Exception):
    """A call into sync user code took longer than ``HANDLER_CALL_TIMEOUT``."""


def _submit(
    pool: WorkerPool, func: Callable[..., Any], *args: Any, context: contextvars.Context | None = None
) -> concurrent.futures.Future[Any]:
    """Submit ``func(*args)`` to ``pool``, run in a copy of the caller's context (``context``, or the current one).

    As ``asyncio.to_thread`` does: the context variables a session sets for its
    handler's calls (``rtcstream.current_session()``, ``OWNER``) reach sync user
    code in the worker thread, whichever thread runs it.
    """
    context = context if context is not None else contextvars.copy_context()
    return pool.submit(context.run, func, *args, owner=context.get(OWNER))


def get_pool() -> WorkerPool:
    """Return the process's pool (``RTCSTREAM["WORKER_THREADS"]`` threads; ``rtcstream.runtime``)."""
    return get_runtime().pool


def stuck_calls(owner: str) -> int:
    """How many calls of ``owner`` (a handler's registry name) were released as stuck and still run."""
    return get_pool().stuck(owner)


def describe(func: Any) -> str:
    """``module.qualname`` of a function or bound method: how logs name user code."""
    owner = getattr(func, "__self__", None)
    module = getattr(owner if owner is not None else func, "__module__", None) or ""
    qualname = getattr(func, "__qualname__", None) or type(func).__qualname__
    return f"{module}.{qualname}" if module else qualname


async def _result(future: concurrent.futures.Future[T], name: str, timeout: float | None) -> T:
    limit = conf.get("HANDLER_CALL_TIMEOUT") if timeout is None else timeout
    # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
    # cancellation that races with completion, and a cancelled session would run on.
    try:
        async with asyncio.timeout(None if limit == NO_TIMEOUT else limit):
            return await asyncio.wrap_future(future)
    except TimeoutError:
        if future.done() and not future.cancelled():
            raise  # user code's own TimeoutError
        get_runtime().reaper.release(future, name, f"after its {limit:g} s call timeout")
        raise HandlerTimeout(f"{name} did not return within {limit:g} s") from None
    except asyncio.CancelledError:
        # The caller gave up (its session is ending). Not yet started: it never will.
        if not future.cancel() and not future.done():
            get_runtime().reaper.abandon(future, name)
        raise


async def run_sync(func: Callable[..., T], *args: Any, timeout: float | None = None, name: str | None = None) -> T:
    """Run ``func(*args)`` in the pool; raise ``HandlerTimeout`` past ``timeout`` seconds.

    ``timeout`` None means ``HANDLER_CALL_TIMEOUT``; ``NO_TIMEOUT`` means none.
    ``name`` (default: the function's) is what logs and errors call it.
    Python cannot kill a thread: a call that times out, or outlives its
    caller, runs on, released from the pool.
    """
    return await _result(_submit(get_pool(), func, *args), name or describe(func), timeout)


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

    # The caller's context, captured now: the callback below may run in a worker thread.
    context = contextvars.copy_context()

    def close(_: object = None) -> None:
        _submit(get_pool(), _close_quietly, generator, context=context)

    if in_flight is not None and not in_flight.done():
        in_flight.add_done_callback(close)
    else:
        close()


def is_generator_function(func: Any) -> bool:
    """True when calling ``func`` makes a generator or an async generator without running user code.

    Sees through ``functools.wraps`` (``__wrapped__``) and through an object
    whose ``__call__`` is a generator function. Such a callable is called at
    once and iterated with ``iterate``; any other is called in the pool.
    """
    try:
        target = inspect.unwrap(func)
    except ValueError:  # a cycle of __wrapped__
        target = func
    if callable(target) and not isinstance(target, type) and not inspect.isroutine(target):
        target = target.__call__
    return inspect.isgeneratorfunction(target) or inspect.isasyncgenfunction(target)


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
    name = f"next() of {getattr(source, '__qualname__', type(source).__qualname__)}"
    pool = get_pool()
    try:
        while True:
            in_flight = _submit(pool, _next, source)
            item = await _result(in_flight, name, None)
            in_flight = None
            if item is _DONE:
                return
            yield item
    finally:
        _close_in_pool(source, in_flight)

"""The handler classes that keep FastRTC's shapes: ``receive`` / ``emit`` / ``copy``."""

from __future__ import annotations

import asyncio
import inspect
import re
import warnings
from abc import ABC, abstractmethod
from collections.abc import Generator
from typing import Any, Literal, Union

import numpy as np

from rtcstream.execution.origin import site_stacklevel
from rtcstream.handlers.context import HandlerContext
from rtcstream.handlers.results import AdditionalOutputs, CloseStream
from rtcstream.handlers.session_info import SessionInfo
from rtcstream.handlers.webrtc_data import WebRTCData
from rtcstream.media.audio import frame_samples

AudioChunk = Union[tuple[int, np.ndarray], tuple[int, np.ndarray, Literal["mono", "stereo"]]]
EmitType = Union[AudioChunk, AdditionalOutputs, tuple[AudioChunk, AdditionalOutputs], CloseStream, None]
AudioEmitType = EmitType  # FastRTC's name for what ``emit`` returns

INPUT_PLACEHOLDER = "__webrtc_value__"
# What ``send_message`` takes for an event's name; any other text is sent as it is (a ``message``).
EVENT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")


class Sent:
    """What ``send_message`` returns: the message is on its way, and awaiting this waits for nothing.

    FastRTC's ``send_message`` is a coroutine (``await self.send_message(...)``);
    rtcstream's returns at once, from the loop or a worker thread, and may be awaited all the same.
    """

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        yield from ()


def warn_of_frame_size(output_frame_size: int | None, output_sample_rate: int) -> None:
    """Warn that a given ``output_frame_size`` is ignored, unless it is the 20 ms rtcstream sends anyway."""
    if output_frame_size is not None and output_frame_size != frame_samples(output_sample_rate):
        warnings.warn(
            f"output_frame_size={output_frame_size!r} is ignored (FastRTC deprecated it): the output is sent in "
            f"frames of 20 ms, {frame_samples(output_sample_rate)} samples at {output_sample_rate} Hz.",
            UserWarning,
            stacklevel=site_stacklevel(),
        )


class StreamHandlerBase(ABC):
    """State and helpers shared by the sync and async stream handlers.

    One instance is registered in settings; every session works on its own
    ``copy()``. The session binds the copy to a ``HandlerContext`` before the
    first call, so ``latest_args``, ``send_message`` and ``clear_queue`` work
    from ``start_up`` on.
    """

    def __init__(
        self,
        expected_layout: Literal["mono", "stereo"] = "mono",
        output_sample_rate: int = 24000,
        output_frame_size: int | None = None,
        input_sample_rate: int = 48000,
        fps: int = 30,
    ) -> None:
        """FastRTC's signature, in its order; ``output_frame_size`` is ignored, as FastRTC (which deprecated it) does."""
        if expected_layout not in ("mono", "stereo"):
            raise ValueError(f"expected_layout must be 'mono' or 'stereo', not {expected_layout!r}")
        warn_of_frame_size(output_frame_size, output_sample_rate)
        self.expected_layout = expected_layout
        self.output_sample_rate = output_sample_rate
        self.input_sample_rate = input_sample_rate
        self.fps = fps
        self._context: HandlerContext | None = None
        self._text = ""  # the page's last submitted text (latest_args[0].textbox)

    def bind(self, context: HandlerContext) -> None:
        """Attach this copy to its session (called by rtcstream, once); a copy already serving another
        session raises: ``copy()`` must make a new handler for each session, not hand out one it keeps."""
        if self._context is not None and self._context is not context:
            raise RuntimeError(
                f"This {type(self).__name__} already serves session {self._context.session_id}: the entry's "
                "copy() must return a new handler for each session, not one it keeps."
            )
        self._context = context

    @property
    def context(self) -> HandlerContext:
        if self._context is None:
            raise RuntimeError("This handler is not bound to a session yet: use it from receive, emit or start_up.")
        return self._context

    @property
    def inputs(self) -> tuple[Any, ...]:
        """The latest additional input values sent by the page."""
        return self._context.inputs() if self._context is not None else ()

    @property
    def latest_args(self) -> list[Any]:
        """FastRTC's view of the inputs: the stream's value, then the input values.

        The stream's value is a placeholder, or, on an entry with ``"text": True``, a
        ``WebRTCData`` holding the text the page submitted last (FastRTC's textbox variant).
        """
        if self._context is not None and self._context.takes_text:
            return [WebRTCData(webrtc_id=self._context.session_id, textbox=self._text), *self.inputs]
        return [INPUT_PLACEHOLDER, *self.inputs]

    @property
    def session_id(self) -> str | None:
        return self._context.session_id if self._context is not None else None

    @property
    def session_info(self) -> SessionInfo:
        """Whom this session serves: ``user``, ``groups``, ``django_session``, ``endpoint``, ``endpoint_row``.

        The same as ``rtcstream.current_session()``; available from ``start_up`` on.
        """
        return self.context.info

    @property
    def user(self) -> Any:
        """The logged-in user of this session, or an ``AnonymousUser``."""
        return self.session_info.user

    def send_message(self, message: str, /, **data: Any) -> Sent:
        """Send something to the page (safe from any thread); it may be awaited, as FastRTC's may.

        An event name (letters, digits, ``_ . -``, at most 64), with or without keyword ``data``,
        sends an ``event`` (a ``rtcstream:event`` on the page). Any other text, such as
        FastRTC's ``json.dumps({"type": ..., "data": ...})``, is sent as it is: a ``message``
        (a ``rtcstream:message`` on the page), as FastRTC sends it on its data channel.
        """
        if EVENT_NAME.fullmatch(message):
            if self._context is not None:
                self._context.send_event(message, **data)
        elif data:
            raise ValueError(
                f"send_message({message[:40]!r}, ...): an event's name is letters, digits, '_', '.' or '-'"
            )
        else:
            self.send_message_sync(message)
        return Sent()

    def send_message_sync(self, message: str) -> None:
        """Send ``message`` to the page as it is (a ``message``; FastRTC's ``send_message_sync``); safe from any thread."""
        if not isinstance(message, str):
            raise TypeError(f"send_message_sync takes a str, not {type(message).__name__}")
        if self._context is not None:
            self._context.send_raw(message)

    async def fetch_args(self) -> None:
        """Ask the page for its current inputs (``send_input``), without waiting for them."""
        if self._context is not None:
            self._context.ask_for_inputs()

    async def wait_for_args(self, timeout: float | None = None) -> bool:
        """Ask the page for its current inputs and wait for them (FastRTC's ``wait_for_args``).

        True once they arrived (``self.inputs`` and ``latest_args`` hold them); False after
        ``timeout`` seconds (default ``RTCSTREAM["WAIT_FOR_INPUTS_TIMEOUT"]``, 5 s) or when
        the session ends: the last values the page sent stay. The page sends its inputs on
        every change anyway; this is for a handler that must not act on a stale value.
        """
        if self._context is None:
            return False
        return await self._context.wait_for_inputs(timeout)

    def wait_for_args_sync(self, timeout: float | None = None) -> bool:
        """``wait_for_args`` for sync code: a ``StreamHandler``'s methods, which run in the worker pool.

        It blocks its worker thread while it waits, never the event loop: called on the loop it raises.
        """
        context = self._context
        if context is None:
            return False
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is context.loop:
            raise RuntimeError("wait_for_args_sync() would block the event loop: await wait_for_args() there.")
        return asyncio.run_coroutine_threadsafe(context.wait_for_inputs(timeout), context.loop).result()

    def receive_text(self, text: str) -> None:
        """Called when the page submits text (an entry with ``"text": True``).

        As FastRTC does for its textbox: keep it as ``latest_args[0].textbox``, then call
        ``trigger_response()``. Override to act on it otherwise.
        """
        self._text = text
        self.trigger_response()

    def clear_queue(self) -> None:
        """Drop the audio already emitted but not yet played (for barge-in)."""
        if self._context is not None:
            self._context.clear_output()

    def trigger_response(self) -> None:
        """Called when the page sends ``trigger``; override to act on it."""

    def shutdown(self) -> None:
        """Called once when the session ends, whatever the reason, while ``emit`` may still be blocked.

        A sync handler whose ``emit`` blocks until there is output makes it
        return here: put a sentinel in its queue, set its event. (One blocked
        in ``queue.Queue.get()`` is woken without it: rtcstream puts ``None``
        in that queue. Any other wait keeps a thread until it ends.)
        """


class StreamHandler(StreamHandlerBase):
    """A synchronous handler. rtcstream runs its methods in worker threads,
    never on the event loop. As in gradio-webrtc, ``receive`` and ``emit`` may
    run at the same time (share state through something thread-safe, such as
    a ``queue.Queue``); neither ever runs concurrently with itself."""

    @abstractmethod
    def receive(self, frame: tuple[int, np.ndarray]) -> None:
        """Take one input frame: ``(sample_rate, int16 array of shape (1, n))``."""

    @abstractmethod
    def emit(self) -> EmitType:
        """Return the next output, or None when nothing is ready.

        It may block until output is ready (``return self.queue.get()``): it
        has no call timeout. When the session ends, ``shutdown()`` runs beside
        it: make it return there. A call still blocked in ``queue.Queue.get()``
        is woken for you (it gets ``None``); any other that still runs a second
        later is logged and leaves the worker pool. Each blocked ``emit`` holds
        one worker thread while its session lives.
        """

    @abstractmethod
    def copy(self) -> StreamHandler:
        """Return a fresh instance for a new session."""

    def start_up(self) -> Any:
        """Called once when the session's media starts."""


class AsyncStreamHandler(StreamHandlerBase):
    """The async twin of ``StreamHandler``: its methods run on the event loop,
    so they must await rather than block."""

    @abstractmethod
    async def receive(self, frame: tuple[int, np.ndarray]) -> None:
        """Take one input frame: ``(sample_rate, int16 array of shape (1, n))``."""

    @abstractmethod
    async def emit(self) -> EmitType:
        """Return the next output, or None when nothing is ready."""

    @abstractmethod
    def copy(self) -> AsyncStreamHandler:
        """Return a fresh instance for a new session."""

    async def start_up(self) -> Any:
        """Called once when the session's media starts."""

    def shutdown(self) -> Any:
        """As ``StreamHandlerBase.shutdown``; here it may also be ``async def`` (it is awaited)."""

    async def aclose(self) -> None:
        """How rtcstream ends the session's handler: ``shutdown()``, awaited if it is a coroutine.

        A handler that owns tasks overrides this to wait for them (``ReplyOnPause`` waits for its reply).
        """
        result = self.shutdown()
        if inspect.isawaitable(result):
            await result

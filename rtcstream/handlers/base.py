"""The handler classes that keep FastRTC's shapes: ``receive`` / ``emit`` / ``copy``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Literal, Union

import numpy as np

from rtcstream.handlers.context import HandlerContext
from rtcstream.handlers.results import AdditionalOutputs, CloseStream
from rtcstream.handlers.session_info import SessionInfo

AudioChunk = Union[tuple[int, np.ndarray], tuple[int, np.ndarray, Literal["mono", "stereo"]]]
EmitType = Union[AudioChunk, AdditionalOutputs, tuple[AudioChunk, AdditionalOutputs], CloseStream, None]

INPUT_PLACEHOLDER = "__webrtc_value__"


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
        input_sample_rate: int = 48000,
        fps: int = 30,
    ) -> None:
        if expected_layout not in ("mono", "stereo"):
            raise ValueError(f"expected_layout must be 'mono' or 'stereo', not {expected_layout!r}")
        self.expected_layout = expected_layout
        self.output_sample_rate = output_sample_rate
        self.input_sample_rate = input_sample_rate
        self.fps = fps
        self._context: HandlerContext | None = None

    def bind(self, context: HandlerContext) -> None:
        """Attach this copy to its session (called by rtcstream, once)."""
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
        """FastRTC's view of the inputs: a placeholder for the stream, then the values."""
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

    def send_message(self, name: str, **data: Any) -> None:
        """Send an ``event`` message to the page (safe from any thread)."""
        if self._context is not None:
            self._context.send_event(name, **data)

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

"""What a running handler may ask of its session."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rtcstream.handlers.session_info import SessionInfo


class HandlerContext(Protocol):
    """The session's side of a handler: events, output control, the loop.

    Every method is safe to call from the event loop or from a worker thread,
    except ``wait_for_inputs``, a coroutine awaited on the loop.
    """

    @property
    def session_id(self) -> str: ...

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    @property
    def takes_text(self) -> bool:
        """Whether the endpoint's entry says ``"text": True``: the page may submit text to the handler."""

    @property
    def info(self) -> SessionInfo:
        """Whom the session serves: user, groups, Django session, endpoint."""

    def send_event(self, name: str, **data: Any) -> None:
        """Send ``{"type": "event", "name": name, "data": data}`` to the client."""

    def send_raw(self, text: str) -> None:
        """Send ``{"type": "message", "data": text}``: ``text`` as it is (FastRTC's ``send_message``)."""

    def send_warning(self, message: str) -> None:
        """Send ``{"type": "warning", "message": message}``: the page shows it as a warning; the session goes on."""

    def ask_for_inputs(self) -> None:
        """Send ``send_input``: the page answers with an ``inputs`` message of its current values."""

    async def wait_for_inputs(self, timeout: float | None = None) -> bool:
        """Ask for the page's inputs and wait for them: True once they arrived, False after ``timeout``
        seconds (``None``: ``WAIT_FOR_INPUTS_TIMEOUT``) or when the session ends."""

    def clear_output(self) -> None:
        """Drop the audio queued for the client but not yet played (barge-in)."""

    def output_busy(self) -> bool:
        """True while audio the handler produced is queued for the client."""

    def inputs(self) -> tuple[Any, ...]:
        """Return the latest additional input values from the client."""

    def after_playback(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the loop) once the audio queued so far has been sent; a barge-in drops it."""

    def add_transcript(self, role: str, text: str) -> None:
        """Add a line said by ``role`` to the session's transcript, if it is recorded.

        The text of ``AdditionalOutputs`` (strings, and chat messages) is added without it.
        """


# The context of the session whose handler is running (set, with ``CURRENT_SESSION``, in every call
# rtcstream makes into a handler): what ``rtcstream.Warning`` speaks through.
CURRENT_CONTEXT: contextvars.ContextVar[HandlerContext | None] = contextvars.ContextVar(
    "rtcstream_current_context", default=None
)

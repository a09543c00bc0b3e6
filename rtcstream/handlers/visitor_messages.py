"""Words a handler has for its visitor: an error that ends the session, a warning that does not.

FastRTC's names, so its handler code moves with an import change:

- ``raise WebRTCError("...")`` in any handler call ends the session as any
  exception does (``handler_error``, logged with its traceback), but the page
  shows the message as written, where another exception's text is shown only
  under ``DEBUG`` (docs/security.md: a traceback's words can leak);
- ``Warning("...")`` shows the message on the page as a warning and the
  session goes on; safe from any thread rtcstream runs handler code in (and
  threads that copy its context). Outside a session it is logged, since there
  is no page to show it on.
- ``get_current_context()`` is FastRTC's way to the session id: it returns the
  session's ``SessionInfo``, whose ``webrtc_id`` is the id (and which knows the
  user: ``rtcstream.current_session()``).
"""

from __future__ import annotations

import logging

from rtcstream.handlers.context import CURRENT_CONTEXT
from rtcstream.handlers.session_info import SessionInfo, current_session

__all__ = ["Warning", "WebRTCError", "get_current_context"]

logger = logging.getLogger("rtcstream.handlers")

MAX_WARNING_CHARS = 2000  # a warning is a sentence for a person: longer is cut, not sent whole


class WebRTCError(Exception):
    """Raised by a handler: its session ends (``handler_error``) and the page shows ``message`` as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def Warning(message: str = "Warning issued.") -> None:  # noqa: N802 (FastRTC's name, after gradio's gr.Warning)
    """Show ``message`` on the page of the session whose handler calls this, as a warning; the session goes on."""
    text = str(message)[:MAX_WARNING_CHARS]
    context = CURRENT_CONTEXT.get()
    if context is None:
        logger.warning("rtcstream.Warning() outside a session's handler (no page to show it on): %s", text)
        return
    context.send_warning(text)


def get_current_context() -> SessionInfo:
    """Return the running handler's session (``.webrtc_id``: its id); RuntimeError outside one, as FastRTC's."""
    try:
        return current_session()
    except LookupError as exc:
        raise RuntimeError(f"No context found: {exc}") from exc

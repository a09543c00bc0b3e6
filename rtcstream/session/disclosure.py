"""What a page is told when something fails: fixed words and a code; exception text only under DEBUG.

Exceptions raised by user code or by the server's internals (a database error,
a path, a secret in a message) go to the server's log with their traceback. The
page gets a fixed sentence, plus the exception when ``settings.DEBUG`` is on, or
when the exception is one of rtcstream's own descriptions of what a handler did
wrong (``public``), whose words contain no data of the site.
"""

from __future__ import annotations

from django.conf import settings

FIXED_SUFFIX = "The server's log has the details."


def visitor_message(summary: str, exc: BaseException, public: tuple[type[BaseException], ...] = ()) -> str:
    """``summary`` (a sentence ending in a period) and, when it may be shown, what ``exc`` says."""
    if settings.DEBUG or isinstance(exc, public):
        return f"{summary} {type(exc).__name__}: {exc}"
    return f"{summary} {FIXED_SUFFIX}"

"""Run rtcstream's checks in servers that do not run Django's (daphne, uvicorn), and log what they find.

``manage.py runserver`` runs the system checks before serving; ``daphne
mysite.asgi:application`` does not, and a site with no websocket route would
then only say "check your connection" on its pages. The ASGI application is not
complete while Django starts (``asgi.py`` calls ``get_asgi_application()``
before it builds its router), so the checks run once, on the first HTTP request
or websocket, when it is, and each problem goes to the ``rtcstream.checks`` logger
at ERROR or WARNING. (A worker behind a balancer may meet a websocket first: its
pages were served by another worker.)
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from typing import Any

from django.core import checks
from django.core.signals import request_started

from rtcstream.runtime import get_runtime

logger = logging.getLogger("rtcstream.checks")

_lock = threading.Lock()
# Management commands that run Django's checks themselves (this process's command is known at import).
DJANGO_RUNS_THEM = any(command in sys.argv[1:2] for command in ("runserver", "check", "test"))


def run_once() -> list[checks.CheckMessage]:
    """Run the checks tagged ``rtcstream`` unless they ran already; log and return what they found."""
    ran = get_runtime().checks_ran
    with _lock:
        if ran.is_set():
            return []
        ran.set()
    found = [message for message in checks.run_checks(tags=["rtcstream"]) if not message.is_silenced()]
    for message in found:
        level = logging.ERROR if message.is_serious() else logging.WARNING
        logger.log(level, "rtcstream is misconfigured: %s", message)  # the message holds its hint
    return found


def _run_logged(**signal_kwargs: Any) -> None:
    try:
        run_once()
    except Exception:  # a check that crashes must not fail the request or the socket that ran it
        logger.exception("rtcstream's system checks could not run")


async def before_first_socket() -> None:
    """Run the checks (in a thread: they import the sites' handlers and load the voice detector) if this
    process has served nothing yet; a no-op after that, and where Django runs them itself."""
    if not DJANGO_RUNS_THEM and not get_runtime().checks_ran.is_set():
        await asyncio.to_thread(_run_logged)


def install() -> None:
    """Run the checks on the first request or socket, unless this process is a management command that runs them."""
    if not DJANGO_RUNS_THEM:
        request_started.connect(_run_logged, dispatch_uid="rtcstream.checks.startup")

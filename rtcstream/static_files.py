"""Static files (the widget's JS and CSS) served by daphne itself, for a site that is one daphne process.

Django's ``ASGIStaticFilesHandler``, except that a path that climbs out of the
static folders (``/static/../../etc/passwd``) is a plain 404: Django's own
handler lets ``SuspiciousFileOperation`` escape as a 500 with a traceback in
the log, per request, which any visitor can repeat to flood the log.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import SuspiciousFileOperation
from django.core.handlers.exception import response_for_exception
from django.http import Http404

logger = logging.getLogger("rtcstream.static")


class StaticFilesHandler(ASGIStaticFilesHandler):
    """Serve ``STATIC_URL`` from the finders; a path outside the static folders is a 404, logged as one line."""

    async def get_response_async(self, request: Any) -> Any:
        try:
            return await super().get_response_async(request)
        except SuspiciousFileOperation:
            logger.warning("Refused a static path outside the static folders: %r", request.path[:200])
            return await sync_to_async(response_for_exception, thread_sensitive=False)(
                request, Http404("No such static file.")
            )

"""Twilio's incoming-call webhook: check the request is Twilio's, and answer with TwiML that
connects the call to a media stream on the endpoint, with a one-time token in its URL."""

from __future__ import annotations

import logging
from xml.sax.saxutils import quoteattr

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from rtcstream import conf
from rtcstream.endpoints.resolution import get_endpoint, is_allowed
from rtcstream.transports.table import TWILIO
from rtcstream.transports.twilio.signature import valid_signature
from rtcstream.transports.twilio.tokens import make_stream_token

logger = logging.getLogger("rtcstream.twilio")


def stream_url(request: HttpRequest, slug: str, token: str) -> str:
    """The ``wss://`` URL of the call's media stream: ``TWILIO_STREAM_URL``, or the webhook's own host."""
    base = conf.get("TWILIO_STREAM_URL") or f"wss://{request.get_host()}"
    return f"{base.rstrip('/')}/{conf.get('WS_PREFIX').strip('/')}/{slug}/twilio/{token}/"


def twiml(url: str) -> str:
    """Connect the call to a bidirectional media stream at ``url``; the call ends when the stream does."""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url={quoteattr(url)} /></Connect></Response>'
    )


@csrf_exempt  # Twilio's POST carries no CSRF token; its signature is checked instead
@require_http_methods(["GET", "POST"])
def incoming_call(request: HttpRequest, endpoint: str) -> HttpResponse:
    """The webhook of a Twilio number ("A call comes in"): TwiML that streams the call to ``endpoint``."""
    auth_token = conf.get("TWILIO_AUTH_TOKEN")
    if not auth_token:
        logger.warning("A Twilio webhook for %r came, but RTCSTREAM['TWILIO_AUTH_TOKEN'] is not set", endpoint)
        raise Http404("Phone calls are not enabled.")
    params = request.POST if request.method == "POST" else {}
    signature = request.headers.get("X-Twilio-Signature", "")
    if not valid_signature(auth_token, request.build_absolute_uri(), params, signature):
        logger.warning(
            "Refused a Twilio webhook for %r from %s: its X-Twilio-Signature does not match %s (behind a proxy, "
            "check SECURE_PROXY_SSL_HEADER and USE_X_FORWARDED_HOST: the URL must be the one Twilio called)",
            endpoint,
            request.META.get("REMOTE_ADDR"),
            request.build_absolute_uri(),
        )
        return HttpResponseForbidden("The request is not signed by Twilio.")
    found = get_endpoint(endpoint)
    if found is None or not is_allowed(found, None) or not TWILIO.can_serve(found.mode, found.modality):
        raise Http404("No endpoint answers phone calls here.")
    call_sid = (request.POST if request.method == "POST" else request.GET).get("CallSid", "")
    url = stream_url(request, found.slug, make_stream_token(found.slug, call_sid))
    logger.info("Twilio call %s on %r: streaming it to its endpoint", call_sid, found.slug)
    return HttpResponse(twiml(url), content_type="text/xml")

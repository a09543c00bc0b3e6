"""Template tags that put the browser client on a page.

{% load rtcstream %}
{% rtcstream_assets %}
{% webrtc "talk" inputs="#a,#b" trigger="#go" outputs="#transcript" render="chat" label="Talk" %}
"""

from __future__ import annotations

import logging
from typing import Any

from django import template
from django.conf import settings
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.utils.safestring import SafeString

from rtcstream import conf

register = template.Library()
logger = logging.getLogger("rtcstream.templatetags")

# Options the tag passes through to the element; anything else is a typo worth reporting.
# stats_interval=1000 (milliseconds) becomes stats-interval: the element writes getStats() packet
# counts into data-packets-sent / data-packets-received that often while live (off by default).
# text=True puts a text box beside the microphone, for an endpoint whose entry says "text": True.
# transport="auto" (the default), "webrtc" or "websocket": what carries the media (docs/guide.md, "Audio over
# the websocket"); auto falls back from WebRTC to the websocket when WebRTC does not connect.
OPTIONS = (
    "inputs",
    "trigger",
    "outputs",
    "render",
    "label",
    "id",
    "class",
    "autostart",
    "stats_interval",
    "text",
    "transport",
)
TRANSPORT_CHOICES = ("auto", "webrtc", "websocket")


class UnknownEndpoint(template.TemplateSyntaxError):
    """The ``{% webrtc %}`` tag names an endpoint that does not exist or is disabled."""


def known_slugs() -> list[str]:
    """Return the slugs a page may name: enabled admin rows, then registry entries."""
    from rtcstream.endpoints import registry
    from rtcstream.models import StreamEndpoint

    slugs = set(registry.handler_names())
    try:
        rows = StreamEndpoint.objects.values_list("slug", "enabled")
        slugs |= {slug for slug, enabled in rows if enabled}
        slugs -= {slug for slug, enabled in rows if not enabled}
    except Exception:  # the table may not be migrated yet; the registry still helps
        logger.debug("Could not read StreamEndpoint rows", exc_info=True)
    return sorted(slugs)


@register.simple_tag
def rtcstream_assets() -> SafeString:
    """Render the client's stylesheet and ES module (no build step, no CDN)."""
    return SafeString(
        render_to_string(
            "rtcstream/assets.html",
            {"css": static("rtcstream/rtcstream.css"), "js": static("rtcstream/rtcstream.js")},
        )
    )


def _lookup(slug: str) -> Any:
    from rtcstream.endpoints.resolution import get_endpoint

    try:
        return get_endpoint(slug), None
    except Exception as exc:  # e.g. a RegistryError: the handler cannot be imported
        return None, exc


@register.simple_tag
def webrtc(endpoint: str, **options: Any) -> SafeString:
    """Render the ``<rtc-stream>`` widget for ``endpoint``'s mode and modality.

    An unknown endpoint raises ``UnknownEndpoint`` under DEBUG; otherwise it
    renders a harmless placeholder and logs an error, so one broken widget does
    not take the whole page down in production.
    """
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise template.TemplateSyntaxError(f"{{% webrtc %}} got unknown options {unknown}; allowed: {list(OPTIONS)}.")
    slug = str(endpoint)
    found, error = _lookup(slug)
    if found is None:
        reason = f"it cannot be loaded: {error}" if error else "no enabled endpoint has this slug"
        message = f"{{% webrtc {slug!r} %}}: {reason}. Known endpoints: {', '.join(known_slugs()) or '(none)'}."
        if settings.DEBUG:
            raise UnknownEndpoint(message)
        logger.error(message)
        return SafeString(render_to_string("rtcstream/unavailable.html", {"slug": slug}))
    if options.get("text") and not found.spec.text:
        message = (
            f"{{% webrtc {slug!r} text=True %}}: the endpoint takes no text; "
            f"its entry in RTCSTREAM['HANDLERS'] needs \"text\": True (and a kind that takes text)."
        )
        if settings.DEBUG:
            raise template.TemplateSyntaxError(message)
        logger.error(message)
        options = {**options, "text": False}  # the stream works; the box would only be refused
    options = _check_transport(slug, found, options)
    fields = _fields(found, options)
    if fields is not None:
        options = {**fields.options, **options}  # the template's own inputs/outputs/render win
    context = {
        "endpoint": found,
        "ws_path": f"/{conf.get('WS_PREFIX').strip('/')}/{found.slug}/",
        "label": options.get("label") or found.label,
        "options": options,
        "script_url": static("rtcstream/rtcstream.js"),
        "fields": fields,
    }
    return SafeString(render_to_string("rtcstream/stream.html" if fields else "rtcstream/widget.html", context))


def _check_transport(slug: str, found: Any, options: dict[str, Any]) -> dict[str, Any]:
    """A ``transport`` the tag cannot use is an error under DEBUG; otherwise logged, and the widget uses auto."""
    from rtcstream.transports.table import WEBSOCKET

    transport = options.get("transport")
    if transport is None:
        return options
    if transport not in TRANSPORT_CHOICES:
        problem = f"transport={transport!r} is not one of {list(TRANSPORT_CHOICES)}"
    elif transport == "websocket" and not WEBSOCKET.can_serve(found.mode, found.modality):
        problem = (
            f"transport='websocket' carries audio only (modes send-receive and send), not {found.mode} {found.modality}"
        )
    else:
        return options
    if settings.DEBUG:
        raise template.TemplateSyntaxError(f"{{% webrtc {slug!r} %}}: {problem}.")
    logger.error("{%% webrtc %r %%}: %s; the widget chooses by itself (auto).", slug, problem)
    return {key: value for key, value in options.items() if key != "transport"}


def _fields(found: Any, options: dict[str, Any]) -> Any:
    """The entry's components (a FastRTC Stream's additional_inputs/outputs) to render beside the widget,
    except those the template wires itself (its own ``inputs`` or ``outputs``)."""
    from rtcstream.components import page_fields

    spec = found.spec
    inputs = () if "inputs" in options else spec.page_inputs
    outputs = () if "outputs" in options else spec.page_outputs
    if not inputs and not outputs:
        return None
    return page_fields(inputs, outputs, str(options.get("id") or f"rtcs-{found.slug}"))

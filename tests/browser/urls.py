"""Test-only pages of the browser suite, served beside the demo site (tests/settings.py's ROOT_URLCONF).

/test-pages/widget/<slug>/ holds the ``{% webrtc slug %}`` widget alone on a page, rendered by
the template tags themselves; query parameters become the tag's options
(``?stats_interval=200`` is ``{% webrtc slug stats_interval="200" %}``), and ``?csp=1`` serves
the page under STRICT_CSP.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.utils.html import escape

from rtcstream.templatetags.rtcstream import OPTIONS, rtcstream_assets, webrtc

# What the widget needs, and nothing more: its module and stylesheet from the site, and its
# websockets to the site ('self' covers ws: and wss: on the page's host and port). No inline
# script or style, no eval; media arrives by WebRTC, which CSP does not govern.
STRICT_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'"
)

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{slug}</title>
  {assets}
</head>
<body>
  <main>{widget}</main>
</body>
</html>
"""


def widget_page(request: HttpRequest, slug: str) -> HttpResponse:
    options = {name: value for name, value in request.GET.items() if name in OPTIONS}
    response = HttpResponse(PAGE.format(slug=escape(slug), assets=rtcstream_assets(), widget=webrtc(slug, **options)))
    if request.GET.get("csp"):
        response["Content-Security-Policy"] = STRICT_CSP
    return response


urlpatterns = [
    path("test-pages/widget/<slug:slug>/", widget_page),
    path("", include("rtcproject.urls")),
]

"""The metrics view, for Prometheus to scrape: mount it in the site's urls.py (docs/deploy.md).

    from rtcstream.operations.views import metrics
    urlpatterns = [..., path("metrics/", metrics)]

Only clients in ``RTCSTREAM["METRICS_ALLOWED_NETWORKS"]`` (loopback by default),
or sending ``Authorization: Bearer <RTCSTREAM["METRICS_TOKEN"]>``, may read it;
anyone else gets 403. The address is the request's ``REMOTE_ADDR``: behind a
proxy, that is the proxy's, so do not route the metrics path through a public
proxy without the token.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from rtcstream import conf
from rtcstream.operations.metrics import CONTENT_TYPE
from rtcstream.runtime import get_runtime

NOT_INSTALLED = "rtcstream's metrics need prometheus_client: pip install 'rtcstream[metrics]'\n"


def scrape_allowed(request: HttpRequest) -> bool:
    """Whether ``request`` comes from an allowed network or carries the metrics token."""
    token = conf.get("METRICS_TOKEN")
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(), str(token).encode()):
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in conf.get("METRICS_ALLOWED_NETWORKS"))


@require_GET
async def metrics(request: HttpRequest) -> HttpResponse:
    """This process's metrics (or, in multiprocess mode, every worker's) in Prometheus' text format."""
    if not scrape_allowed(request):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    runtime = get_runtime()
    runtime.serving()
    measured = runtime.metrics
    if not measured.available:
        return HttpResponse(NOT_INSTALLED, status=501, content_type="text/plain")
    measured.sample(runtime)
    # Off the loop: rendering takes milliseconds (more in multiprocess mode, which reads every worker's files).
    return HttpResponse(await asyncio.to_thread(measured.exposition), content_type=CONTENT_TYPE)

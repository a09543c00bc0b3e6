"""rtcstream's websocket routes, to mount under Channels' URLRouter."""

from django.urls import re_path

from . import conf, consumers


def _prefix() -> str:
    return conf.get("WS_PREFIX").strip("/")


websocket_urlpatterns = [
    re_path(rf"^{_prefix()}/outputs/(?P<token>[^/]{{1,400}})/$", consumers.OutputsConsumer.as_asgi()),
    re_path(rf"^{_prefix()}/(?P<endpoint>[-a-zA-Z0-9_]+)/$", consumers.SignallingConsumer.as_asgi()),
]

"""rtcstream's websocket routes, to mount under Channels' URLRouter.

``websocket_urlpatterns`` ends with a route that refuses (close code 4404) any
other path under the prefix; append ``catch_all`` to a project's own patterns
to refuse every unknown path the same way, instead of an HTTP 500 and a traceback.
"""

from django.urls import re_path

from rtcstream import conf
from rtcstream.signalling import consumers


def _prefix() -> str:
    return conf.get("WS_PREFIX").strip("/")


websocket_urlpatterns = [
    re_path(rf"^{_prefix()}/outputs/(?P<token>[^/]{{1,400}})/$", consumers.OutputsConsumer.as_asgi()),
    re_path(rf"^{_prefix()}/(?P<endpoint>[-a-zA-Z0-9_]+)/$", consumers.SignallingConsumer.as_asgi()),
    re_path(rf"^{_prefix()}/", consumers.UnknownPathConsumer.as_asgi()),
]

# Refuses every path: the last pattern of a project's websocket router.
catch_all = re_path(r"", consumers.UnknownPathConsumer.as_asgi())

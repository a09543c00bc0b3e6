"""ASGI entry point of the demo site: HTTP through Django, websockets through rtcstream."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rtcproject.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (Django must be set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from rtcstream.signalling.middleware import ClientLimits, HostValidator  # noqa: E402
from rtcstream.signalling.routing import catch_all, websocket_urlpatterns  # noqa: E402
from rtcstream.static_files import StaticFilesHandler  # noqa: E402
from rtcstream.transports.twilio.routing import TwilioStreams  # noqa: E402

application = ProtocolTypeRouter(
    {
        # The demo serves its own static files so that one daphne process is the whole site.
        "http": StaticFilesHandler(django_asgi_app),
        # Twilio's media streams (phone calls) carry no Origin: TwilioStreams routes them
        # past the Origin check; a signed one-time token in their URL admits them instead.
        "websocket": HostValidator(
            TwilioStreams(
                AllowedHostsOriginValidator(
                    AuthMiddlewareStack(ClientLimits(URLRouter([*websocket_urlpatterns, catch_all])))
                )
            )
        ),
    }
)

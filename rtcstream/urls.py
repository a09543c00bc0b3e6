"""rtcstream's HTTP routes: Twilio's incoming-call webhook. A site includes them under a prefix::

path("rtcstream/", include("rtcstream.urls")),   # Twilio's webhook: https://host/rtcstream/twilio/<endpoint>/
"""

from django.urls import path

from rtcstream.transports.twilio.views import incoming_call

urlpatterns = [
    path("twilio/<slug:endpoint>/", incoming_call, name="rtcstream-twilio-incoming"),
]

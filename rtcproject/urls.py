from django.contrib import admin
from django.urls import include, path

from rtcstream.operations.views import metrics

urlpatterns = [
    path("admin/", admin.site.urls),
    path("rtcstream/", include("rtcstream.urls")),  # Twilio's incoming-call webhook
    path("accounts/", include("django.contrib.auth.urls")),  # the demo's login page
    path("metrics/", metrics),  # Prometheus scrapes it (docs/deploy.md); loopback or METRICS_TOKEN only
    path("", include("rtcproject.pages")),
]

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("rtcstream/", include("rtcstream.urls")),  # Twilio's incoming-call webhook
    path("accounts/", include("django.contrib.auth.urls")),  # the demo's login page
    path("", include("rtcproject.pages")),
]
